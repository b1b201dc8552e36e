"""Offloading as network traffic: the simulated messages reproduce the analytical model on ideal
links, and the network's links, queues and faults change what devices measure."""

from __future__ import annotations

import numpy as np
import pytest

from edgeledger.net.sim import Link, Simulator
from edgeledger.node.node import wire_decoder
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.observation import device_observations
from edgeledger.offload.traffic import (
    OFFLOAD_MESSAGES,
    OffloadDeviceCore,
    OffloadDeviceService,
    OffloadServerCore,
    OffloadServerService,
    SlotDraw,
)

SLOTS = 12


class Host:
    """A bare simulator host around one offloading service (no chain needed for this check)."""

    def __init__(self, node_id, service):
        self.node_id, self.service = node_id, service
        self._decode = wire_decoder(OFFLOAD_MESSAGES)

    def decode_message(self, data):
        return self._decode(data)

    def on_message(self, sender, message, now):
        return self.service.on_message(sender, message, now)

    def on_timer(self, name, now):
        return self.service.on_timer(name, now)


class Scripted:
    """Device i's slots as the analytical environment drew them (same tasks, same channel)."""

    def __init__(self, slots, i):
        self.slots, self.i = slots, i

    def draw(self, slot):
        state = self.slots[slot][0]
        t, c = state.tasks, state.channel
        return SlotDraw(slot, float(t.size_bits[self.i]), float(t.cycles_per_bit[self.i]), float(t.cycles[self.i]),
                        float(t.output_bits[self.i]), float(t.deadline_s[self.i]), float(c.rate_up_bps[self.i]),
                        float(c.rate_down_bps[self.i]))


def network(config, slots, link_for, sharing="slot", seen=None):
    """Devices of the cell, their AP (edge-0) and the cloud, driven by the scripted decisions."""
    sim = Simulator(0, link_for)
    devices = [f"device-{i}" for i in range(config.n_devices)]
    cores = {}
    for i, d in enumerate(devices):
        def decide(state, slot, i=i):
            if seen is not None:
                seen.append((slot, i, state))
            return int(slots[slot][1][i])

        cores[d] = OffloadDeviceCore(d, config, Scripted(slots, i), "edge-0", ["edge-0"], "cloud", decide,
                                     sharing=sharing, slots=len(slots))
    edge = OffloadServerCore("edge-0", config, "cloud", devices=devices, report_to=devices, sharing=sharing,
                             grant_window_s=1e-6)  # a MAC request window: requests of a slot arrive within it
    cloud = OffloadServerCore("cloud", config, "cloud", sharing=sharing)
    for node_id, service in [*((d, OffloadDeviceService(c)) for d, c in cores.items()),
                             ("edge-0", OffloadServerService(edge)), ("cloud", OffloadServerService(cloud))]:
        sim.add_host(Host(node_id, service))
        sim.start(node_id, service.start(0.0))
    sim.run(until=len(slots) * config.slot_s + 30)
    return sim, cores


@pytest.fixture(scope="module")
def scripted():
    config = OffloadConfig()  # N = 10 devices, M = 1 edge, the docs' defaults
    env = OffloadEnv(config, np.random.default_rng(7))
    rng = np.random.default_rng(8)
    slots = []
    for _ in range(SLOTS):
        actions = rng.integers(0, config.n_actions, size=config.n_devices)  # every tier, with contention
        slots.append((env.state, actions, env.evaluate(actions)))
        env.step(actions)
    return config, slots


def ideal(config):
    def link_for(a, b):
        wan = {a, b} == {"edge-0", "cloud"}
        return Link(latency_s=config.wan_delay_s if wan else 0.0, bandwidth_bps=1e15)
    return link_for


def test_on_ideal_links_the_network_measures_what_the_analytical_model_computes(scripted):
    config, slots = scripted
    seen = []
    sim, cores = network(config, slots, ideal(config), seen=seen)
    for i, core in enumerate(cores.values()):
        by_slot = {o.slot: o for o in core.outcomes}
        assert sorted(by_slot) == list(range(SLOTS))  # every task came back
        for s, (_, actions, model) in enumerate(slots):
            o = by_slot[s]
            assert o.action == actions[i]
            # the header of a message adds < 1e-4 of a task's bits: agreement to 1e-3
            assert o.delay_s == pytest.approx(model.delay_s[i], rel=1e-3), (s, i, actions[i])
            assert o.energy_j == pytest.approx(model.energy_j[i], rel=1e-3)
            assert o.cost == pytest.approx(model.cost[i], rel=1e-3)
            assert o.miss == bool(model.misses[i])
    # the agents saw the model's DQN state: last slot's k, n_m, n_c arrived as the edge's reports
    for slot, i, state in seen:
        assert np.allclose(state, device_observations(config, slots[slot][0])[i], atol=1e-6), (slot, i)
    # and the traffic is real: every offloaded task's input bytes crossed the device's link
    offloaded = sum(int(a > 0) for _, actions, _ in slots for a in actions)
    uploaded = sum(sim.traffic[d].bytes_by_type["offload.task"] for d in cores)
    assert uploaded >= sum(int(s[0].tasks.size_bits[i]) // 8 for s in slots for i in range(config.n_devices)
                           if s[1][i] > 0) and offloaded


