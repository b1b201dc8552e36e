"""One process of a Pedal oracle network: ``edgeledger oracle node --id ID --plan FILE ...``.

Validators, oracle nodes, the requester and the observation nodes are each their own OS
process. Start-up is the shared one of :mod:`edgeledger.deploy.bootstrap` (identity, HTTP,
registration under the id the plan names, the genesis from the registered keys); then the
process resumes its chain from SQLite and serves through the same :class:`HttpDriver` the FL
deployment uses. Validators run PBFT and tick the chain clock while it idles; every member
runs its :mod:`edgeledger.oracle.roles` role, and oracle nodes run the simulator's
:class:`PedalCore` and key generation, unchanged. Observation nodes follow the chain and
serve the query API (:mod:`edgeledger.web.oracle_queries`). This module gives the roles what
they may not take themselves (clock, keys, entropy, shares in the data directory, the source
and its real waiting) and serves their reports over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol
from pathlib import Path

import aiohttp

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey
from edgeledger.deploy.bootstrap import (
    PlanProcessOptions, ProcessServer, fetch_peers, genesis_from_center, load_identity, register, wait_for_validators,
)
from edgeledger.deploy.oracle_plan import PROXY, OracleNetworkPlan, build_source, load_plan, load_shares, save_share
from edgeledger.deploy.plan_files import private_seed, private_store
from edgeledger.errors import ConfigError
from edgeledger.ledger.blobs import DirectoryBlobStore
from edgeledger.ledger.identity import Genesis, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.net.envelope import WireLog
from edgeledger.net.http import HttpDriver
from edgeledger.node.heartbeat import HeartbeatService
from edgeledger.node.node import Node
from edgeledger.oracle.enrollment import oracle_keys
from edgeledger.oracle.pedal import FetchJob
from edgeledger.oracle.roles import Operator, OracleMember, OracleRole, Requester
from edgeledger.oracle.service import WorkResult
from edgeledger.oracle.simnet import source_work
from edgeledger.web.observe_sources import DashboardPlan
from edgeledger.web.oracle_api import oracle_routes
from edgeledger.web.oracle_queries import oracle_query_routes
from edgeledger.web.routes import Route

__all__ = ["OracleNodeOptions", "MemberPlan", "build_member_node", "drive_setup", "run_oracle_node", "role_for",
           "role_routes"]

log = logging.getLogger("edgeledger.oracle")


OracleNodeOptions = PlanProcessOptions


def _waiting_work(read: Callable[[FetchJob], WorkResult]) -> Callable[[FetchJob], WorkResult]:
    """``read``, then the source's delay as real waiting (the driver runs work off the event loop)."""
    def work(job: FetchJob) -> WorkResult:
        result = read(job)
        time.sleep(result.duration_s)
        return result
    return work


def role_for(plan: OracleNetworkPlan, node_id: str, key: PrivateKey, data_dir: Path) -> OracleRole:
    """The role of ``node_id`` in ``plan``, with its keys, shares and source from ``data_dir``."""
    if node_id == plan.validators[0]:
        return Operator(plan, node_id, key, time.time)
    if node_id == plan.requester:
        return Requester(plan, node_id, key, time.time)
    if node_id in plan.oracles:
        read = source_work({node_id: build_source(plan.sources[node_id], plan.sensor_seed)})(node_id)
        return OracleMember(plan, node_id, key, time.time, oracle_keys(private_seed(data_dir / "oracle.seed"), node_id),
                            load_shares(data_dir), _waiting_work(read),
                            lambda call: asyncio.get_running_loop().call_soon(call),
                            save_share=lambda group_id, share: save_share(data_dir, group_id, share),
                            rng=random.SystemRandom())
    return OracleRole(plan, node_id, key, time.time)


def role_routes(role: OracleRole) -> list[Route]:
    """``GET /v1/oracle/status``; on the requester ``POST``/``GET /v1/oracle/requests`` too; on an
    observation node the query API (``GET /v1/query/oracle/...``)."""
    routes = oracle_routes(role)
    if role.plan.role_of(role.node_id) == "observer":
        routes += oracle_query_routes(lambda: role.node.state if role.node is not None else None, PROXY)
    return routes


class MemberPlan(Protocol):
    """What :func:`build_member_node` reads of a plan (the oracle network's, the plant's)."""
    @property
    def validators(self) -> list[str]: ...
    @property
    def batch_timeout_s(self) -> float: ...
    @property
    def view_change_timeout_s(self) -> float: ...
    @property
    def heartbeat_s(self) -> float: ...

    def role_of(self, node_id: str) -> str: ...


