"""``edgeledger up`` / ``down``: a whole scenario as separate local processes on 127.0.0.1.

The center starts first, then every node of the topology as its own ``edgeledger node``
process with its own data directory; a ``cluster.json`` next to them records the pids,
addresses and the admin token so ``edgeledger down`` (or Ctrl-C) can stop them cleanly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError
from edgeledger.scenario.topology import plan_topology
from edgeledger.scenario.schema import Scenario

__all__ = ["Cluster", "start_cluster", "stop_cluster", "free_port", "cluster_status", "refuse_if_running",
           "start_center", "spawn", "add_node"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (another process may take it before it is bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """The processes started from ``root``, as recorded in its ``cluster.json``."""

    root: Path
    center: str
    token: str
    processes: dict[str, dict[str, object]]  # label -> {"pid", "url", "role", "log"}

    def save(self) -> None:
        (self.root / "cluster.json").write_text(json.dumps(
            {"center": self.center, "token": self.token, "processes": self.processes}, indent=1))

    @classmethod
    def load(cls, root: Path) -> Cluster:
        path = root / "cluster.json"
        if not path.exists():
            raise ConfigError(f"no running cluster in {str(root)!r} (no cluster.json); start one with edgeledger up, edgeledger oracle up or edgeledger twin up")
        data = json.loads(path.read_text())
        return cls(root=root, center=data["center"], token=data["token"], processes=data["processes"])


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``edgeledger ARGS...`` as its own session (a Ctrl-C here does not reach it), output appended to ``log``."""
    fh = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "edgeledger", *args], stdout=fh, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_http(url: str, timeout: float, context: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=1, context=context) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def refuse_if_running(root: Path) -> None:
    """Refuse to start a second network from ``root`` while its ``cluster.json`` is there."""
    if (root / "cluster.json").exists():
        raise ConfigError(f"a network already runs from {str(root)!r}; stop it with edgeledger down --dir {root}")


def start_center(root: Path, host: str) -> Cluster:
    """Start the center with a fresh admin token, record it in ``cluster.json``, wait until it answers."""
    token = secrets.token_hex(16)
    port = free_port()
    center = f"http://{host}:{port}"
    log = root / "center.log"
    p = spawn(["center", "--listen", f"{host}:{port}"], log)
    procs: dict[str, dict[str, object]] = {"center": {"pid": p.pid, "url": center, "role": "center", "log": str(log)}}
    cluster = Cluster(root=root, center=center, token=token, processes=procs)
    cluster.save()
    if not _wait_http(center, 20):
        p.kill()
        raise ConfigError(f"the center did not start; see {log}")
    return cluster


def start_cluster(scenario_file: Path, scenario: Scenario, root: Path, host: str = "127.0.0.1",
                  tls: bool = False) -> Cluster:
    """Start the center and every node; return once the center answers (nodes come up on their own).

    With ``tls`` a cluster CA and one certificate for ``host`` are made in ``root/tls`` and every
    process serves HTTPS, trusting only that CA.
    """
    root.mkdir(parents=True, exist_ok=True)
    plan = plan_topology(scenario)
    token = secrets.token_hex(16)
    center_port = free_port()
    scheme = "https" if tls else "http"
    tls_args: list[str] = []
    context = None
    if tls:
        from edgeledger.deploy.tls import client_context, issue_certificate, make_ca

        make_ca(root / "tls")
        issue_certificate(root / "tls", "local", [host, "localhost"])
        tls_args = ["--tls-dir", str(root / "tls"), "--tls-name", "local"]
        context = client_context(root / "tls")
    center = f"{scheme}://{host}:{center_port}"
    procs: dict[str, dict[str, object]] = {}
    log = root / "center.log"
    p = spawn(["center", "--listen", f"{host}:{center_port}", *tls_args], log)
    procs["center"] = {"pid": p.pid, "url": center, "role": "center", "log": str(log)}
    if not _wait_http(center, 20, context):
        p.kill()
        raise ConfigError(f"the center did not start; see {log}")
    sealers = [v for v in plan.validators if plan.roles[v] in ("proxy", "company")]  # EdgeToll's proxy, companies
    order = ["cloud"] + plan.edges + plan.devices + sealers + plan.standby  # claims in this order: ids match labels
    for label in order:
        role = plan.roles[label]
        port = free_port()
        data_dir = root / label
        log = root / f"{label}.log"
        p = spawn(["node", "--role", role, "--center", center, "--data-dir", str(data_dir),
                    "--listen", f"{host}:{port}", "--config", str(scenario_file), "--admin-token", token, *tls_args],
                   log)
        procs[label] = {"pid": p.pid, "url": f"{scheme}://{host}:{port}", "role": role, "log": str(log)}
        _wait_claimed(data_dir, 20)
    cluster = Cluster(root=root, center=center, token=token, processes=procs)
    cluster.save()
    return cluster


