"""Large consortia and many cells (issue 17): PBFT with 100 validators; the federated offloading
DQN with 1,000 devices in 100 cells of 10."""

import tomllib
from importlib import resources

from edgeledger.ledger import validate_chain
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def test_a_fl_scenario_runs_on_a_chain_of_100_pbft_validators():
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    run = run_scenario(parse_scenario(apply_overrides(data, [
        "topology.edges=99", "topology.devices_per_edge=1", "fl.clients_per_round=4", "fl.rounds=1",
        "fl.local_epochs=1", "attacks=[]", "output.plots=false"])))
    net = run.network
    assert len(net.validators) == 100 and net.membership.f == 33
    assert run.summary["rounds_completed"] == 1 and run.summary["validators_agree_to_height"] == run.summary["blocks"]
    blocks = net.infrastructure["edge-98"].store.blocks()
    validate_chain(blocks, net.membership, net.membership.genesis_hash)
    assert all(len(b.certificate.votes) >= 67 for b in blocks)  # 2f + 1 commit votes each


def test_federated_offloading_dqn_runs_with_1000_devices_in_100_cells():
    run = run_scenario(parse_scenario({
        "name": "offload-cells", "topology": {"edges": 100, "devices_per_edge": 10, "validating_edges": 3},
        "fl": {"task": "offloading", "rounds": 2, "clients_per_round": 20, "aggregator": "fedavg"},
        "offload": {"env": {"n_devices": 10, "dqn": {"batch_size": 8, "train_every_steps": 2}},
                    "local_slots": 2, "eval_slots": 2},
        "output": {"plots": False}}))
    net, pop = run.network, run.network.population
    assert len(pop) == 1000 and len(net.validators) == 4 and run.summary["rounds_completed"] == 2
    kinds = [tx.kind for b in net.infrastructure["cloud"].store.blocks() for tx in b.transactions]
    assert kinds.count("fl.update") == 40
    trained = {tx.sender for b in net.infrastructure["cloud"].store.blocks() for tx in b.transactions
               if tx.kind == "fl.update"}
    # every device that trained keeps its own agent (replay buffer, target network) and nothing else does
    assert set(pop._learners) == trained and pop.awake == 0
    assert all(pop._learners[d].policy.agent.steps > 0 for d in trained)
    assert sorted(m.round for m in run.metrics if m.metric == "fl.utility") == [1, 2]


def test_validating_edges_picks_the_first_edges_as_validators_and_is_checked():
    import pytest

    from edgeledger.errors import ConfigError
    from edgeledger.scenario.topology import plan_topology

    plan = plan_topology(parse_scenario({"topology": {"edges": 100, "devices_per_edge": 1, "validating_edges": 3}}))
    assert plan.validators == ["cloud", "edge-0", "edge-1", "edge-2"]
    with pytest.raises(ConfigError, match="validating_edges=3 needs \"edge\" in validators"):
        parse_scenario({"topology": {"edges": 5, "validators": ["cloud"], "validating_edges": 3}})
    with pytest.raises(ConfigError, match="n=3 PBFT validators"):
        parse_scenario({"topology": {"edges": 5, "validating_edges": 2}})
