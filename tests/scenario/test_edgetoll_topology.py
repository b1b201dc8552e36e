"""EdgeToll's topology from a scenario: the proxy and the companies seal by PBFT, ENs and devices observe."""

import tomllib
from importlib import resources

import pytest
import torch

from edgeledger.errors import ConfigError
from edgeledger.ledger import validate_chain
from edgeledger.scenario.runner import check_agreement, run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario
from edgeledger.scenario.topology import edge_node_owners, make_genesis, observers_of, plan_topology

torch.set_num_threads(1)

EDGETOLL = {"topology": {"edges": 4, "devices_per_edge": 1, "validators": ["proxy", "company"], "companies": 3,
                         "observers": ["edge", "device"]},
            "fl": {"clients_per_round": 4}}
SEALERS = ["proxy", "company-0", "company-1", "company-2"]


def test_the_proxy_and_the_companies_are_the_validators_and_everyone_else_observes():
    scenario = parse_scenario({**EDGETOLL, "consortium": {"standby_sealers": 1, "accounts": {"meter": "device"}}})
    plan = plan_topology(scenario)
    assert plan.validators == SEALERS and scenario.topology.n_validators == 4
    assert [plan.roles[v] for v in SEALERS] == ["proxy", "company", "company", "company"]
    assert plan.standby == ["company-3"]  # standby sealers are numbered after the sealing companies
    follow = observers_of(plan)
    assert {"cloud", "edge-0", "edge-3", "device-0", "device-3", "company-3"} <= set(follow)
    assert not set(SEALERS) & set(follow)
    genesis = make_genesis(plan, {n: ("ed25519", bytes([i]) * 32) for i, n in enumerate(plan.roles)})
    assert genesis.validators == SEALERS
    assert {i.node_id: i.role for i in genesis.identities}["proxy"] == "proxy"
    assert edge_node_owners(scenario) == {"edge-0": "company-0", "edge-1": "company-1", "edge-2": "company-2",
                                          "edge-3": "company-0"}  # the sealing companies own the ENs


@pytest.mark.parametrize("override, message", [
    ({"topology": {**EDGETOLL["topology"], "companies": 0}}, 'topology: .*"company" in validators needs companies >= 1'),
    ({"topology": {**EDGETOLL["topology"], "validators": ["proxy", "cloud"]}}, "companies=3 needs \"company\" in"),
    ({"topology": {**EDGETOLL["topology"], "companies": 2}}, "gives n=3 PBFT validators"),
    ({"consortium": {"accounts": {"proxy": "proxy"}}}, "consortium.accounts: 'proxy' is already a node id of the "
                                                       "topology .a sealer node."),
    ({"consortium": {"accounts": {"company-1": "company"}}}, "'company-1' is already a node id"),
    ({"consortium": {"edge_nodes": {"edge-0": "company-7"}}}, "owner 'company-7' is not a company account; companies: "
                                                              r"\['company-0', 'company-1', 'company-2'\]"),
    ({"topology": {**EDGETOLL["topology"], "validators": ["cloud", "edge"], "companies": 0, "observers": ["device"]},
      "consensus": {"heartbeat_s": 2.0}}, "heartbeat_s: validators sign clock ticks, and the cloud already signs"),
])
def test_edgetoll_topology_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        parse_scenario({**EDGETOLL, **override})


def test_federated_learning_runs_on_the_consortium_chain_with_a_heartbeat():
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    scenario = parse_scenario(apply_overrides(data, [
        "fl.rounds=2", "topology.edges=4", "topology.devices_per_edge=2", "fl.clients_per_round=8",
        'topology.validators=["proxy", "company"]', "topology.companies=3", "consensus.heartbeat_s=1.0",
        "attacks=[]"]))
    result = run_scenario(scenario)
    assert result.summary["rounds_completed"] == 2
    net = result.network
    assert net.validators == SEALERS and check_agreement(net) > 0
    proxy = net.infrastructure["proxy"]
    validate_chain(proxy.store.blocks(), proxy.membership, proxy.membership.genesis_hash)
    kinds = {tx.kind for b in proxy.store.blocks() for tx in b.transactions}
    assert "clock.tick" in kinds and any(k.startswith("fl.") for k in kinds)  # rounds and heartbeats, one chain
    assert net.infrastructure["cloud"].store.head().hash == proxy.store.head().hash  # the aggregator observes
