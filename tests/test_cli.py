"""The CLI in-process: exit codes and output (docs/style.md rule 13)."""

import json

import pytest

from edgeledger.cli import main


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_demo_writes_results_folder_and_chain_show_reads_it(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = cli(capsys, "demo", "--out", str(out), "--set", "fl.rounds=2", "--quiet")
    assert code == 0 and f"results: {out}" in stdout.replace("\n", "")
    for name in ("scenario.toml", "metrics.csv", "summary.json", "chain/demo-fl.json", "plots/accuracy.png",
                 "plots/traffic.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds_completed"] == 2
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "time,round,node,metric,value"
    code, stdout, _ = cli(capsys, "chain", "show", str(out))
    assert code == 0 and "fl.round_open" in stdout
    code, stdout, _ = cli(capsys, "chain", "show", str(out), "--block", "1")
    block = json.loads(stdout)
    assert block["index"] == 1 and len(block["commit_certificate"]["votes"]) >= 3
    assert block["transactions"][0]["payload"]["round"] == 1


def test_write_scenario_then_run_it(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    code, _, _ = cli(capsys, "demo", "--write-scenario", str(path))
    assert code == 0 and "aggregator" in path.read_text() and "#" in path.read_text()
    code, stdout, _ = cli(capsys, "run", str(path), "--set", "fl.rounds=1", "--seed", "3", "--quiet",
                          "--out", str(tmp_path / "r"))
    assert code == 0
    assert "seed = 3" in (tmp_path / "r" / "scenario.toml").read_text()


@pytest.mark.parametrize("override, expected", [
    ("fl.roundz=3", "fl.roundz: unknown key"),
    ("fl.rounds=\"many\"", "fl.rounds: got 'many'; expected input should be a valid integer"),
    ("topology.edges=2", "n=3 PBFT validators; PBFT needs n >= 3f+1"),
    ("attacks=[{kind=\"sign_flip\", nodes=[\"device-99\"]}]", "attacks.0.nodes: 'device-99' is not a device"),
    ("attacks=[{kind=\"sign_flip\", fraction=1.5}]", "attacks.0.fraction: got 1.5"),
    ("attacks=[{kind=\"teleport\", fraction=0.1}]", "attacks.0.kind: 'teleport' is not a registered attack"),
    ("fl.aggregator=\"krum2\"", "fl.aggregator: 'krum2' is not a registered aggregator; did you mean 'krum'"),
    ("fl.clients_per_round=13", "fl.clients_per_round=13 exceeds the 12 devices"),
])
def test_bad_scenarios_exit_2_with_one_clear_line(tmp_path, capsys, override, expected):
    code, _, err = cli(capsys, "demo", "--set", override, "--quiet", "--out", str(tmp_path / "x"))
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


def test_missing_scenario_file_and_bad_results_dir_exit_2(tmp_path, capsys):
    code, _, err = cli(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err
    code, _, err = cli(capsys, "chain", "show", str(tmp_path))
    assert code == 2 and "is not a results folder" in err


def test_a_scenario_plugin_that_cannot_be_imported_is_a_clear_error(tmp_path, capsys):
    code, _, err = cli(capsys, "demo", "--set", "plugins=[\"no_such_module_xyz\"]", "--quiet", "--out", str(tmp_path / "x"))
    assert code == 2 and "plugins: cannot import 'no_such_module_xyz'" in err


def test_scenario_plugins_are_imported_before_the_network_is_built(tmp_path, monkeypatch, capsys):
    import sys

    (tmp_path / "my_plugin.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, _ = cli(capsys, "demo", "--set", "plugins=[\"my_plugin\"]", "--set", "fl.rounds=1", "--quiet",
                     "--out", str(tmp_path / "r"))
    assert code == 0 and sys.modules["my_plugin"].LOADED
