"""The ChainFL Section IV experiment files parse into valid offloading scenarios."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgeledger.offload.federated import OffloadFederation

RUN = Path(__file__).resolve().parents[2] / "experiments" / "offloading" / "run.py"


def _runner():
    spec = importlib.util.spec_from_file_location("offload_experiments", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("quick", "tuned"), [(True, False), (False, False), (True, True)])
def test_every_experiment_variant_is_a_valid_offloading_scenario(quick: bool, tuned: bool):
    runner = _runner()
    specs = runner.experiments(quick, tuned)
    assert set(specs) == {"fl_vs_local", "hidden_layers", "local_rounds", "devices", "security"}
    for name, spec in specs.items():
        for label, overrides in spec["variants"]:
            scenario = runner.scenario_for(spec["common"], overrides, f"offload-{name}")
            assert scenario.fl.task == "offloading", (name, label)
            fed = OffloadFederation(scenario)  # the [offload.env] table is a valid OffloadConfig
            assert fed.config.dqn.lookahead_features == scenario.offload.marginal_features == tuned
            assert fed.config.dqn.gamma == (1.0 if tuned else 0.9)


def test_security_variants_toggle_protection_and_attack_edges():
    runner = _runner()
    spec = runner.experiments(True)["security"]
    scenarios = {label: runner.scenario_for(spec["common"], o, "s") for label, o in spec["variants"]}
    unprotected = scenarios["upload 20%, unprotected"]
    assert not unprotected.fl.verify_uploads and not unprotected.fl.verify_downloads
    assert [a.kind for a in unprotected.attacks] == ["upload_tamper"] and unprotected.attacks[0].nodes == ["edge-0", "edge-1"]
    assert scenarios["download 20%, protected"].fl.verify_downloads


def test_attack_costs_compare_each_variant_with_the_clean_run():
    runner = _runner()
    clean = {1: -12.0, 2: -10.0, 3: -10.0, 4: -10.0}
    curves = {
        "no attack, protected": {"utility": clean},
        "upload 20%, protected": {"utility": {1: -12.0, 2: -10.0, 3: -10.0, 4: -9.7}},
        "upload 20%, unprotected": {"utility": {1: -12.0, 2: -20.0, 3: -12.0, 4: -11.0}},
    }
    costs = runner.attack_costs(curves)
    assert set(costs) == {"upload 20%, protected", "upload 20%, unprotected"}
    assert costs["upload 20%, protected"] == {"final": 3.0, "last3": 1.0}  # higher utility: positive
    assert costs["upload 20%, unprotected"] == {"final": -10.0, "last3": -43.33}


def test_a_run_is_kept_and_reused_only_for_the_same_settings_and_seed(tmp_path):
    """Long experiments (500 rounds, five repeats) resume: each finished run is kept under its
    scenario's digest; another seed or setting runs again."""
    runner = _runner()
    spec = runner.experiments(True)["fl_vs_local"]
    base = runner.scenario_for(spec["common"], spec["variants"][0][1], "offload-fl_vs_local")
    calls = []

    def run(scenario):
        calls.append(scenario.seed)
        return {"utility": {1: -12.5, 2: -11.25}, "gain_ratio": {1: 0.8, 2: 0.85}}

    first, wall, cached = runner.cached_run(tmp_path, "federated", "with FL", base, run)
    again, wall_again, cached_again = runner.cached_run(tmp_path, "federated", "with FL", base, run)
    assert (cached, cached_again) == (False, True) and again == first and calls == [base.seed]
    assert wall_again == wall  # the kept run's own wall time, not the lookup's
    assert isinstance(next(iter(again["utility"])), int)  # rounds come back as ints, not JSON's strings
    runner.cached_run(tmp_path, "federated", "with FL", base.model_copy(update={"seed": base.seed + 1}), run)
    runner.cached_run(tmp_path, "alone", "without FL", base, run)  # the agents alone: another kind of run
    runner.cached_run(None, "federated", "with FL", base, run)  # --no-cache
    assert calls == [base.seed, base.seed + 1, base.seed, base.seed]
    assert len(list(tmp_path.glob("*.json"))) == 3 and not list(tmp_path.glob("*.tmp"))


def test_replot_redraws_a_results_folder_and_says_so_when_there_is_none(tmp_path, capsys):
    runner = _runner()
    assert runner.main(["fl_vs_local", "--replot", "--rounds", "500", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no results to redraw in" in err[0] and "fl_vs_local-r500" in err[0]
    folder = tmp_path / "fl_vs_local-r500"
    folder.mkdir()
    lines = ["variant,round,metric,value"] + [f"{v},{r},utility,{-12 + r / 100 + (v == 'with FL') / 10}"
                                              for v in ("with FL", "without FL") for r in range(1, 201)]
    (folder / "curves.csv").write_text("\n".join(lines) + "\n")
    (folder / "summary.json").write_text('{"experiment": "fl_vs_local", "references_utility": {"greedy": -10.9}}')
    assert runner.main(["fl_vs_local", "--replot", "--rounds", "500", "--out", str(tmp_path)]) == 0
    assert {p.name for p in folder.glob("*.png")} == {"utility.png", "utility_converged.png"}
