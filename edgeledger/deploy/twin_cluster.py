"""``edgeledger twin up``: a plant as local processes, and the clients that talk to it over HTTP.

The launcher is the dealer (:func:`~edgeledger.deploy.twin_plan.deal_twin_network`): it writes the
plan and every private file, starts the center, one ``edgeledger twin node`` per validator, edge and
the observation node, one ``edgeledger twin device`` per machine, and registers the accounts that
have no process (companies, users) at the center so the genesis holds them. Once the registry is
on chain the companies register their twins (with the devices' public keys) and grant the engineer.
It records everything in ``cluster.json``: ``edgeledger down --dir DIR`` stops it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgeledger.codec import encode
from edgeledger.deploy.cluster import Cluster, refuse_if_running, spawn, start_center
from edgeledger.deploy.oracle_cluster import await_addresses
from edgeledger.deploy.twin_plan import (
    PLAN_FILE,
    TwinNetworkPlan,
    account_key,
    deal_twin_network,
    device_keys,
    load_twin_plan,
)
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.contracts import ContractCall
from edgeledger.ledger.transaction import make_transaction
from edgeledger.node.center import make_registration
from edgeledger.twins.machine import MACHINE_COMMANDS, MACHINE_SENSORS
from edgeledger.twins.records import REGISTRY

__all__ = [
    "get_json",
    "observer_url",
    "start_twin_network",
    "submit_call",
    "wait_command",
    "wait_receipt",
    "wait_twins_ready",
]


def get_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET ``url``; (status, decoded JSON) -- (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def _post(url: str, body: bytes, content_type: str = "application/msgpack") -> tuple[int, Any]:
    """POST ``body``; (status, the answer as JSON when it is JSON, else ``{}``)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        return 0, {"error": str(exc)}
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {}


def start_twin_network(plan: TwinNetworkPlan, root: Path, host: str = "127.0.0.1") -> Cluster:
    """Deal, start the center and every process, register the accounts; return once all registered."""
    refuse_if_running(root)
    plan = deal_twin_network(plan, root)
    cluster = start_center(root, host)
    for node_id in plan.members:
        log = root / f"{node_id}.log"
        p = spawn(["twin", "node", "--id", node_id, "--plan", str(root / PLAN_FILE), "--center", cluster.center,
                   "--data-dir", str(root / node_id), "--listen", f"{host}:0", "--admin-token", cluster.token], log)
        cluster.processes[node_id] = {"pid": p.pid, "url": "", "role": plan.role_of(node_id), "log": str(log)}
    for m in plan.machines:
        log = root / f"{m.device}.log"
        p = spawn(["twin", "device", "--id", m.device, "--plan", str(root / PLAN_FILE), "--center", cluster.center,
                   "--data-dir", str(root / m.device), "--listen", f"{host}:0"], log)
        cluster.processes[m.device] = {"pid": p.pid, "url": "", "role": "machine", "log": str(log)}
    cluster.save()
    for account in plan.companies + plan.users:
        registration = make_registration(account_key(root, account), account, plan.role_of(account), "")
        code, body = _post(f"{cluster.center}/v1/register", encode(registration))
        if code != 200:
            raise ConfigError(f"the center refused account {account!r}: {body}")
    await_addresses(cluster, plan.members + [m.device for m in plan.machines])
    return cluster


def observer_url(cluster: Cluster) -> str:
    urls = [str(i["url"]) for i in cluster.processes.values() if i["role"] == "observer"]
    if not urls:
        raise ConfigError(f"the cluster in {str(cluster.root)!r} has no observation node")
    return urls[0]


def submit_call(cluster: Cluster, account: str, method: str, args: list[Any]) -> str:
    """Sign a registry call as ``account`` (its key from the launcher's folder) and submit it to the
    observation node; returns the transaction id (hex). A refusal before ordering is an error."""
    key = account_key(cluster.root, account)
    tx = make_transaction(key, account, time.time_ns() // 1000, "contract.call",
                          ContractCall(contract=REGISTRY, method=method, args=args))
    code, body = _post(f"{observer_url(cluster)}/v1/tx", encode(tx))
    if code != 202:
        raise EdgeLedgerError(f"the observation node refused {method} from {account!r} ({code}): "
                              f"{body.get('error', body)}")
    return str(body["tx_id"])


def wait_receipt(cluster: Cluster, tx_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The committed transaction (``/v1/tx``: height, receipt, proof) once it is in a block."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = get_json(f"{observer_url(cluster)}/v1/tx/{tx_id}")
        if code == 200:
            return dict(body)
        if time.monotonic() > deadline:
            raise EdgeLedgerError(f"transaction {tx_id[:16]} was not committed within {timeout} s")
        time.sleep(0.05)


def wait_command(cluster: Cluster, command_id: int, timeout: float = 20.0) -> dict[str, Any]:
    """A command once it is settled (acknowledged, acknowledged late, refused or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = get_json(f"{observer_url(cluster)}/v1/twins/commands")
        found = [c for c in body.get("commands", []) if c["id"] == command_id] if code == 200 else []
        if found and found[0]["status"] not in ("pending", "retrying"):
            return dict(found[0])
        if time.monotonic() > deadline:
            raise EdgeLedgerError(f"command {command_id} was not settled within {timeout} s")
        time.sleep(0.05)


def wait_twins_ready(cluster: Cluster, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Wait for the registry, register every twin (its company) and grant the engineer; return the twins."""
    plan = load_twin_plan(cluster.root / PLAN_FILE)
    deadline = time.monotonic() + timeout
    url = observer_url(cluster)
    while get_json(f"{url}/v1/twins")[1].get("ready") is not True:
        if time.monotonic() > deadline:
            raise EdgeLedgerError(f"the twin registry is not on chain after {timeout} s (logs in {cluster.root})")
        time.sleep(0.2)
    listed = {t["id"] for e in get_json(f"{url}/v1/twins")[1]["edges"] for t in e["twins"]}
    txs = []
    for k, edge in enumerate(plan.edges):
        for m in plan.machines_of(edge):
            if m.twin_id in listed:
                continue
            sensor, actuator = device_keys(cluster.root / m.device)
            txs.append(submit_call(cluster, m.company, "add_twin", [
                m.twin_id, "machine", edge, plan.gateways[k], sensor.public_key, actuator.public_key, MACHINE_SENSORS,
                MACHINE_COMMANDS]))
    for tx in txs:
        wait_receipt(cluster, tx, max(1.0, deadline - time.monotonic()))
    grants = [submit_call(cluster, m.company, "grant", [m.twin_id, "engineer"]) for m in plan.machines
              if m.twin_id not in listed]
    for tx in grants:
        wait_receipt(cluster, tx, max(1.0, deadline - time.monotonic()))
    return [t for e in get_json(f"{url}/v1/twins")[1]["edges"] for t in e["twins"]]
