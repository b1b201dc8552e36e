"""One process of a Pedal oracle network: ``edgeledger oracle node --id ID --plan FILE ...``.

Validators, oracle nodes and the requester are each their own OS process. Start-up
follows ``edgeledger node``: load or create the identity (a random seed in the data
directory), register the signed address with the communication center under the id the
plan names, wait until every member of the plan has registered, derive the genesis from
the registered keys (identical everywhere, stored so a restart never asks again), then
resume the chain from SQLite and serve the protocol endpoint and the REST API through the
same :class:`HttpDriver` the FL deployment uses. Validators run PBFT; oracle nodes run the
simulator's :class:`PedalCore` inside :class:`OracleService`, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import ConfigError
from edgeledger.ledger.blobs import DirectoryBlobStore
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.net.http import HttpDriver
from edgeledger.node.center import make_registration
from edgeledger.node.node import Node
from edgeledger.web.api import NodeApi
from edgeledger.web.observe import install_observe
from edgeledger.web.observe_sources import LiveSource
from edgeledger.deploy.node_process import (
    _identity, _json_post, _wait_for_validators, await_registered, fetch_peers, serve_until_stopped,
)
from edgeledger.deploy.oracle_plan import OracleNetworkPlan, load_plan
from edgeledger.deploy.oracle_roles import OracleRole, role_for

__all__ = ["PlanProcessOptions", "OracleNodeOptions", "run_oracle_node", "DashboardPlan", "install_dashboard"]

log = logging.getLogger("edgeledger.oracle")


@dataclass(frozen=True)
class DashboardPlan:
    """What the /observe dashboard asks of a topology: every member's role and the validators."""

    roles: dict[str, str]
    validators: list[str]
    edge_of: dict[str, str] = field(default_factory=dict)


def install_dashboard(app: web.Application, api: NodeApi) -> None:
    """The live /observe dashboard (the page every deployed node serves), and / redirecting to it."""
    install_observe(app, LiveSource(api), subscribe=api.listeners.append)

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound("/observe/")

    app.router.add_get("/", root)


@dataclass
class PlanProcessOptions:
    """How to start one process of a plan-driven network (an oracle network or a federation)."""

    node_id: str
    plan_file: Path
    center: str
    data_dir: Path
    host: str
    port: int
    admin_token: str | None = None
    genesis_timeout_s: float = 60.0


OracleNodeOptions = PlanProcessOptions


async def _register(session: aiohttp.ClientSession, opts: OracleNodeOptions, key: PrivateKey, role: str,
                    address: str) -> None:
    status, body = await _json_post(session, f"{opts.center}/v1/register",
                                    encode(make_registration(key, opts.node_id, role, address)))
    if status != 200:
        raise ConfigError(f"center refused the registration of {opts.node_id!r}: {body.decode(errors='replace')}")


async def _genesis(session: aiohttp.ClientSession, opts: OracleNodeOptions, plan: OracleNetworkPlan) -> Genesis:
    """The chain's genesis from the keys every member registered (stored after the first start)."""
    path = opts.data_dir / "genesis.bin"
    if path.exists():
        return decode(path.read_bytes(), Genesis)
    deadline = time.monotonic() + opts.genesis_timeout_s
    peers = await await_registered(session, opts.center, plan.members, deadline, 0.1, lambda missing: (
        f"genesis: {len(missing)} members never registered with the center: {missing[:5]}"))
    genesis = Genesis(chain_id=plan.chain_id, validators=plan.validators, identities=[
        Identity(node_id=n, role=plan.role_of(n), scheme=peers[n].scheme, public_key=peers[n].public_key)
        for n in plan.members])
    path.write_bytes(encode(genesis))
    return genesis


def _build_node(opts: OracleNodeOptions, plan: OracleNetworkPlan, key: PrivateKey, genesis: Genesis) -> Node:
    membership = Membership(genesis)
    ident = membership.identities.get(opts.node_id)
    if ident is None or ident.public_key != key.public_key:
        raise ConfigError(f"genesis does not hold {opts.node_id!r} with this node's key: the data directory belongs "
                          "to another network (delete it or point --data-dir elsewhere)")
    followers = tuple(plan.oracles) + (plan.requester,)
    consensus = None
    if opts.node_id in plan.validators:
        config = PbftConfig(max_block_txs=200, batch_timeout_s=plan.batch_timeout_s,
                            view_change_timeout_s=plan.view_change_timeout_s)
        consensus = PbftReplica(opts.node_id, key, membership, genesis_hash(genesis), config)
    return Node(node_id=opts.node_id, role=plan.role_of(opts.node_id), key=key, membership=membership,
                store=ChainStore(opts.data_dir / "chain.sqlite"), blobs=DirectoryBlobStore(opts.data_dir / "blobs"),
                consensus=consensus, center=None, address=f"http://{opts.host}:{opts.port}", defer_compute=True,
                observers=followers if consensus else (), followers=followers,
                validator=None if consensus else plan.validators[0])


async def _setup(role: OracleRole) -> None:
    """Drive the role's setup steps until the network is ready (then keep an eye on it slowly)."""
    while True:
        try:
            role.tick()
        except Exception:  # a setup pass must never take the process down
            log.exception("%s: setup pass failed", role.node_id)
        await asyncio.sleep(0.1 if not role.ready() else 2.0)


async def run_oracle_node(opts: OracleNodeOptions, stop: asyncio.Event | None = None) -> None:
    """Run one member of the oracle network until ``stop`` is set (or an admin shuts it down)."""
    import edgeledger.oracle  # noqa: F401  (registers the proxy/feed contracts and oracle.fulfill)

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    plan = load_plan(opts.plan_file)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per protocol batch: too chatty
    role_name = plan.role_of(opts.node_id)
    key = _identity(opts.data_dir, "ed25519")
    role = role_for(plan, opts.node_id, key, opts.data_dir)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    holder: dict[str, HttpDriver] = {}
    app.router.add_post("/v1/messages", lambda r: holder["driver"].handle_messages(r))
    api = NodeApi(admin_token=opts.admin_token)
    api.install(app)
    app.add_routes(role.routes())
    install_dashboard(app, api)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, opts.host, opts.port).start()
    opts.port = opts.port or int(runner.addresses[0][1])  # --listen HOST:0: the port the OS gave us
    address = f"http://{opts.host}:{opts.port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await _register(session, opts, key, role_name, address)
        genesis = await _genesis(session, opts, plan)
        node = _build_node(opts, plan, key, genesis)
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        driver = HttpDriver(node, key, node.membership.verify, peers)
        holder["driver"] = driver
        await driver.start()
        api.attach(node, driver, DashboardPlan({n: plan.role_of(n) for n in plan.members}, plan.validators))
        role.attach(node, driver)
        log.info("%s (%s) serving on %s, height %d", opts.node_id, role_name, address, node.store.height)
        await _wait_for_validators(session, driver, plan.validators)
        driver.submit_local(node.start(time.time()))
        setup = asyncio.get_running_loop().create_task(_setup(role))
        await serve_until_stopped(api, stop, driver, runner, [node.store], [setup])
