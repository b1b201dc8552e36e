"""Experiments: discovery, the FBFL/Pedal grids, quick runs with results and plots, the CLI."""

import csv
import json
import time

import pytest

from edgeledger.cli import main
from edgeledger.errors import ConfigError
from edgeledger.scenario.experiment_run import merge_runs, rounds_to, run_experiment, select_settings
from edgeledger.scenario.experiments import discover, find_experiment, load_experiment

TINY = """
[experiment]
name = "tiny"
description = "two aggregators on digits"
base = "base.toml"
set = ["fl.rounds=2"]
quick = ["fl.local_epochs=1"]
target_accuracy = 0.5

[[experiment.axes]]
name = "aggregator"
values = [
  { label = "fedavg", set = ['fl.aggregator="fedavg"'] },
  { label = "median", set = ['fl.aggregator="median"'] },
  { label = "not yet", set = ['fl.aggregator="no_such_rule"'] },
]
"""

BASE = """
name = "tiny"
seed = 5
[topology]
edges = 3
devices_per_edge = 2
[fl]
dataset = "digits"
model = "mlp"
clients_per_round = 6
local_epochs = 2
executor = "batched"
"""


@pytest.fixture()
def tiny_root(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "base.toml").write_text(BASE)
    (tmp_path / "set" / "tiny.toml").write_text(TINY)
    return tmp_path


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_shipped_experiments_cover_fbfl_pedal_and_the_anchor():
    names = {e.name for e in discover()}
    assert {"fbfl-clients", "fbfl-epochs", "fbfl-partition", "fbfl-selection", "fbfl-attacks",
            "pedal-random-params", "mnist-anchor"} <= names
    attacks = find_experiment("fbfl-attacks")
    labels = [s.label for s in attacks.settings()]
    assert len(labels) == 16 and "sign_flip / krum" in labels and "label_flip / median" in labels
    clients = find_experiment("fbfl-clients")
    assert [clients.scenario(s).topology.n_devices for s in clients.settings()] == [5, 10, 20]


def test_pedal_full_settings_follow_the_paper():
    exp = find_experiment("pedal-random-params")
    settings = exp.settings()
    assert len(settings) == 2 * 4 * 3
    sc = exp.scenario(settings[-1])  # non-IID / 30% / fedavg
    assert (sc.topology.n_devices, sc.fl.clients_per_round, sc.fl.local_epochs, sc.fl.rounds) == (100, 10, 5, 30)
    assert sc.fl.partition == "shards" and sc.fl.dataset == "mnist"  # 100 clients x 2 shards = 200 shards
    assert sc.attacks[0].kind == "free_riding" and sc.attacks[0].fraction == 0.3
    assert sc.attacks[0].params == {"mode": "random"}


def test_quick_shrinks_the_run_but_keeps_what_the_setting_varies():
    exp = find_experiment("fbfl-clients")
    twenty = exp.settings()[2]
    quick = exp.scenario(twenty, quick=True)
    assert quick.fl.dataset == "digits" and quick.topology.n_devices == 20
    assert exp.scenario(twenty).fl.dataset == "mnist"


def test_files_without_an_experiment_table_are_scenarios_not_experiments(tiny_root):
    assert load_experiment(tiny_root / "set" / "base.toml") is None
    assert [e.name for e in discover(tiny_root)] == ["tiny"]
    with pytest.raises(ConfigError, match="unknown experiment 'nope'.*tiny"):
        find_experiment("nope", tiny_root)


