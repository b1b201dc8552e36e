"""One chain member of a deployed plant: ``edgeledger twin node --id ID --plan FILE ...``.

Validators run PBFT (the first one is the :class:`~edgeledger.twins.roles.TwinOperator`), edges run
:class:`~edgeledger.twins.roles.TwinEdge` (oracle member and gateway), the observation node follows
the chain, serves ``/observe/twins`` and ``/v1/twins`` and keeps the storage layer's blobs (its
``/v1/blobs`` endpoints). Start-up is the shared bootstrap; an edge also registers its gateway
identity at the center. What the roles may not do themselves happens here: an edge polls its
machines' batches, stores them in the storage layer over HTTP and files them; its command
deliveries are HTTP calls to the device processes, run off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.deploy.bootstrap import (
    PlanProcessOptions,
    ProcessServer,
    fetch_peers,
    genesis_from_center,
    load_identity,
    register,
    wait_for_validators,
)
from edgeledger.deploy.oracle_plan import load_shares, save_share
from edgeledger.deploy.oracle_process import build_member_node, drive_setup, role_routes
from edgeledger.deploy.plan_files import private_seed
from edgeledger.deploy.twin_plan import TwinNetworkPlan, gateway_key, load_twin_plan
from edgeledger.effects import Deferred, Effect
from edgeledger.ledger.blobs import DirectoryBlobStore
from edgeledger.net.blobs import upload_headers
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
from edgeledger.oracle.enrollment import oracle_keys
from edgeledger.oracle.roles import OracleRole
from edgeledger.twins.attestation import reading_work
from edgeledger.twins.factory import work_by_kind
from edgeledger.twins.gateway import GatewayCore
from edgeledger.twins.maintenance import (
    RiskScorer,
    maintenance_aggregation,
    maintenance_work,
)
from edgeledger.twins.records import (
    MAINTENANCE_KIND,
    READING_KIND,
    ActuatorAck,
    ActuatorCommand,
    SensorBatch,
)
from edgeledger.twins.roles import TwinEdge, TwinOperator
from edgeledger.web.observe_sources import DashboardPlan
from edgeledger.web.twin_api import TwinSource, install_twin_api
from edgeledger.web.twin_page import install_twin_page

__all__ = ["http_fetch", "http_put", "run_twin_node"]

log = logging.getLogger("edgeledger.twins")


def http_fetch(base: str, timeout: float = 5.0) -> Callable[[bytes], bytes | None]:
    """Read a blob from the storage layer's ``/v1/blobs`` (blocking: for work run off the event loop)."""
    def fetch(digest: bytes) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{base}/v1/blobs/{digest.hex()}", timeout=timeout) as resp:
                return resp.read()
        except (OSError, urllib.error.URLError):
            return None
    return fetch


def http_put(base: str, key: PrivateKey, sender: str, chain_id: str, recipient: str,
             timeout: float = 5.0) -> Callable[[bytes], bytes]:
    """Store a blob in the storage layer ``recipient`` at ``base`` (blocking), an upload signed as
    ``sender`` (the storage node takes blobs only from members of its chain); returns its digest."""
    def put(data: bytes) -> bytes:
        digest = sha256(data)
        req = urllib.request.Request(f"{base}/v1/blobs/{digest.hex()}", data=data, method="PUT",
                                     headers=upload_headers(key, sender, chain_id, recipient, digest))
        with urllib.request.urlopen(req, timeout=timeout):
            return digest
    return put


