"""Devices as a population: a device is a full node only while it has work, and that changes nothing."""

import tomllib
from importlib import resources

import pytest

from edgeledger.codec import encode
from edgeledger.node.center import PeerList
from edgeledger.scenario.assembly import build_network
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, ["fl.rounds=2", *sets]))


def _pin_every_device(net):
    for node_id in net.population.ids:
        net.nodes[node_id]  # looking a device up keeps it a full node for the whole run


@pytest.mark.parametrize("sets", [
    # a third of the devices per round, noise attackers (their random stream must survive between rounds)
    ("fl.clients_per_round=4", 'attacks=[{kind="gaussian_noise", fraction=0.25, params={sigma=0.5}}]'),
    # refused downloads fetched from the cloud (a device rests with a fetch pending), stale free riders
    ("fl.download_fallback=true", 'attacks=[{kind="download_tamper", nodes=["edge-0"]}, '
                                  '{kind="free_riding", nodes=["device-5"], params={mode="stale"}}]'),
])
def test_resting_devices_give_the_chain_and_metrics_of_devices_that_never_rest(sets):
    resting = run_scenario(demo(*sets))
    awake = run_scenario(demo(*sets), instrument=_pin_every_device)
    assert awake.network.population.awake == 12 and resting.network.population.awake == 0
    assert resting.summary["head_hash"] == awake.summary["head_hash"]
    assert resting.metrics == awake.metrics and resting.rejections == awake.rejections


def test_a_network_holds_nodes_for_its_infrastructure_and_the_round_only():
    net = build_network(demo("topology.edges=4", "topology.devices_per_edge=500", "fl.clients_per_round=20",
                             "attacks=[]", 'fl.dataset="synthetic"'))
    assert sorted(net.infrastructure) == ["center", "cloud", "edge-0", "edge-1", "edge-2", "edge-3"]
    assert net.population.awake == 0 and len(net.nodes) == 2006
    edges = [net.infrastructure[e] for e in ("edge-0", "edge-3")]
    assert all(e.membership.identities is net.membership.identities for e in edges)  # one identity table
    assert edges[0].membership is not edges[1].membership  # ... but each validator its own schedule


def test_a_run_wakes_each_participant_about_once_per_round_and_leaves_none_awake():
    run = run_scenario(demo("topology.edges=4", "topology.devices_per_edge=500", "fl.clients_per_round=20",
                            "attacks=[]", 'fl.dataset="synthetic"', "fl.rounds=2"))
    pop = run.network.population
    assert run.summary["rounds_completed"] == 2 and pop.awake == 0
    assert 40 <= pop.wakes <= 2 * 40  # woken to train, and again for nothing but the upload's round trip at most
    assert (pop.last_round > 0).sum() <= 40 and pop.last_round.max() == 2
    # the center answered 2,000 registrations with the infrastructure only
    assert run.sim.traffic["center"].bytes_sent < 2_000 * 1_500


def test_a_resting_device_registers_exactly_as_its_node_would():
    net = build_network(demo())
    pop = net.population
    rested = pop.start("device-3")
    node = pop.wake("device-3")
    assert rested == node.start(0.0)
    wire = encode(PeerList(peers=[]))
    assert pop.host("device-3") is node and pop.host("device-4").decode_message(wire) == node.decode_message(wire)
    assert pop.host("device-4").on_message("center", PeerList(peers=[]), 0.0) == [] and pop.awake == 1


def test_device_learners_share_one_model():
    net = build_network(demo())
    a, b = net.learners["device-0"], net.learners["device-1"]
    assert a.model is b.model and a.model is not net.learners["cloud"].model
    assert len(a.train_data) + len(b.train_data) > 0
