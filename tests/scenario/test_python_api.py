"""The top-level Python API (``import edgeledger as el``): its exact public names, a run from a
scenario file to a DataFrame, the chain and a plot, and one decorator per plug-in kind."""

import json
import subprocess
import sys

import numpy as np
import pytest

import edgeledger as el
from edgeledger.cli import main

PUBLIC = {
    "__version__", "Scenario", "Run", "run", "load_results", "check_scenario",
    "register_aggregator", "register_attack", "register_model", "register_contract", "register_consensus",
    "Aggregator", "ModelAttack", "ColludingAttack", "DataAttack", "Contract", "contract_method", "Consensus",
    "EdgeLedgerError", "ConfigError",
}


def test_all_is_exactly_the_public_names_and_each_resolves():
    assert len(el.__all__) == len(set(el.__all__)) and set(el.__all__) == PUBLIC == {"__version__", *el._EXPORTS}
    for name in el.__all__:
        assert getattr(el, name) is not None, name
    with pytest.raises(AttributeError):
        el.no_such_name  # noqa: B018


def test_importing_the_package_loads_neither_torch_nor_the_simulator():
    code = "import sys, edgeledger; print(sorted(m for m in ('torch', 'edgeledger.scenario', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "my.toml"
    path.write_text('name = "mine"\nseed = 7\n[fl]\nrounds = 5\n')
    scenario = el.Scenario.load(path).with_overrides({"fl.rounds": 2})
    return el.run(scenario)


def test_a_run_gives_metrics_as_a_dataframe_the_chain_and_a_plot(two_rounds, tmp_path):
    import pandas as pd

    r = two_rounds
    assert r.scenario.fl.rounds == 2 and r.summary["rounds_completed"] == 2
    assert isinstance(r.metrics, pd.DataFrame) and list(r.metrics.columns) == ["time", "round", "node", "metric", "value"]
    assert list(r.rounds.index) == [1, 2] and r.rounds["accuracy"].iloc[-1] == pytest.approx(r.final_accuracy)
    assert r.chain["height"] == r.summary["blocks"] == len(r.chain["blocks"])
    assert r.chain["blocks"][-1]["hash"] == r.summary["head_hash"]
    fig = r.plot(tmp_path / "acc.svg")
    assert len(fig.axes) == 2 and (tmp_path / "acc.svg").read_text().lstrip().startswith("<?xml")


def test_the_api_runs_what_the_command_line_runs(two_rounds, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(tmp_path / "x.toml")])  # a missing file is one line, exit 2
    (tmp_path / "mine.toml").write_text('name = "mine"\nseed = 7\n[fl]\nrounds = 2\n')
    main(["run", str(tmp_path / "mine.toml"), "--out", str(tmp_path / "cli"), "--quiet"])  # success returns
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["head_hash"] == two_rounds.summary["head_hash"]


def test_save_and_load_results_round_trip(two_rounds, tmp_path):
    two_rounds.save(tmp_path / "r")
    back = el.load_results(tmp_path / "r")
    assert back.summary == two_rounds.summary and back.chain == two_rounds.chain
    assert back.rounds.equals(two_rounds.rounds)
    with pytest.raises(el.ConfigError, match="already holds a run"):
        two_rounds.save(tmp_path / "r")


def test_with_overrides_names_a_bad_key_and_keeps_the_original():
    demo = el.Scenario.demo()
    with pytest.raises(el.ConfigError, match="fl.roundz: unknown key.*did you mean fl.rounds"):
        demo.with_overrides({"fl.roundz": 3})
    assert demo.with_overrides({"fl.rounds": 3, "seed": 1}).fl.rounds == 3 and demo.fl.rounds == 10


def test_one_decorator_registers_an_aggregator_that_a_scenario_then_names():
    calls = []

    @el.register_aggregator("api_test_mean")
    class PlainMean(el.Aggregator):
        def aggregate(self, updates, weights):
            calls.append(len(updates))
            return np.asarray(updates, dtype=np.float32).mean(axis=0)

    scenario = el.Scenario.demo().with_overrides({"fl.rounds": 1, "fl.aggregator": "api_test_mean",
                                               "fl.aggregator_params": {}, "attacks": []})
    r = el.run(scenario)
    assert calls == [12] and r.summary["rounds_completed"] == 1
    with pytest.raises(el.ConfigError, match="did you mean 'api_test_mean'"):
        el.check_scenario(scenario.with_overrides({"fl.aggregator": "api_test_maen"}))


def test_one_decorator_registers_attacks_models_contracts_and_consensus():
    from torch import nn

    from edgeledger.consensus import consensus_protocols
    from edgeledger.fl.attacks import attacks, data_attacks
    from edgeledger.fl.models import models
    from edgeledger.ledger.contracts import contract_types

    @el.register_attack("api_test_zero")
    class Zero(el.ModelAttack):
        def poison(self, local, global_params, rng):
            return np.zeros_like(local)

    @el.register_attack("api_test_keep")
    class Keep(el.DataAttack):
        def poison_data(self, data, rng):
            return data

    @el.register_model("api_test_linear")
    def linear(input_shape, n_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_classes))

    @el.register_contract
    class Counter(el.Contract):
        name, version = "api_test_counter", "1"

    consensus_cls = type("ApiTestConsensus", (), {})
    el.register_consensus("api_test_consensus")(consensus_cls)
    assert attacks.get("api_test_zero") is Zero and data_attacks.get("api_test_keep") is Keep
    assert models.get("api_test_linear") is linear and contract_types.get("api_test_counter@1") is Counter
    assert consensus_protocols.get("api_test_consensus") is consensus_cls
    with pytest.raises(el.ConfigError, match="must subclass"):
        el.register_attack("api_test_bad")(object)
    scenario = el.Scenario.demo().with_overrides({
        "fl.rounds": 1, "fl.model": "api_test_linear",
        "attacks": [{"kind": "api_test_zero", "fraction": 0.25}, {"kind": "api_test_keep", "nodes": ["device-0"]}]})
    assert el.check_scenario(scenario) is scenario
