"""Repeated runs: seeds derived from the base seed, mean ± std in every table, bands in the plots."""

import csv
import json
import statistics

import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.experiment_run import merge_runs, run_experiment
from edgeledger.scenario.experiments import discover, find_experiment
from edgeledger.scenario.repeats import curve_band, format_pm, mean_std, repeat_seeds
from tests.scenario.test_experiments import BASE

REPEATED = """
[experiment]
name = "repeated"
base = "base.toml"
set = ["fl.rounds=2", "fl.local_epochs=1"]
repeats = 3
quick_repeats = 2

[[experiment.axes]]
name = "aggregator"
values = [{ label = "fedavg", set = ['fl.aggregator="fedavg"'] }, { label = "median", set = ['fl.aggregator="median"'] }]
"""


@pytest.fixture()
def root(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "base.toml").write_text(BASE)
    (tmp_path / "set" / "repeated.toml").write_text(REPEATED)
    return tmp_path


def test_repeat_seeds_keep_the_base_seed_first_and_derive_the_rest():
    seeds = repeat_seeds(5, 4)
    assert seeds[0] == 5 and len(set(seeds)) == 4 and seeds == repeat_seeds(5, 4)
    assert repeat_seeds(6, 2)[1] != seeds[1] and all(0 <= s < 2**31 for s in seeds)
    with pytest.raises(ConfigError, match="repeats"):
        repeat_seeds(5, 0)


def test_mean_std_is_the_sample_standard_deviation_and_skips_missing_values():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)
    assert mean_std([0.5, None, float("nan")]) == (0.5, 0.0, 1)
    assert mean_std([]) == (None, None, 0)
    assert format_pm([0.9, 0.92]) == f"0.9100 ± {statistics.stdev([0.9, 0.92]):.4f}" and format_pm([0.9]) == "0.9000"
    assert curve_band([{1: 1.0, 2: 2.0}, {1: 3.0}]) == ([1], [2.0], [pytest.approx(2 ** 0.5)])


def test_an_experiment_with_repeats_runs_each_setting_per_seed_and_reports_mean_and_std(root, tmp_path):
    exp = find_experiment("repeated", root)
    assert (exp.repeats, exp.repeats_for(True)) == (3, 2)
    result = run_experiment(exp, tmp_path / "out", quick=True)
    out = tmp_path / "out"
    for r in result.settings:
        assert r.status == "done" and r.repeats == 2 and r.seeds == repeat_seeds(5, 2)
        finals = [run["final_accuracy"] for run in r.runs]
        assert len(set(finals)) == 2 or r.runs[0]["head_hash"] != r.runs[1]["head_hash"]  # another draw
        assert r.final_accuracy == pytest.approx(statistics.mean(finals))
        assert r.final_accuracy_std == pytest.approx(statistics.stdev(finals))
        assert r.accuracy[-1] == pytest.approx(r.final_accuracy) and len(r.accuracy_std) == 2
        for i in range(2):
            assert (out / "settings" / r.slug / f"run-{i}" / "metrics.csv").exists()
    runs = list(csv.DictReader(open(out / "runs.csv")))
    assert [(row["setting"], row["run"]) for row in runs] == [("fedavg", "0"), ("fedavg", "1"), ("median", "0"),
                                                              ("median", "1")]
    md = (out / "summary.md").read_text()
    fedavg = result.settings[0]
    assert "mean ± std over 2 runs per setting" in md
    assert f"| fedavg | {fedavg.final_accuracy:.4f} ± {fedavg.final_accuracy_std:.4f} |" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["repeats"] == 2 and summary["settings"][0]["runs"] == 2
    assert (out / "plots" / "accuracy.png").exists()
    # an interrupted run leaves its setting folders only: merge reads every run of each setting
    (out / "summary.json").unlink()
    merged = merge_runs([out], tmp_path / "merged", root)
    assert [r.final_accuracy for r in merged.settings] == pytest.approx([r.final_accuracy for r in result.settings])
    assert [r.repeats for r in merged.settings] == [2, 2]


def test_repeats_must_be_a_small_positive_integer(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x.toml").write_text('[experiment]\nrepeats = 0\n')
    with pytest.raises(ConfigError, match="experiment.repeats: got 0; expected an integer in"):
        discover(tmp_path)


def test_resume_keeps_the_finished_runs_of_a_setting_cut_off_part_way(root, tmp_path, monkeypatch):
    import edgeledger.scenario.experiment_run as er

    exp = find_experiment("repeated", root)  # 3 runs per setting at full size
    out = tmp_path / "out"
    real_run_once, calls = er._run_once, []

    def cut_off_at_the_third_run(*args, **kwargs):  # the process is killed during run 3 of fedavg
        calls.append(args[2].seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run_once(*args, **kwargs)

    monkeypatch.setattr(er, "_run_once", cut_off_at_the_third_run)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, out, only="fedavg")
    seeds = repeat_seeds(5, 3)
    assert calls == seeds and not (out / "summary.json").exists()
    assert [(out / "settings" / "fedavg" / f"run-{i}" / "run.json").exists() for i in range(3)] == [True, True, False]

    calls.clear()
    monkeypatch.setattr(er, "_run_once", lambda *a, **k: (calls.append(a[2].seed), real_run_once(*a, **k))[1])
    resumed = run_experiment(exp, out, only="fedavg", resume=True)
    assert calls == seeds[2:]  # only the run that was cut off
    fresh = run_experiment(exp, tmp_path / "fresh", only="fedavg")
    drop_wall = lambda runs: [{k: v for k, v in r.items() if k != "wall_s"} for r in runs]  # noqa: E731
    assert drop_wall(resumed.settings[0].runs) == drop_wall(fresh.settings[0].runs)  # the same runs, bit for bit
    assert resumed.settings[0].final_accuracy == fresh.settings[0].final_accuracy

    # another scenario (here an override) keeps nothing; an unreadable record runs its run again
    calls.clear()
    run_experiment(exp, out, only="fedavg", overrides=("fl.lr=0.05",), resume=True)
    assert calls == seeds
    (out / "summary.json").unlink()  # as if cut off again, before the summary was written
    (out / "settings" / "fedavg" / "run-0" / "run.json").write_text("{not json")
    calls.clear()
    run_experiment(exp, out, only="fedavg", overrides=("fl.lr=0.05",), resume=True)
    assert calls == seeds[:1]