def build_member_node(opts: PlanProcessOptions, plan: MemberPlan, key: PrivateKey, genesis: Genesis,
                      role: OracleRole, followers: tuple[str, ...], blobs: DirectoryBlobStore) -> Node:
    """A chain member of a plan: a PBFT validator (ticking the chain clock every ``heartbeat_s``
    while the chain idles) or a follower of the first validator; ``followers`` get the blocks."""
    membership = Membership(genesis)
    ident = membership.identities.get(opts.node_id)
    if ident is None or ident.public_key != key.public_key:
        raise ConfigError(f"genesis does not hold {opts.node_id!r} with this node's key: the data directory belongs "
                          "to another network (delete it or point --data-dir elsewhere)")
    consensus = None
    if opts.node_id in plan.validators:
        config = PbftConfig(max_block_txs=200, batch_timeout_s=plan.batch_timeout_s,
                            view_change_timeout_s=plan.view_change_timeout_s)
        consensus = PbftReplica(opts.node_id, key, membership, genesis_hash(genesis), config)
    node = Node(node_id=opts.node_id, role=plan.role_of(opts.node_id), key=key, membership=membership,
                store=ChainStore(private_store(opts.data_dir / "chain.sqlite")), blobs=blobs,  # keeps DKG secrets
                consensus=consensus, center=None, address=f"http://{opts.host}:{opts.port}", defer_compute=True,
                observers=followers if consensus else (), followers=followers,
                validator=None if consensus else plan.validators[0])
    if consensus is not None and plan.heartbeat_s:  # the chain clock moves while the chain idles
        node.add_service(HeartbeatService(role.signer, plan.heartbeat_s, lambda: True))
    node.store.start_writer()  # store commits (fsyncs) on the writer thread; the driver releases effects after them
    return node


async def drive_setup(role: OracleRole, idle_s: float = 2.0) -> None:
    """Drive the role's setup steps until the network is ready (then every ``idle_s``, to keep an eye on it)."""
    while True:
        try:
            role.tick()
        except Exception:  # a setup pass must never take the process down
            log.exception("%s: setup pass failed", role.node_id)
        await asyncio.sleep(0.1 if not role.ready() else idle_s)


async def run_oracle_node(opts: OracleNodeOptions, stop: asyncio.Event | None = None) -> None:
    """Run one member of the oracle network until ``stop`` is set (or an admin shuts it down)."""
    import edgeledger.oracle  # noqa: F401  (registers the proxy/feed contracts and oracle.fulfill)

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    plan = load_plan(opts.plan_file)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per protocol batch: too chatty
    role_name = plan.role_of(opts.node_id)
    key = load_identity(opts.data_dir, "ed25519")
    role = role_for(plan, opts.node_id, key, opts.data_dir)
    server = ProcessServer(opts.admin_token, role_routes(role), data_dir=opts.data_dir)
    opts.port = await server.start(opts.host, opts.port)  # --listen HOST:0: the port the OS gave us
    address = f"http://{opts.host}:{opts.port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await register(session, opts.center, key, opts.node_id, role_name, address)
        genesis = await genesis_from_center(
            session, opts.center, opts.data_dir / "genesis.bin", plan.chain_id, plan.validators,
            {n: plan.role_of(n) for n in plan.members}, time.monotonic() + opts.genesis_timeout_s)
        node = build_member_node(opts, plan, key, genesis, role,
                                 tuple(plan.oracles) + (plan.requester,) + tuple(plan.observers),
                                 DirectoryBlobStore(opts.data_dir / "blobs"))
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        driver = HttpDriver(node, key, node.membership.verify, peers, chain_id=node.membership.chain_id,
                            wire_log=WireLog(opts.data_dir / "wire.sqlite"))
        await driver.start()
        server.attach(node, driver, DashboardPlan({n: plan.role_of(n) for n in plan.members}, plan.validators))
        role.attach(node, driver)
        log.info("%s (%s) serving on %s, height %d", opts.node_id, role_name, address, node.store.height)
        await wait_for_validators(session, driver, plan.validators)
        driver.submit_local(node.start(time.time()))
        setup = asyncio.get_running_loop().create_task(drive_setup(role))
        await server.serve_until_stopped(stop, [node.store], [setup])
