"""Offloading as traffic on real node processes: devices send their tasks over HTTP to their edge
(or through it to the cloud), results come back, and the federated agent trains on what they measured."""

from __future__ import annotations

import urllib.request

from tests.deploy.conftest import fl_round, launch, shut, wait_for, wait_healthy

SETTINGS = ["name=\"offload-http\"", "topology.edges=4", "topology.devices_per_edge=1", "topology.validators=[\"edge\"]",
            "attacks=[]", "fl.task=\"offloading\"", "fl.rounds=2", "fl.clients_per_round=4", "fl.aggregator=\"fedavg\"",
            "fl.aggregator_params={}", "fl.round_timeout_s=30.0", "offload.environment=\"network\"",
            "offload.local_slots=4", "offload.eval_slots=5", "offload.grant_window_s=0.05",
            "offload.result_timeout_s=5.0"]


def counters(url: str) -> dict[str, float]:
    out = {}
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("edgeledger_offload_") or line.startswith("edgeledger_network_received_bytes_total"):
                name, value = line.split()
                out[name] = float(value)
    return out


def test_devices_offload_tasks_over_http_and_train_their_agent_by_fl_rounds(tmp_path):
    c = launch(tmp_path, SETTINGS)
    try:
        wait_healthy(c)
        devices = [f"device-{i}" for i in range(4)]
        urls = {d: c.processes[d]["url"] for d in devices}

        def finished():
            got = {d: counters(u) for d, u in urls.items()}
            done = all(g.get("edgeledger_offload_tasks_total", 0) >= 6 for g in got.values())
            return got if done and sum(g.get("edgeledger_offload_offloaded_total", 0) for g in got.values()) else None

        got = wait_for(finished, 180, "every device to finish 6 tasks, some of them offloaded")
        for g in got.values():  # a measured delay per task, at least the local run time of the smallest task
            assert g["edgeledger_offload_delay_seconds_total"] > 0 and g["edgeledger_offload_energy_joules_total"] > 0
        edge_in = sum(counters(c.processes[f"edge-{i}"]["url"])["edgeledger_network_received_bytes_total"] for i in range(4))
        assert edge_in > 1e6 * sum(g["edgeledger_offload_offloaded_total"] for g in got.values()) / 8  # >= 1 Mbit each
        wait_for(lambda: fl_round(c.processes["cloud"]["url"]) >= 1, 120, "an FL round of the agents")
    finally:
        shut(c)
