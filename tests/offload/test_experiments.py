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


@pytest.mark.parametrize("quick", [True, False])
def test_every_experiment_variant_is_a_valid_offloading_scenario(quick: bool):
    runner = _runner()
    specs = runner.experiments(quick)
    assert set(specs) == {"fl_vs_local", "hidden_layers", "local_rounds", "devices", "security"}
    for name, spec in specs.items():
        for label, overrides in spec["variants"]:
            scenario = runner.scenario_for(spec["common"], overrides, f"offload-{name}")
            assert scenario.fl.task == "offloading", (name, label)
            OffloadFederation(scenario)  # the [offload.env] table is a valid OffloadConfig


def test_security_variants_toggle_protection_and_attack_edges():
    runner = _runner()
    spec = runner.experiments(True)["security"]
    scenarios = {label: runner.scenario_for(spec["common"], o, "s") for label, o in spec["variants"]}
    unprotected = scenarios["upload 20%, unprotected"]
    assert not unprotected.fl.verify_uploads and not unprotected.fl.verify_downloads
    assert [a.kind for a in unprotected.attacks] == ["upload_tamper"] and unprotected.attacks[0].nodes == ["edge-0", "edge-1"]
    assert scenarios["download 20%, protected"].fl.verify_downloads
