"""``edgeledger oracle federation-up``: an FBC, local chains and a relay group as local processes.

The launcher writes the plan (the relays generate their group's key on the FBC once they
run; only ``key_generation = "dealer"``, a test device, has the launcher deal it), registers the ``client`` identity (its key stays
in ``DIR/client``) and starts the center and one ``edgeledger oracle federation-node``
process per validator and relay, recorded in ``cluster.json`` (``edgeledger down`` stops
them). The client helpers sign the application's transactions with the client key and
talk to the chains' REST APIs only: a cross-chain request is ``xchain.send`` on the source
LBC; its callback is the source ``orders`` contract's ``confirmed`` entry.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.contracts import CallLog, ContractCall, StateEntry
from edgeledger.ledger.transaction import make_transaction
from edgeledger.node.center import make_registration
from edgeledger.deploy.cluster import Cluster, refuse_if_running, spawn, start_center
from edgeledger.deploy.bootstrap import load_identity
from edgeledger.deploy.federation_plan import (
    FEDERATION_FILE, ORDERS, STOCK, FederationPlan, load_federation, write_federation,
)
from edgeledger.deploy.oracle_cluster import await_addresses

__all__ = ["start_federation", "federation_plan", "wait_federation_ready", "send_cross_chain", "wait_cross_chain",
           "chain_state"]


def start_federation(plan: FederationPlan, root: Path, host: str = "127.0.0.1") -> Cluster:
    """Write the plan, start the center, register the client, start every validator and relay process."""
    refuse_if_running(root)
    plan = write_federation(plan, root)
    cluster = start_center(root, host)
    center, token, procs = cluster.center, cluster.token, cluster.processes
    client_dir = root / plan.client
    client_dir.mkdir(parents=True, exist_ok=True)
    registration = make_registration(load_identity(client_dir, "ed25519"), plan.client, "device", "")
    req = urllib.request.Request(f"{center}/v1/register", data=encode(registration), method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        if resp.status != 200:
            raise ConfigError(f"the center refused the client's registration ({resp.status})")
    for node_id in plan.members:
        log = root / f"{node_id}.log"
        p = spawn(["oracle", "federation-node", "--id", node_id, "--plan", str(root / FEDERATION_FILE),
                    "--center", center, "--data-dir", str(root / node_id), "--listen", f"{host}:0",
                    "--admin-token", token], log)
        role = "relay" if node_id in plan.relays else "observer" if node_id in plan.observers else "validator"
        procs[node_id] = {"pid": p.pid, "url": "", "role": role, "log": str(log)}
        cluster.save()
    await_addresses(cluster, plan.members)
    return cluster


def federation_plan(cluster: Cluster) -> FederationPlan:
    """The plan the running federation in ``cluster.root`` was started with."""
    return load_federation(cluster.root / FEDERATION_FILE)


def chain_state(cluster: Cluster, chain_id: str, key: str) -> Any:
    """A decoded state value of ``chain_id`` (read from its first validator), or None."""
    url = cluster.processes[federation_plan(cluster).chain(chain_id).validators[0]]["url"]
    try:
        with urllib.request.urlopen(f"{url}/v1/state/{key}", timeout=3) as resp:
            raw = bytes.fromhex(json.loads(resp.read())["value_hex"])
    except (OSError, ValueError, KeyError):
        return None
    if key.startswith("cs/"):
        return decode(decode(raw, StateEntry).value, Any)
    return raw


def wait_federation_ready(cluster: Cluster, timeout: float = 60.0) -> None:
    """Until every chain has its gateway holding the relay group's key and every local chain its applications."""
    plan = federation_plan(cluster)
    deadline = time.monotonic() + timeout
    needed = [(c.chain_id, f"contract/{name}") for c in plan.chains
              for name in (["xchain"] + ([STOCK, ORDERS] if c.chain_id != plan.fbc else []))]
    needed += [(c.chain_id, "cs/xchain/group_key") for c in plan.chains]
    while time.monotonic() < deadline:
        needed = [(c, k) for c, k in needed if not chain_state(cluster, c, k)]
        if not needed:
            return
        time.sleep(0.2)
    raise EdgeLedgerError(f"federation not ready after {timeout} s; missing {needed} (logs in {cluster.root})")


def _client_key(cluster: Cluster, plan: FederationPlan) -> PrivateKey:
    return load_identity(cluster.root / plan.client, "ed25519")


def _height(cluster: Cluster, node: str) -> int:
    with urllib.request.urlopen(f"{cluster.processes[node]['url']}/v1/head", timeout=5) as resp:
        return int(json.loads(resp.read()).get("height") or 0)


def send_cross_chain(cluster: Cluster, source: str, dest: str, qty: int) -> tuple[str, float]:
    """Ask ``dest``'s stock for ``qty`` units from ``source`` (``xchain.send``); (tx id, time sent)."""
    plan = federation_plan(cluster)
    if source == plan.fbc or dest == plan.fbc or source == dest:
        raise ConfigError(f"cross-chain requests go between two different local chains, got {source} -> {dest}")
    # the message expires 500 blocks past the destination's current height (IBC's timeout_height)
    timeout_height = _height(cluster, plan.chain(dest).validators[0]) + 500
    call = ContractCall(contract="xchain", method="send",
                        args=[dest, STOCK, "reserve", [qty], ORDERS, "confirmed", timeout_height])
    tx = make_transaction(_client_key(cluster, plan), plan.client, time.time_ns() // 1000, "contract.call", call)
    url = cluster.processes[plan.chain(source).validators[0]]["url"]
    req = urllib.request.Request(f"{url}/v1/tx", data=encode(tx), method="POST")
    sent = time.time()
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise EdgeLedgerError(f"{source} refused the request ({exc.code}): {exc.read().decode()}") from None
    return tx.tx_id.hex(), sent


def wait_cross_chain(cluster: Cluster, source: str, tx_id: str, sent: float, timeout: float = 30.0) -> dict[str, Any]:
    """Wait for the callback on ``source``: the message id, the destination's result, the latency."""
    deadline = time.monotonic() + timeout
    msg_id = None
    while time.monotonic() < deadline:
        if msg_id is None:
            raw = chain_state(cluster, source, f"clog/{tx_id}")
            if raw is not None:
                log = decode(raw, CallLog)
                msg_id = log.result
        if msg_id is not None:
            result = chain_state(cluster, source, f"cs/{ORDERS}/confirmed/{msg_id}")
            if result is not None:
                return {"msg_id": msg_id, "result": result, "latency_s": time.time() - sent}
        time.sleep(0.05)
    raise EdgeLedgerError(f"cross-chain request {tx_id[:16]} got no callback on {source} within {timeout} s "
                          f"(message {msg_id}; logs in {cluster.root})")