def _transport(node: Callable[[], Node], devices: dict[str, str], timeout: float) -> Callable[[str, ActuatorCommand], Effect]:
    """A command's delivery: POST it to the device process (off the event loop); its signed ack goes
    back through the node to the gateway; no answer (refused, lost, too slow) is simply no ack."""
    def carry(device: str, cmd: ActuatorCommand) -> Effect:
        def run() -> ActuatorAck | None:
            req = urllib.request.Request(f"{devices.get(device, '')}/v1/actuator/commands", data=encode(cmd),
                                         method="POST", headers={"content-type": "application/msgpack"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    return decode(resp.read(), ActuatorAck)
            except Exception:  # noqa: BLE001 -- no answer of any kind: the gateway's timer decides
                return None

        def done(ack: ActuatorAck | None, now: float) -> list[Effect]:
            return node().on_message(device, ack, now) if ack is not None else []

        return Deferred(run=run, done=done)
    return carry


def _role(plan: TwinNetworkPlan, opts: PlanProcessOptions, key: PrivateKey, store_url: Callable[[], str],
          devices: dict[str, str], holder: dict[str, Any]) -> OracleRole:
    node_id = opts.node_id
    if node_id == plan.validators[0]:
        return TwinOperator(plan, node_id, key, time.time, plan.task(), plan.risk_threshold_milli, plan.max_attempts)
    if node_id not in plan.edges:
        return OracleRole(plan, node_id, key, time.time)
    k = plan.edges.index(node_id)
    blobs = DirectoryBlobStore(opts.data_dir / "blobs")
    holder["blobs"] = blobs
    def fetch(digest: bytes) -> bytes | None:
        return http_fetch(store_url())(digest)

    work = work_by_kind({
        READING_KIND: reading_work(fetch, lambda: holder["node"].state.kv, RiskScorer(blobs, fetch)),
        MAINTENANCE_KIND: maintenance_work(blobs, plan.history(), k % len(plan.companies), 0.0, fetch)})
    gateway = GatewayCore(plan.gateways[k], gateway_key(opts.data_dir), plan.chain_id,
                          {m.twin_id: m.device for m in plan.machines_of(node_id)}, ack_timeout_s=plan.ack_timeout_s,
                          max_attempts=plan.max_attempts, nonce=int(time.time() * 1000) * 1000)
    return TwinEdge(plan, node_id, key, time.time, oracle_keys(private_seed(opts.data_dir / "oracle.seed"), node_id),
                    load_shares(opts.data_dir), work, lambda call: asyncio.get_running_loop().call_soon(call),
                    save_share=lambda group_id, share: save_share(opts.data_dir, group_id, share),
                    rng=random.SystemRandom(),
                    aggregators={MAINTENANCE_KIND: maintenance_aggregation(blobs)}, gateway=gateway,
                    put=lambda data: http_put(store_url(), key, node_id, plan.chain_id, plan.observer)(data),
                    transport=_transport(lambda: holder["node"], devices, plan.ack_timeout_s * plan.max_attempts + 2))


async def _poll_machines(role: TwinEdge, plan: TwinNetworkPlan, devices: dict[str, str],
                         session: aiohttp.ClientSession) -> None:
    """Fetch each machine's new batches, store them, file them (once the twin is registered)."""
    last: dict[str, int] = {}
    machines = plan.machines_of(role.node_id)
    while True:
        await asyncio.sleep(min(plan.period_s / 2, 1.0))
        if not role.ready():
            continue
        for m in machines:
            if not role.registered(m.twin_id) or m.device not in devices:
                continue
            try:
                async with session.get(f"{devices[m.device]}/v1/sensor/batches",
                                       params={"after": str(last.get(m.twin_id, 0))}) as resp:
                    batches = decode(await resp.read(), list[SensorBatch]) if resp.status == 200 else []
                for batch in batches:
                    data = role.gateway.ingest(batch)
                    digest = await asyncio.get_running_loop().run_in_executor(None, role.put, data)
                    role.file_batch(batch, digest, len(data))
                    last[m.twin_id] = batch.seq
            except Exception:  # a device or the store that does not answer must not stop the gateway
                log.warning("%s: polling %s failed", role.node_id, m.device, exc_info=True)


async def run_twin_node(opts: PlanProcessOptions, stop: asyncio.Event | None = None) -> None:
    """Run one chain member of the plant until ``stop`` is set (or an admin shuts it down)."""
    import edgeledger.twins  # noqa: F401  (registers the registry, the proxy and oracle.fulfill)

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    plan = load_twin_plan(opts.plan_file)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    key = load_identity(opts.data_dir, "ed25519")
    peers_now: dict[str, str] = {}
    holder: dict[str, Any] = {}
    role = _role(plan, opts, key, lambda: peers_now.get(plan.observer, ""), peers_now, holder)
    blobs = holder.get("blobs") or DirectoryBlobStore(opts.data_dir / "blobs")
    server = ProcessServer(opts.admin_token, role_routes(role))
    if opts.node_id == plan.observer:
        source = TwinSource(node=lambda: holder.get("node"), fetch=_raw_fetch(blobs),
                            now_ms=lambda: int(time.time() * 1000))
        install_twin_api(server.app, source)
        install_twin_page(server.app, source)
    opts.port = await server.start(opts.host, opts.port)
    address = f"http://{opts.host}:{opts.port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await register(session, opts.center, key, opts.node_id, plan.role_of(opts.node_id), address)
        if isinstance(role, TwinEdge):
            await register(session, opts.center, role.gateway.key, role.gateway.gateway_id, "gateway", address)
        roles = {n: plan.role_of(n) for n in plan.members + plan.accounts}
        genesis = await genesis_from_center(session, opts.center, opts.data_dir / "genesis.bin", plan.chain_id,
                                            plan.validators, roles, time.monotonic() + opts.genesis_timeout_s)
        node = build_member_node(opts, plan, key, genesis, role, tuple(plan.edges) + (plan.observer,), blobs)
        holder["node"] = node
        peers_now.update({p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers})
        driver = HttpDriver(node, key, node.membership.verify, {n: a for n, a in peers_now.items() if n in roles})
        await driver.start()
        server.attach(node, driver, DashboardPlan(roles, plan.validators))
        role.attach(node, driver)
        log.info("%s (%s) serving on %s, height %d", opts.node_id, plan.role_of(opts.node_id), address,
                 node.store.height)
        await wait_for_validators(session, driver, plan.validators)
        driver.submit_local(node.start(time.time()))
        tasks = [asyncio.get_running_loop().create_task(drive_setup(role, idle_s=1.0))]
        if isinstance(role, TwinEdge):
            tasks.append(asyncio.get_running_loop().create_task(_devices(session, opts.center, plan, role, peers_now)))
        await server.serve_until_stopped(stop, [node.store], tasks)


def _raw_fetch(blobs: DirectoryBlobStore) -> Callable[[bytes], bytes | None]:
    """What the store holds for a digest, unchecked (the audit checks it against the chain)."""
    def fetch(digest: bytes) -> bytes | None:
        path = blobs.path_of(digest)
        return path.read_bytes() if path is not None else None
    return fetch


async def _devices(session: aiohttp.ClientSession, center: str, plan: TwinNetworkPlan, role: TwinEdge,
                   devices: dict[str, str]) -> None:
    """Learn the device processes' addresses from the center, then poll them."""
    wanted = {m.device for m in plan.machines_of(role.node_id)} | {plan.observer}
    while not wanted <= set(devices):
        try:
            devices.update({p.node_id: p.address for p in (await fetch_peers(session, center)).peers})
        except Exception:  # noqa: BLE001 -- the center may be busy: ask again
            pass
        await asyncio.sleep(0.5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as polls:
        await _poll_machines(role, plan, devices, polls)