def test_real_links_and_a_real_server_change_what_devices_measure(scripted):
    config, slots = scripted

    def link_for(a, b):  # 10 ms radio access; the 50 Mbit/s WAN with its 100 ms delay, FIFO
        if {a, b} == {"edge-0", "cloud"}:
            return Link(latency_s=config.wan_delay_s, bandwidth_bps=config.wan_rate_bps)
        return Link(latency_s=0.01, bandwidth_bps=1e15)

    _, cores = network(config, slots, link_for, sharing="network")
    faster = slower = 0
    for i, core in enumerate(cores.values()):
        assert len(core.outcomes) == SLOTS
        for o in core.outcomes:
            state, actions, model = slots[o.slot]
            if o.action == 0:
                assert o.delay_s >= model.delay_s[i] - 1e-9  # a FIFO CPU: a task may wait for the last one
                continue
            k = int(np.sum(actions > 0))
            radio = (state.tasks.size_bits[i] * k / state.channel.rate_up_bps[i]
                     + state.tasks.output_bits[i] * k / state.channel.rate_down_bps[i])
            wan = 2 * config.wan_delay_s if o.action == config.cloud_action else 0.0
            assert o.delay_s >= radio + 4 * 0.01 + wan - 1e-9  # request, grant, upload, result: 4 crossings
            faster += o.delay_s < model.delay_s[i] - 1e-3  # processor sharing, a FIFO WAN served first
            slower += o.delay_s > model.delay_s[i] + 1e-3  # access latency, queued behind others
    assert faster and slower


def test_a_cut_link_loses_the_results_and_the_devices_count_them_as_misses(scripted, monkeypatch):
    config, slots = scripted
    from edgeledger.net import sim as simmod

    monkeypatch.setattr(simmod.Simulator, "is_cut", lambda self, a, b: {a, b} == {"edge-0", "cloud"})
    _, cores = network(config, slots[:3], ideal(config))
    lost = [o for c in cores.values() for o in c.outcomes if o.lost]
    cloud_tasks = sum(int(a == config.cloud_action) for _, actions, _ in slots[:3] for a in actions)
    assert len(lost) == cloud_tasks > 0 and all(o.miss and o.delay_s >= 10.0 for o in lost)
    assert all(len(c.outcomes) == 3 for c in cores.values())  # the rest came back


def network_scenario(**offload):
    from edgeledger.scenario.schema import parse_scenario

    return parse_scenario({
        "seed": 1, "topology": {"edges": 3, "devices_per_edge": 4},
        "fl": {"task": "offloading", "rounds": 2, "clients_per_round": 12, "aggregator": "fedavg",
               "round_timeout_s": 60},
        "offload": {"environment": "network", "local_slots": 5, "eval_slots": 5, **offload},
        "output": {"plots": False}})


def test_a_scenario_runs_its_agents_on_its_own_network_and_federates_them():
    from edgeledger.scenario.runner import run_scenario

    run = run_scenario(network_scenario())
    s = run.summary
    assert s["rounds_completed"] == 2 and not s["rejections_by_kind"]
    tasks = [m for m in run.metrics if m.metric == "offload.action"]
    assert len({m.node for m in tasks}) == 12 and len(tasks) >= 12 * 10  # every device, every slot of two rounds
    offloaded = sum(m.value > 0 for m in tasks)
    assert run.sim.traffic["edge-0"].bytes_received > offloaded / 3 * 1e6 / 8  # a task is >= 1 Mbit
    # each round's update is the agent as it learnt on the network: weighted by the transitions it saw
    from edgeledger.codec import decode
    from edgeledger.fl.round.events import UpdateRecord

    weights = [decode(tx.payload, UpdateRecord).n_samples for b in run.network.nodes["cloud"].store.blocks()
               for tx in b.transactions if tx.kind == "fl.update"]
    assert len(weights) == 24 and all(w >= 4 for w in weights)
    assert run_scenario(network_scenario()).summary["head_hash"] == s["head_hash"]  # deterministic


def test_lossy_wan_makes_cloud_tasks_miss():
    from edgeledger.scenario.runner import run_scenario
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    sc = network_scenario(result_timeout_s=3.0)
    lossy = parse_scenario(apply_overrides(sc.model_dump(), ["network.edge_cloud.loss=0.5"]))
    run = run_scenario(lossy)
    by_key = {}
    for m in run.metrics:
        if m.metric in ("offload.action", "offload.miss", "offload.delay_s"):
            by_key.setdefault((m.node, m.round), {})[m.metric] = m.value
    cloud = [v for v in by_key.values() if v.get("offload.action") == 2.0]
    lost = [v for v in cloud if v["offload.delay_s"] >= 3.0]
    assert cloud and lost and all(v["offload.miss"] == 1.0 for v in lost)
