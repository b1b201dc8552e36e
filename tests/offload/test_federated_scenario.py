"""A federated offloading DQN runs through the chain's FL round protocol (run_scenario)."""

from __future__ import annotations

import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import parse_scenario


def _scenario(**extra: object):
    data = {
        "name": "offload-test",
        "topology": {"edges": 4, "devices_per_edge": 1},
        "fl": {"task": "offloading", "rounds": 2, "clients_per_round": 4, "aggregator": "fedavg"},
        "offload": {"env": {"n_devices": 3, "dqn": {"batch_size": 8, "train_every_steps": 2}},
                    "local_slots": 4, "eval_slots": 3},
        "output": {"plots": False},
    }
    data.update(extra)
    return parse_scenario(data)


def test_federated_dqn_scenario_records_utility_per_round_on_chain():
    from edgeledger.codec import decode
    from edgeledger.fl.round.events import RoundClose

    shown: list[dict] = []
    result = run_scenario(_scenario(), progress=shown.append)
    assert result.summary["rounds_completed"] == 2
    utility = {m.round: m.value for m in result.metrics if m.node == "cloud" and m.metric == "fl.utility"}
    gain = {m.round: m.value for m in result.metrics if m.node == "cloud" and m.metric == "fl.gain_ratio"}
    assert sorted(utility) == [1, 2] and all(v < 0 for v in utility.values())
    assert all(0 < g <= 1 + 1e-9 for g in gain.values())
    kinds = [tx.kind for b in result.network.nodes["cloud"].store.blocks() for tx in b.transactions]
    assert kinds.count("fl.update") == 8 and kinds.count("fl.round_close") == 2  # signed uploads on chain
    losses = [m.value for m in result.metrics if m.metric == "fl.train_loss"]
    assert len(losses) == 8
    closes = [decode(tx.payload, RoundClose) for b in result.network.nodes["cloud"].store.blocks()
              for tx in b.transactions if tx.kind == "fl.round_close"]
    assert [c.accuracy_bp for c in closes] == [round(gain[r] * 10000) for r in (1, 2)]  # the gain ratio on chain
    assert [(p["round"], p["metric"], p["value"]) for p in shown] == [(r, "utility", utility[r]) for r in (1, 2)]


def test_offloading_task_refuses_data_poisoning_attacks():
    with pytest.raises(ConfigError, match="offloading"):
        run_scenario(_scenario(attacks=[{"kind": "label_flip", "nodes": ["device-0"]}]))


def test_offload_init_params_warm_starts_every_learner_from_a_checkpoint(tmp_path):
    import numpy as np

    from edgeledger.offload.federated import OffloadFederation

    fresh = OffloadFederation(_scenario())
    params = fresh.cloud_learner().initial_params() + 0.5
    path = tmp_path / "ckpt.npz"
    np.savez(path, params=params)
    warm = OffloadFederation(_scenario(offload={**_scenario().offload.model_dump(), "init_params": str(path)}))
    assert np.array_equal(warm.cloud_learner().initial_params(), params)
    assert np.array_equal(warm.device_learner("device-0").initial_params(), params)
    with pytest.raises(ConfigError, match="init_params"):
        OffloadFederation(_scenario(offload={"init_params": str(tmp_path / "missing.npz")}))


def test_simulate_run_shows_the_utility_of_an_offloading_run(tmp_path, capsys):
    from edgeledger.cli import main

    path = tmp_path / "offload.toml"
    path.write_text(
        'name = "offload-cli"\n[topology]\nedges = 4\ndevices_per_edge = 1\n'
        '[fl]\ntask = "offloading"\nrounds = 1\nclients_per_round = 4\n'
        '[offload]\nlocal_slots = 2\neval_slots = 2\n[offload.env]\nn_devices = 2\n'
        '[offload.env.dqn]\nbatch_size = 4\n[output]\nplots = false\n'
    )
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--out", str(tmp_path / "out")])
        raise SystemExit(0)
    out = capsys.readouterr().out
    assert (exc.value.code or 0) == 0
    assert "utility -" in out and "accuracy" not in out.split("summary")[0]  # the progress line
    assert "on the offloading DQN" in out and "digits" not in out


def test_shipped_checkpoint_is_the_benchmarks_federated_agent():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "offloading.py"
    spec = importlib.util.spec_from_file_location("offload_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    policy, meta = bench.load_checkpoint()  # set_flat_params checks the length against the network
    assert meta["overrides"] == bench.FEDERATED and meta["rounds_completed"] == 60
    assert policy.config.dqn.lookahead_features and policy.marginal_features and not policy.training
