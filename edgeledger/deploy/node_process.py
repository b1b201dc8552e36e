"""One node as a real process: ``edgeledger node --role ROLE --center URL --data-dir DIR``.

Start-up: load or create the identity (a random seed kept in the data directory), claim
an id from the center and register the signed address; wait until every member of the
scenario's topology has registered, then derive the genesis from the registered keys
(every node computes the same one; it is stored, so a restart never asks again). The node
then resumes its chain from SQLite, serves the protocol endpoint, the REST API and the
dashboard, and runs exactly the sans-IO cores the simulator runs. The steps every deployed
process shares are in :mod:`edgeledger.deploy.bootstrap`; this module adds the id claim by
role, the scenario's genesis and node, the market page and peer-address refreshing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.sealing import build_cipher
from edgeledger.deploy.bootstrap import (
    ProcessServer, await_registered, fetch_peers, load_identity, post_msgpack, register, stored_genesis,
    wait_for_validators,
)
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.blobs import DirectoryBlobStore
from edgeledger.ledger.identity import Genesis, Identity, Membership
from edgeledger.ledger.store import ChainStore
from edgeledger.market.admission import (
    AdmissionList, AdmissionService, AdmissionSponsor, admitted_identities, identity_key, make_admission_request,
)
from edgeledger.market.membership import validator_schedule
from edgeledger.net.envelope import WireLog
from edgeledger.net.http import HttpDriver
from edgeledger.node.endorsing import EndorserService
from edgeledger.node.heartbeat import Signer
from edgeledger.node.light import LightClient
from edgeledger.node.node import Node
from edgeledger.registry import import_plugins
from edgeledger.scenario.topology import (
    Topology, add_heartbeat, admission_sponsors, build_consensus, finality_of, is_light_client, make_genesis, observers_of,
    plan_topology, runs_consensus,
)
from edgeledger.scenario.schema import Scenario
from edgeledger.web.center import Claim
from edgeledger.web.market_page import install_market_page
from edgeledger.web.observe_sources import LiveSource

__all__ = ["NodeOptions", "run_node"]

log = logging.getLogger("edgeledger.node")


@dataclass
class NodeOptions:
    role: str
    center: str
    data_dir: Path
    host: str
    port: int
    scenario: Scenario
    admin_token: str | None = None
    genesis_timeout_s: float = 120.0
    tls_dir: Path | None = None  # serve HTTPS with <tls_dir>/<tls_name>.pem; trust only <tls_dir>/ca.pem
    tls_name: str = "local"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_dir is not None else "http"


async def _claim_and_register(session: aiohttp.ClientSession, opts: NodeOptions, key: PrivateKey,
                              address: str) -> str:
    """Claim an id by role from the center (once: it is kept in the data directory), then register the address."""
    id_file = opts.data_dir / "node_id"
    if id_file.exists():
        node_id = id_file.read_text().strip()
    else:
        claim = Claim(role=opts.role, scheme=key.scheme, public_key=key.public_key)
        async with session.post(f"{opts.center}/v1/claim", data=encode(claim)) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise ConfigError(f"center refused the claim: {body.get('error')}")
        node_id = body["node_id"]
        id_file.write_text(node_id)
    await register(session, opts.center, key, node_id, opts.role, address)
    return node_id


async def _genesis(session: aiohttp.ClientSession, opts: NodeOptions, plan: Topology) -> Genesis:
    """The scenario's genesis (:func:`make_genesis`) over the keys every member registered at the center."""
    async def derive() -> Genesis:
        deadline = time.monotonic() + opts.genesis_timeout_s
        members = [n for n in plan.roles if n != "center"]
        peers = await await_registered(session, opts.center, members, deadline, 0.2, lambda missing: (
            f"genesis: {len(missing)} members never registered with the center: {missing[:5]}"))
        keys = {n: (peers[n].scheme, peers[n].public_key) for n in members}
        keys["center"] = ("ed25519", bytes(32))  # the center signs nothing on chain
        return make_genesis(plan, keys)

    return await stored_genesis(opts.data_dir / "genesis.bin", derive)


