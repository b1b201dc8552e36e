"""A real cluster of node processes on 127.0.0.1 (center + 4 validators + cloud + 4 devices)."""

from __future__ import annotations

import json
import time
import tomllib
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import pytest
import tomli_w

from edgeledger.scenario.schema import apply_overrides, parse_scenario
from edgeledger.deploy.cluster import start_cluster, stop_cluster

SETTINGS = ["name=\"http\"", "topology.edges=4", "topology.devices_per_edge=1", "topology.validators=[\"edge\"]",
            "fl.rounds=3", "fl.clients_per_round=4", "fl.aggregator=\"median\"", "fl.aggregator_params={}",
            "fl.round_timeout_s=30.0", "attacks=[{kind=\"sign_flip\", nodes=[\"device-3\"]}]",
            "plugins=[\"edgeledger.bench.contracts\"]"]


TLS_CONTEXT: list = []  # set by a test that runs its cluster over HTTPS


def _context(url: str):
    return TLS_CONTEXT[0] if url.startswith("https") and TLS_CONTEXT else None


def get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_context(url)) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:  # refused or reset: the process is (re)starting
        return 0, {}


def send(url: str, body: bytes, method: str = "POST", headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5, context=_context(url)) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_for(predicate, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def fl_round(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("edgeledger_fl_round "):
                    return int(float(line.split()[1]))
    except OSError:
        pass
    return 0


def launch(root: Path, settings: list[str], tls: bool = False):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    scenario_file = Path(root) / "scenario.toml"
    scenario_file.write_text(tomli_w.dumps(apply_overrides(data, settings)))
    scenario = parse_scenario(tomllib.loads(scenario_file.read_text()))
    return start_cluster(scenario_file, scenario, Path(root) / "nodes", tls=tls)


def shut(c) -> None:
    stop_cluster(c)
    for label, info in c.processes.items():  # keep the logs visible when a test failed
        log = Path(str(info["log"]))
        if log.exists() and "Traceback" in log.read_text():
            print(f"--- {label} log ---\n{log.read_text()[-3000:]}")


def cut_link(c, a: str, b: str) -> None:
    """Cut the link between two nodes in both directions (admin API, token from cluster.json)."""
    auth = {"Authorization": f"Bearer {c.token}", "Content-Type": "application/json"}
    for node, peer in ((a, b), (b, a)):
        status, body = send(f"{c.processes[node]['url']}/v1/admin/links", json.dumps({"block": [peer]}).encode(),
                            headers=auth)
        assert status == 200 and peer in body["blocked"], (status, body)


def wait_healthy(c, timeout: float = 180.0) -> None:
    """Every node has its genesis and serves (a starting node answers 503)."""
    for label, info in c.processes.items():
        if label != "center":
            wait_for(lambda u=info["url"]: get(f"{u}/v1/health", timeout=2)[0] == 200, timeout, f"{label} to serve")


@pytest.fixture(scope="package")
def cluster(tmp_path_factory):
    c = launch(tmp_path_factory.mktemp("cluster"), SETTINGS)
    try:
        wait_healthy(c)
        cut_link(c, "cloud", "edge-1")  # ChainFL relay: edge-1's device must reach the cloud through another edge
        yield c
    finally:
        shut(c)