def test_bad_experiment_keys_are_named(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x.toml").write_text('[experiment]\nplot = "accuracy"\n')
    with pytest.raises(ConfigError, match="unknown key.*plot"):
        discover(tmp_path)


def test_run_writes_every_setting_a_combined_table_and_plots(tiny_root, tmp_path):
    exp = find_experiment("tiny", tiny_root)
    result = run_experiment(exp, tmp_path / "out", quick=True)
    status = {r.label: r.status for r in result.settings}
    assert status == {"fedavg": "done", "median": "done", "not yet": "pending"}
    done = [r for r in result.settings if r.status == "done"]
    assert all(len(r.accuracy) == 2 and r.final_accuracy > 0.3 for r in done)
    out = tmp_path / "out"
    for name in ("rounds.csv", "summary.csv", "summary.json", "plots/accuracy.png", "plots/loss.png",
                 "settings/fedavg/metrics.csv", "settings/median/summary.json"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "rounds.csv")))
    assert [r["setting"] for r in rows] == ["fedavg", "fedavg", "median", "median"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True and "rounds_to_target" in summary["settings"][0]
    md = (out / "summary.md").read_text()
    assert md.startswith("tiny (quick): final test accuracy; one run per setting")
    assert "| setting | final accuracy | final loss | rounds | rejected updates | runs | rounds to target |" in md
    assert f"| fedavg | {done[0].final_accuracy:.4f} | {done[0].final_loss:.4f} | 2 | 0 | 1 |" in md
    assert "| not yet | pending | — | — | — | — | — |" in md
    assert "no_such_rule" in summary["settings"][2]["reason"]


def test_same_seed_gives_the_same_experiment_results(tiny_root, tmp_path):
    exp = find_experiment("tiny", tiny_root)
    a = run_experiment(exp, tmp_path / "a", quick=True, only="fedavg")
    b = run_experiment(exp, tmp_path / "b", quick=True, only="fedavg")
    assert a.settings[0].head_hash == b.settings[0].head_hash
    assert a.settings[0].accuracy == b.settings[0].accuracy


def test_only_picks_exact_labels_before_substrings_and_names_unknown_ones():
    settings = find_experiment("pedal-random-params").settings()
    pick = lambda only: [s.label for s in select_settings(settings, only)]  # noqa: E731
    assert pick("IID / 30% / pedal") == ["IID / 30% / pedal"]  # not also "non-IID / 30% / pedal"
    assert pick("non-IID / 30%") == ["non-IID / 30% / pedal", "non-IID / 30% / proof_of_learning",
                                     "non-IID / 30% / fedavg"]
    assert pick("IID / 0% / fedavg | non-iid / 0% / FEDAVG") == ["IID / 0% / fedavg", "non-IID / 0% / fedavg"]
    assert len(pick(None)) == 24
    with pytest.raises(ConfigError, match="no setting matches 'krum'"):
        select_settings(settings, "krum")


GRID = """
[experiment]
name = "grid"
base = "base.toml"
set = ["fl.rounds=1"]

[[experiment.axes]]
name = "partition"
values = [{ label = "IID", set = ['fl.partition="iid"'] }, { label = "shards", set = ['fl.partition="shards"'] }]

[[experiment.axes]]
name = "aggregator"
values = [{ label = "fedavg", set = ['fl.aggregator="fedavg"'] }, { label = "median", set = ['fl.aggregator="median"'] }]
"""


def test_merge_joins_parts_of_a_grid_in_grid_order_with_their_folders(tiny_root, tmp_path, capsys):
    (tiny_root / "set" / "grid.toml").write_text(GRID)
    exp = find_experiment("grid", tiny_root)
    whole = run_experiment(exp, tmp_path / "whole", quick=True)
    part_b = run_experiment(exp, tmp_path / "b", quick=True, only="shards")  # run out of order
    part_a = run_experiment(exp, tmp_path / "a", quick=True, only="IID")
    assert len(part_a.settings) == len(part_b.settings) == 2
    code, out, _ = cli(capsys, "experiment", "merge", str(tmp_path / "b"), str(tmp_path / "a"),
                       "--out", str(tmp_path / "merged"), "--dir", str(tiny_root))
    assert code == 0 and "merged 4 of 4 settings from 2 folder(s)" in out
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert [r["setting"] for r in merged["settings"]] == [s.label for s in exp.settings()]
    assert [c["accuracy"] for c in merged["curves"]] == [r.accuracy for r in whole.settings]  # deterministic
    assert [r["head_hash"] for r in merged["settings"]] == [r.head_hash for r in whole.settings]
    for name in ("settings/shards-median/metrics.csv", "settings/iid-fedavg/summary.json", "rounds.csv",
                 "plots/accuracy.png", "plots/final_accuracy.png"):
        assert (tmp_path / "merged" / name).exists(), name
    md = (tmp_path / "merged" / "summary.md").read_text().splitlines()
    acc = {r.label: f"{r.final_accuracy:.4f}" for r in whole.settings}
    assert md[0] == "grid (quick): final test accuracy; one run per setting"
    assert md[2:] == ["| partition | fedavg | median |", "| --- | --- | --- |",
                      f"| IID | {acc['IID / fedavg']} | {acc['IID / median']} |",
                      f"| shards | {acc['shards / fedavg']} | {acc['shards / median']} |"]
    assert "| IID | — | — |" in (tmp_path / "b" / "summary.md").read_text()  # b ran the shards row only
    # an interrupted run left only its setting folders: they are read from their metrics
    (tmp_path / "b" / "summary.json").unlink()
    again = merge_runs([tmp_path / "a", tmp_path / "b" / "settings" / "shards-fedavg", tmp_path / "b"],
                       tmp_path / "merged2", tiny_root)
    assert [(r.label, r.accuracy, r.loss, r.head_hash) for r in again.settings] == [
        (r.label, r.accuracy, r.loss, r.head_hash) for r in whole.settings]
    run_experiment(find_experiment("tiny", tiny_root), tmp_path / "other", quick=True, only="fedavg")
    with pytest.raises(ConfigError, match="only runs of one experiment at one size merge"):
        merge_runs([tmp_path / "a", tmp_path / "other"], tmp_path / "bad", tiny_root)
    with pytest.raises(ConfigError, match="is not a folder"):
        merge_runs([tmp_path / "a" / "summary.csv"], tmp_path / "bad", tiny_root)
    with pytest.raises(ConfigError, match="nothing does not exist"):
        merge_runs([tmp_path / "a", tmp_path / "nothing"], tmp_path / "bad", tiny_root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a results folder"):
        merge_runs([tmp_path / "a", tmp_path / "empty"], tmp_path / "bad", tiny_root)


def test_set_overrides_every_setting_and_is_recorded(tiny_root, tmp_path, capsys):
    code, out, _ = cli(capsys, "experiment", "run", "tiny", "--quick", "--dir", str(tiny_root), "--only", "fedavg",
                       "--out", str(tmp_path / "run"), "--set", "fl.rounds=1", "--set", 'fl.executor="sequential"')
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["settings"][0]["rounds"] == 1  # the experiment's own set says 2
    assert summary["settings"][0]["overrides"] == 'fl.rounds=1 fl.executor="sequential"'
    assert summary["curves"][0]["overrides"] == ["fl.rounds=1", 'fl.executor="sequential"']
    code, _, err = cli(capsys, "experiment", "run", "tiny", "--quick", "--dir", str(tiny_root),
                       "--out", str(tmp_path / "bad"), "--set", "fl.rouns=1")
    assert code == 2 and "fl.rouns" in err and not (tmp_path / "bad" / "settings").exists()


def test_resume_keeps_finished_settings_and_runs_the_rest(tiny_root, tmp_path, capsys):
    exp = find_experiment("tiny", tiny_root)
    out = tmp_path / "run"
    first = run_experiment(exp, out, quick=True, only="fedavg")
    seen = []
    again = run_experiment(exp, out, quick=True, resume=True, progress=lambda i, n, r: seen.append(r.wall_s))
    assert [r.label for r in again.settings] == ["fedavg", "median", "not yet"]
    assert again.settings[0] == first.settings[0]  # taken from the summary, not run again
    assert again.settings[1].status == "done" and again.settings[1].head_hash
    # a resumed subset keeps the earlier settings in the folder's summary
    third = run_experiment(exp, out, quick=True, resume=True, only="median")
    assert [r.label for r in third.settings] == ["fedavg", "median"]  # pending ones are not "done"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["setting"] for r in summary["settings"]] == ["fedavg", "median"]
    # other overrides are another run: nothing is kept
    changed = run_experiment(exp, out, quick=True, resume=True, only="fedavg", overrides=("fl.rounds=1",))
    assert changed.settings[0].rounds == [1]
    code, _, err = cli(capsys, "experiment", "run", "tiny", "--quick", "--dir", str(tiny_root), "--resume")
    assert code == 2 and "--resume needs --out" in err
    (tiny_root / "set" / "grid.toml").write_text(GRID)
    code, _, err = cli(capsys, "experiment", "run", "grid", "--quick", "--dir", str(tiny_root), "--resume",
                       "--out", str(out))
    assert code == 2 and "cannot resume 'grid' (quick)" in err and "holds 'tiny'" in err


def test_rounds_to_target():
    assert rounds_to([0.5, 0.96, 0.97, 0.98], 0.97) == 3
    assert rounds_to([0.5, 0.6], 0.97) is None


def test_cli_lists_and_runs_an_experiment(tiny_root, tmp_path, capsys):
    code, out, _ = cli(capsys, "experiment", "list", "--dir", str(tiny_root))
    assert code == 0 and "tiny" in out and "two aggregators on digits" in out and "(1 pending)" in out
    code, out, _ = cli(capsys, "experiment", "run", "tiny", "--quick", "--dir", str(tiny_root),
                       "--out", str(tmp_path / "run"), "--only", "fedavg")
    assert code == 0 and "final accuracy per setting" in out and "fedavg" in out
    assert (tmp_path / "run" / "plots" / "accuracy.png").exists()
    code, _, err = cli(capsys, "experiment", "run", "missing", "--dir", str(tiny_root))
    assert code == 2 and "ConfigError: unknown experiment 'missing'" in err


@pytest.mark.slow
def test_mnist_anchor_quick_learns_mnist_within_a_minute(tmp_path):
    """The anchor's CI variant (slow-reduced): MNIST, 100 clients, C=0.1, 2 rounds of E=1."""
    exp = find_experiment("mnist-anchor")
    t0 = time.perf_counter()
    result = run_experiment(exp, tmp_path, quick=True)
    elapsed = time.perf_counter() - t0
    (r,) = result.settings
    assert r.status == "done" and r.final_accuracy > 0.8
    assert elapsed < 90  # < 60 s on an idle 2-core box; slack for a shared one