async def _await_admission(session: aiohttp.ClientSession, opts: NodeOptions, key: PrivateKey, node_id: str,
                           genesis: Genesis, plan: Topology) -> list[Identity]:
    """Open membership: a node the genesis does not hold asks the center to be admitted and waits
    until a validator's state holds its identity; returns every admitted identity."""
    if opts.role not in opts.scenario.consortium.open_roles:
        raise ConfigError(f"{node_id!r} is not in the genesis and role {opts.role!r} cannot join later "
                          f"(consortium.open_roles = {opts.scenario.consortium.open_roles})")
    request = make_admission_request(key, genesis.chain_id, node_id, opts.role)
    status, body = await post_msgpack(session, f"{opts.center}/v1/admissions", encode(request))
    if status != 202:
        raise ConfigError(f"center refused the admission request of {node_id!r}: {body.decode(errors='replace')}")
    deadline = time.monotonic() + opts.genesis_timeout_s
    while time.monotonic() < deadline:
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        for v in plan.validators:
            try:
                async with session.get(f"{peers.get(v)}/v1/state/{identity_key(node_id)}") as resp:
                    if resp.status == 200:
                        return await _admitted(session, peers[v])
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
        await asyncio.sleep(0.5)
    raise ConfigError(f"{node_id!r} was not admitted within {opts.genesis_timeout_s} s (is a sponsor running?)")


async def _admitted(session: aiohttp.ClientSession, url: str) -> list[Identity]:
    async with session.get(f"{url}/v1/state/membership/admitted") as resp:
        ids = decode(bytes.fromhex((await resp.json())["value_hex"]), list[str])
    out = []
    for n in ids:
        async with session.get(f"{url}/v1/state/{identity_key(n)}") as resp:
            out.append(decode(bytes.fromhex((await resp.json())["value_hex"]), Identity))
    return out


