"""``edgeledger oracle up``: a PBFT chain and a Pedal oracle network as local processes.

The launcher writes the plan (and, for a trusted-dealer plan of tests only, deals every
group's threshold key into the members' data directories), then starts the center and one
``edgeledger oracle node`` process per validator, oracle node, requester and observation
node; the groups' keys are generated on chain by their members once they run. It records
the processes in the same ``cluster.json`` as ``edgeledger up``, so ``edgeledger down --dir
DIR`` stops them too. The client helpers below talk to the running network over HTTP only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.deploy.cluster import Cluster, refuse_if_running, spawn, start_center
from edgeledger.deploy.oracle_plan import PLAN_FILE, OracleNetworkPlan, deal_oracle_network

__all__ = ["await_addresses", "start_oracle_network", "wait_oracle_ready", "file_oracle_request", "oracle_requests",
           "wait_callbacks", "oracle_status", "query_observer"]


def start_oracle_network(plan: OracleNetworkPlan, root: Path, host: str = "127.0.0.1") -> Cluster:
    """Deal the groups, start the center and every member; return once each registered its address."""
    refuse_if_running(root)
    plan = deal_oracle_network(plan, root)
    cluster = start_center(root, host)
    center, token, procs = cluster.center, cluster.token, cluster.processes
    for node_id in plan.members:
        log = root / f"{node_id}.log"
        p = spawn(["oracle", "node", "--id", node_id, "--plan", str(root / PLAN_FILE), "--center", center,
                    "--data-dir", str(root / node_id), "--listen", f"{host}:0", "--admin-token", token], log)
        procs[node_id] = {"pid": p.pid, "url": "", "role": plan.role_of(node_id), "log": str(log)}
        cluster.save()
    await_addresses(cluster, plan.members)
    return cluster


def await_addresses(cluster: Cluster, members: list[str], timeout: float = 60.0) -> None:
    """Fill in each process's URL from the address it registered at the center.

    Processes bind a port the OS picks (``--listen HOST:0``) rather than one chosen here and
    bound later, which another process may take in between on a busy machine.
    """
    deadline = time.monotonic() + timeout
    missing = list(members)
    while missing:
        code, body = _call(f"{cluster.center}/v1/peers?format=json", timeout=2)
        registered = {p["node_id"]: p["address"] for p in body.get("peers", [])} if code == 200 else {}
        for node_id in missing:
            if registered.get(node_id):
                cluster.processes[node_id]["url"] = registered[node_id]
        missing = [n for n in missing if not cluster.processes[n]["url"]]
        cluster.save()
        if missing and time.monotonic() > deadline:
            raise ConfigError(f"{missing[:5]} never registered with the center within {timeout} s; see their logs "
                              f"in {cluster.root} (stop the rest with edgeledger down --dir {cluster.root})")
        time.sleep(0.1)


def _call(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):  # refused, reset or a half-started process
        return 0, {}


def oracle_status(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Each member's ``/v1/oracle/status`` (``{"status": "down"}`` when it does not answer)."""
    out: dict[str, dict[str, Any]] = {}
    for label, info in cluster.processes.items():
        if label == "center":
            continue
        code, body = _call(f"{info['url']}/v1/oracle/status", timeout=2)
        out[label] = {**body, "status": "up"} if code == 200 else {"status": "down", "role": info["role"]}
    return out


def wait_oracle_ready(cluster: Cluster, timeout: float = 60.0) -> None:
    """Until every member reports the setup complete (proxy, registrations, groups, feed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = oracle_status(cluster)
        if all(s.get("ready") for s in status.values()):
            return
        time.sleep(0.2)
    waiting = sorted(n for n, s in oracle_status(cluster).items() if not s.get("ready"))
    raise EdgeLedgerError(f"oracle network not ready after {timeout} s; waiting for {waiting} "
                          f"(logs in {cluster.root})")


def _requester_url(cluster: Cluster) -> str:
    urls = [str(info["url"]) for info in cluster.processes.values() if info["role"] == "device"]
    if not urls:
        raise ConfigError(f"the cluster in {str(cluster.root)!r} has no requester process")
    return urls[0]


def file_oracle_request(cluster: Cluster, sensor: str = "boiler", ttl_blocks: int = 200) -> str:
    """File one data request through the requester; returns its transaction id (hex)."""
    code, body = _call(f"{_requester_url(cluster)}/v1/oracle/requests", {"sensor": sensor, "ttl_blocks": ttl_blocks})
    if code != 202:
        raise EdgeLedgerError(f"the requester refused the request ({code}): {body.get('error', body)}")
    return str(body["tx_id"])


def oracle_requests(cluster: Cluster) -> list[dict[str, Any]]:
    """The requests the requester filed, with request id, callback value and latency."""
    code, body = _call(f"{_requester_url(cluster)}/v1/oracle/requests")
    return list(body.get("requests", [])) if code == 200 else []


def wait_callbacks(cluster: Cluster, tx_ids: list[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    """The requests of ``tx_ids`` once every one of them has been called back."""
    deadline = time.monotonic() + timeout
    while True:
        by_tx = {r["tx_id"]: r for r in oracle_requests(cluster)}
        done = [by_tx[t] for t in tx_ids if t in by_tx and by_tx[t]["called_back_at"] is not None]
        if len(done) == len(tx_ids):
            return done
        if time.monotonic() > deadline:
            raise EdgeLedgerError(f"{len(tx_ids) - len(done)} of {len(tx_ids)} oracle requests got no callback "
                                  f"within {timeout} s (logs in {cluster.root})")
        time.sleep(0.05)


def query_observer(cluster: Cluster, path: str) -> Any:
    """``GET path`` on the first observation node of the cluster (the query API); its JSON answer."""
    urls = [str(info["url"]) for info in cluster.processes.values() if info["role"] == "observer"]
    if not urls:
        raise ConfigError(f"the cluster in {str(cluster.root)!r} has no observation node (oracle up --observers 1)")
    code, body = _call(urls[0] + path)
    if code != 200:
        raise EdgeLedgerError(f"the observation node answered {code}: {body.get('error', body)}")
    return body