def restart_node(cluster: Cluster, label: str, scenario_file: Path) -> int:
    """Start ``label`` again on its data directory and address (after it stopped or was killed); its pid."""
    info = cluster.processes[label]
    url = str(info["url"])
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    tls_args = ["--tls-dir", str(cluster.root / "tls"), "--tls-name", "local"] if url.startswith("https") else []
    p = spawn(["node", "--role", str(info["role"]), "--center", cluster.center, "--data-dir", str(cluster.root / label),
               "--listen", f"{host}:{port}", "--config", str(scenario_file), "--admin-token", cluster.token,
               *tls_args], cluster.root / f"{label}.log")
    cluster.processes[label] = {**info, "pid": p.pid}
    cluster.save()
    return p.pid


def add_node(cluster: Cluster, scenario_file: Path, role: str, host: str = "127.0.0.1") -> str:
    """Start one more node process in a running cluster (open membership: it claims a new id at the
    center and asks to be admitted); recorded in ``cluster.json`` so ``down`` stops it. Returns its label."""
    port = free_port()
    label = f"{role}-joined-{len(cluster.processes)}"
    data_dir, log = cluster.root / label, cluster.root / f"{label}.log"
    p = spawn(["node", "--role", role, "--center", cluster.center, "--data-dir", str(data_dir),
                "--listen", f"{host}:{port}", "--config", str(scenario_file), "--admin-token", cluster.token], log)
    cluster.processes[label] = {"pid": p.pid, "url": f"http://{host}:{port}", "role": role, "log": str(log)}
    cluster.save()
    _wait_claimed(data_dir, 20)
    return label


def _wait_claimed(data_dir: Path, timeout: float) -> None:
    """Start nodes one after another so that the center hands out ids in topology order."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (data_dir / "node_id").exists():
        time.sleep(0.05)


def cluster_status(cluster: Cluster) -> dict[str, dict[str, object]]:
    """Each process's ``/v1/health`` answer, or ``starting``/``down`` from its pid."""
    context = None
    if (cluster.root / "tls" / "ca.pem").exists():
        from edgeledger.deploy.tls import client_context

        context = client_context(cluster.root / "tls")
    out: dict[str, dict[str, object]] = {}
    for label, info in cluster.processes.items():
        try:
            with urllib.request.urlopen(f"{info['url']}/v1/health", timeout=1, context=context) as resp:
                out[label] = {**info, **json.loads(resp.read()), "status": "up"}
        except OSError:
            alive = _alive(int(info["pid"]))  # type: ignore[arg-type]
            out[label] = {**info, "status": "starting" if alive else "down"}
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_cluster(cluster: Cluster, timeout: float = 10.0) -> None:
    """SIGTERM every process (nodes first, the center last), then SIGKILL what is left."""
    labels = [label for label in cluster.processes if label != "center"] + ["center"]
    for label in labels:
        try:
            os.kill(int(cluster.processes[label]["pid"]), signal.SIGTERM)  # type: ignore[arg-type]
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    for label in labels:
        pid = int(cluster.processes[label]["pid"])  # type: ignore[arg-type]
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(pid)
    (cluster.root / "cluster.json").unlink(missing_ok=True)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