def _build_node(opts: NodeOptions, node_id: str, key: PrivateKey, genesis: Genesis, plan: Topology,
                admitted: list[Identity] = ()) -> Node:  # type: ignore[assignment]
    pbft = opts.scenario.consensus.protocol == "pbft"  # committed consortium votes change the PBFT set
    membership = Membership(genesis, change_delay=opts.scenario.consensus.window + 1) if pbft else Membership(genesis)
    for identity in admitted:  # a node that joined after genesis knows itself (and the others admitted) at once
        membership.admit(identity)
    ident = membership.identities.get(node_id)
    if ident is None or ident.public_key != key.public_key:
        raise ConfigError(f"genesis does not hold {node_id!r} with this node's key: the data directory belongs to "
                          "another network (delete it or point --data-dir elsewhere)")
    store = ChainStore(opts.data_dir / "chain.sqlite")
    consensus = None
    if runs_consensus(plan, node_id):  # a genesis validator, or a standby sealer a membership vote may add
        if opts.scenario.consensus.protocol == "pow" and opts.scenario.consensus.pow_mining != "real":
            raise ConfigError("consensus.pow_mining='modelled' exists only in simulation; real processes mine for "
                              "real: set consensus.pow_mining = \"real\"")
        consensus = build_consensus(opts.scenario, node_id, key, membership, standby=node_id in plan.standby)
    node = Node(node_id=node_id, role=opts.role, key=key, membership=membership, store=store,
                blobs=DirectoryBlobStore(opts.data_dir / "blobs"), consensus=consensus, center=None,
                address=f"{opts.scheme}://{opts.host}:{opts.port}", defer_compute=True, group_commit=True,
                finality=finality_of(opts.scenario, membership), validator_schedule=validator_schedule if pbft else None,
                light=LightClient(node_id, membership, finality_of(opts.scenario, membership))
                if is_light_client(plan, node_id) else None,
                observers=observers_of(plan) if consensus else (), followers=observers_of(plan),
                gossip_fanout=opts.scenario.network.gossip_fanout, identity_hook=admitted_identities,
                validator=None if consensus else ((plan.edge_of.get(node_id) if opts.role == "device" else None)
                                                  or plan.validators[0]))
    if node.light is None and (consensus is not None or node_id in observers_of(plan)):  # holds state: a peer
        node.add_service(EndorserService(node_id, key, node.state))
    # the heartbeat's nonces follow the wall clock (microseconds): above any an earlier run of this process used
    add_heartbeat(opts.scenario, node, Signer(key, node_id, nonce=time.time_ns() // 1000))
    sponsored = admission_sponsors(plan).get(node_id)
    if sponsored:  # open membership: this node puts the center's admission requests on chain
        node.add_service(AdmissionService(AdmissionSponsor(node_id, key, opts.role, sponsored), node.state))
    if opts.scenario.fl.enabled and opts.role in ("cloud", "edge", "device") and node_id in plan.roles:
        from edgeledger.scenario.assembly import FLData, attach_fl_services  # loads torch: FL processes only

        fl = opts.scenario.fl  # an edge needs the data set when it trains or aggregates (fl.trainers, fl.aggregation)
        edge_needs_data = fl.trainers == "edge" or fl.aggregation == "consensus_winner" or fl.task == "offloading"
        attach_fl_services(node, plan, FLData(opts.scenario, plan.devices)
                           if opts.role != "edge" or edge_needs_data else None)
    store.start_writer()  # from here on the store's commits (fsyncs) run on its writer thread, off the event loop
    return node


async def _refresh_peers(session: aiohttp.ClientSession, opts: NodeOptions, driver: HttpDriver,
                         live: LiveSource) -> None:
    """Follow address changes at the center and probe peers for the dashboard's status column."""
    while True:
        await asyncio.sleep(2.0)
        try:
            peers = await fetch_peers(session, opts.center)
            driver.peers.update({p.node_id: p.address for p in peers.peers})
            if driver.host.service(AdmissionService) is not None:  # a sponsor: hand it the pending requests
                async with session.get(f"{opts.center}/v1/admissions") as resp:
                    pending = decode(await resp.read(), AdmissionList)
                driver.submit_local(driver.host.on_message("center", pending, time.time()))
        except (aiohttp.ClientError, asyncio.TimeoutError, EdgeLedgerError, OSError):
            pass
        if time.monotonic() - live.last_viewed > 60.0:
            continue  # peer status is for the dashboard: probe only while someone is looking
        for node_id, url in list(driver.peers.items()):
            try:  # the head says the node is up and gives its height and view (EdgeToll's information port)
                async with session.get(f"{url}/v1/head", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    live.statuses[node_id] = "up" if resp.status == 200 else "starting"
                    head = await resp.json() if resp.status == 200 else {}
                    live.heads[node_id] = {"height": head.get("height"), "view": head.get("view")}
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
                live.statuses[node_id] = "down"


def _install_heap_snapshots(data_dir: Path) -> None:
    """With PYTHONTRACEMALLOC set, SIGUSR2 writes a tracemalloc snapshot to ``data_dir/heap-<unix time>.snap``.

    For finding what grows in a long-running node: load two snapshots with ``tracemalloc.Snapshot.load``
    and print ``new.compare_to(old, "lineno")[:20]``.
    """
    if not tracemalloc.is_tracing() or not hasattr(signal, "SIGUSR2"):
        return

    def dump() -> None:
        path = data_dir / f"heap-{int(time.time())}.snap"
        tracemalloc.take_snapshot().dump(str(path))
        log.info("heap snapshot written to %s (traced %.1f MB)", path, tracemalloc.get_traced_memory()[0] / 1e6)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)


async def run_node(opts: NodeOptions, stop: asyncio.Event | None = None) -> None:
    """Run one node until ``stop`` is set (or an admin shuts it down)."""
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    _install_heap_snapshots(opts.data_dir)
    import_plugins(opts.scenario.plugins)  # before anything is built: plug-ins register kinds and contracts
    key = load_identity(opts.data_dir, opts.scenario.topology.signature_scheme)
    plan = plan_topology(opts.scenario)
    server = ProcessServer(opts.admin_token, data_dir=opts.data_dir, max_blob_bytes=opts.scenario.security.max_blob_bytes)
    install_market_page(server.app, lambda: server.api.node.state if server.api.node is not None else None)
    server_ssl = client_ssl = None
    if opts.tls_dir is not None:  # cryptography's x509 only when TLS is on
        from edgeledger.deploy.tls import client_context, server_context

        server_ssl, client_ssl = server_context(opts.tls_dir, opts.tls_name), client_context(opts.tls_dir)
    opts.port = await server.start(opts.host, opts.port, server_ssl)  # --listen HOST:0: the port the OS gave us
    address = f"{opts.scheme}://{opts.host}:{opts.port}"
    connector = aiohttp.TCPConnector(ssl=client_ssl if client_ssl is not None else True)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), connector=connector) as session:
        node_id = await _claim_and_register(session, opts, key, address)
        genesis = await _genesis(session, opts, plan)
        joined = [] if any(i.node_id == node_id for i in genesis.identities) else \
            await _await_admission(session, opts, key, node_id, genesis, plan)
        node = _build_node(opts, node_id, key, genesis, plan, joined)
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        wire = opts.scenario.security.wire_encryption
        driver = HttpDriver(node, key, node.membership.verify, peers,
                            cipher=None if wire == "none" else build_cipher(wire),
                            public_key_of=lambda n: node.membership.identities[n].public_key, ssl=client_ssl,
                            chain_id=node.membership.chain_id, wire_log=WireLog(opts.data_dir / "wire.sqlite"))
        await driver.start()
        server.attach(node, driver, plan)
        refresher = asyncio.get_running_loop().create_task(_refresh_peers(session, opts, driver, server.live))
        log.info("%s (%s) serving on %s, height %d", node_id, opts.role, address, node.store.height)
        await wait_for_validators(session, driver, plan.validators)
        driver.submit_local(node.start(time.time()))
        await server.serve_until_stopped(stop, [node.store], [refresher])
