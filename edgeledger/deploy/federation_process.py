"""A federation deployed as processes: a federal chain, local chains and an oracle relay group.

Each chain (``fbc``, ``lbc1``, ``lbc2``, ...) has its own genesis and PBFT validators
(``lbc1.v0``, ...), each its own process. The relay group's members (``relay0``, ...) are
SewingChain's federal-interacting nodes: one process per member holding an identity on
every chain, one follower :class:`Node` per chain (each checks that chain's commit
certificates) and the simulator's :class:`RelayHost` / :class:`RelayCore` unchanged, over
the same :class:`HttpDriver`. Observation nodes (``observer``) are the simulator's
:class:`ObservationHost` over one follower per chain: no vote and no say, they serve
queries (``/v1/query/oracle/...`` on the FBC's proxy, ``/v1/query/xchain/messages/{id}``
across the chains). The ``client`` is an identity on every local chain whose key
stays with the launcher (it signs the applications' transactions, it runs no process).

Setup: the first validator of every chain deploys the gateway (knowing the FBC's genesis
hash and genesis validators, whose certificate alone installs the relay key) and, on local
chains, the :mod:`edgeledger.oracle.xchain_apps` applications; on the FBC it also deploys the
``proxy`` that runs the relay group's distributed key generation and opens it once every
relay has registered. FBC validators tick the chain clock when idle and certify the relay
group the generation registered; each relay takes part in the generation, keeps its share
in a private file and installs the certified key on every gateway
(:mod:`edgeledger.oracle.relay_keys`). With ``key_generation = "dealer"`` (a test device) the
gateways trust the dealt key at deploy and each relay reads its dealt share.
The plan is in :mod:`edgeledger.deploy.federation_plan`; the start-up steps every process
shares in :mod:`edgeledger.deploy.bootstrap`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from typing import Any

import aiohttp

from edgeledger.codec import decode, encode
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.deploy.bootstrap import (
    PlanProcessOptions, ProcessServer, fetch_peers, genesis_from_center, load_identity, register, wait_for_validators,
)
from edgeledger.deploy.federation_plan import (
    INITIAL_STOCK, ORDERS, RELAY_GROUP, SHARE_FILE, STOCK, FederationPlan, load_federation,
)
from edgeledger.deploy.oracle_process import drive_setup
from edgeledger.deploy.plan_files import private_seed, private_store, write_private
from edgeledger.errors import ConfigError
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_meta
from edgeledger.ledger.identity import Genesis, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.net.envelope import WireLog
from edgeledger.net.http import HttpDriver
from edgeledger.node.heartbeat import HeartbeatService, Signer
from edgeledger.node.node import Node
from edgeledger.oracle.multichain import ObservationHost
from edgeledger.web.observe_sources import DashboardPlan

__all__ = ["FederationNodeOptions", "run_federation_node"]

log = logging.getLogger("edgeledger.federation")


FederationNodeOptions = PlanProcessOptions


async def _geneses(session: aiohttp.ClientSession, opts: FederationNodeOptions, plan: FederationPlan,
                   chain_ids: list[str]) -> dict[str, Genesis]:
    """Each chain's genesis from the keys its members registered at the center (stored once made)."""
    deadline = time.monotonic() + opts.genesis_timeout_s
    return {c: await genesis_from_center(session, opts.center, opts.data_dir / f"genesis-{c}.bin", c,
                                         plan.chain(c).validators, plan.chain_members(c), deadline)
            for c in chain_ids}


def _validator_node(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey, genesis: Genesis,
                    signer: Signer) -> Node:
    """A chain's PBFT validator; on the FBC (relay key by key generation) it also ticks the chain
    clock when idle and certifies the relay group the generation registered."""
    from edgeledger.oracle.relay_keys import RelayKeyAttester

    membership = Membership(genesis)
    if membership.identities.get(opts.node_id) is None or \
            membership.identities[opts.node_id].public_key != key.public_key:
        raise ConfigError(f"genesis of {genesis.chain_id} does not hold {opts.node_id!r} with this node's key")
    followers = tuple(plan.relays) + tuple(plan.observers)  # they follow every chain
    consensus = PbftReplica(opts.node_id, key, membership, genesis_hash(genesis),
                            PbftConfig(max_block_txs=200, batch_timeout_s=plan.batch_timeout_s))
    node = Node(node_id=opts.node_id, role="company", key=key, membership=membership,
                store=ChainStore(opts.data_dir / "chain.sqlite"), consensus=consensus, center=None,
                address=f"http://{opts.host}:{opts.port}", observers=followers, followers=followers)
    if genesis.chain_id == plan.fbc and plan.key_generation == "dkg":
        if plan.heartbeat_s:  # the key generation's windows are chain time
            node.add_service(HeartbeatService(signer, plan.heartbeat_s, lambda: True))
        node.add_service(RelayKeyAttester(opts.node_id, key, signer, genesis_hash(genesis), RELAY_GROUP,
                                          lambda: node.state.kv))
    return node


def _saved_share(data_dir: Path) -> Share | None:
    path = data_dir / SHARE_FILE
    return decode(path.read_bytes(), Share) if path.exists() else None


def _relay_host(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey,
                geneses: dict[str, Genesis]) -> Any:
    """The relay's followers of every chain and its relay core: keyed now with the dealt share
    (dealer, tests only), else keyed by the key generation (:class:`RelayKeySetup`)."""
    from edgeledger.oracle.multichain import RelayHost
    from edgeledger.oracle.relay import RelayCore

    group, share = None, None
    if plan.key_generation == "dealer":
        share, group = _saved_share(opts.data_dir), plan.group
        if share is None or group.members.index(opts.node_id) + 1 != share.index or \
                not verify_share(share.index, share, group.commitments):
            raise ConfigError(f"{opts.node_id}: the dealt relay share in {opts.data_dir / SHARE_FILE} is missing or "
                              "fails the Feldman check")
    nodes = _followers(opts, plan, key, geneses, "oracle")
    first_nonce = int(time.time() * 1000) * 1000  # above any nonce an earlier run of this relay used
    return RelayHost(opts.node_id, RelayCore(opts.node_id, key, plan.fbc, group, share, first_nonce), nodes)


def _followers(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey, geneses: dict[str, Genesis],
               role: str) -> dict[str, Node]:
    """One follower node per chain (each verifies its chain's commit certificates); a relay's FBC
    store keeps its key generation's secret state, so every store is private."""
    return {chain_id: Node(node_id=opts.node_id, role=role, key=key, membership=Membership(genesis),
                           store=ChainStore(private_store(opts.data_dir / f"{chain_id}.sqlite")), center=None,
                           validator=plan.chain(chain_id).validators[0])
            for chain_id, genesis in geneses.items()}


def _observer_routes(plan: FederationPlan, followed: dict[str, Node]) -> list[Any]:
    """An observation node's queries: the FBC's proxy (the relay group's key generation:
    ``/v1/query/oracle/groups/relay``) and cross-chain messages across every chain."""
    from edgeledger.oracle.relay_keys import RELAY_PROXY
    from edgeledger.web.oracle_queries import oracle_query_routes, xchain_query_routes

    fbc = plan.fbc
    return oracle_query_routes(lambda: followed[fbc].state if fbc in followed else None, RELAY_PROXY) + \
        xchain_query_routes(lambda: {c: n.state for c, n in followed.items()})


def _relay_setup(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey, host: Any,
                 driver: HttpDriver) -> Any:
    """The relay's part in its group's key generation on the FBC and the key's installation."""
    from edgeledger.oracle.enrollment import oracle_keys
    from edgeledger.oracle.relay_keys import RelayKeySetup

    keys = oracle_keys(private_seed(opts.data_dir / "oracle.seed"), opts.node_id)
    return RelayKeySetup(opts.node_id, key, host, plan.fbc, RELAY_GROUP, plan.chain(plan.fbc).validators, keys,
                         random.SystemRandom(), time.time, driver.apply,
                         lambda share: write_private(opts.data_dir / SHARE_FILE, encode(share)),
                         _saved_share(opts.data_dir))


def _verifier(memberships: list[Membership]) -> Any:
    """Envelope signatures of any member of the chains this process follows."""
    def verify(node_id: str, message: bytes, signature: bytes) -> bool:
        return any(m.verify(node_id, message, signature) for m in memberships if node_id in m.identities)
    return verify


def _gateway_args(plan: FederationPlan, fbc_genesis: Genesis) -> list[Any]:
    """The gateway's trust: the dealt key (tests only), or the FBC genesis validators and hash."""
    if plan.key_generation == "dealer":
        return [plan.fbc, plan.relay_commitments[0]]
    fbc = Membership(fbc_genesis)
    validators = {v: [fbc.identities[v].scheme, fbc.identities[v].public_key] for v in fbc_genesis.validators}
    return [plan.fbc, b"", validators, genesis_hash(fbc_genesis), RELAY_GROUP]


def _setup_calls(plan: FederationPlan, node: Node, fbc_genesis: Genesis) -> list[tuple[str, Any]]:
    """The first validator's setup transactions not yet done: deploys, and on the FBC the opening of
    the relay group's key generation once every relay has registered on the proxy."""
    from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE
    from edgeledger.oracle.dkg import dkg_session
    from edgeledger.oracle.proxy import PROXY_CODE, registered_nodes
    from edgeledger.oracle.relay_keys import RELAY_PROXY
    from edgeledger.oracle.xchain_apps import ORDERS_CODE, STOCK_CODE

    view = node.state.kv
    deploys = [ContractDeploy(name=GATEWAY, code=GATEWAY_CODE, version=1, args=_gateway_args(plan, fbc_genesis))]
    on_fbc = node.membership.chain_id == plan.fbc
    if not on_fbc:
        deploys += [ContractDeploy(name=STOCK, code=STOCK_CODE, version=1, args=[INITIAL_STOCK]),
                    ContractDeploy(name=ORDERS, code=ORDERS_CODE, version=1, args=[])]
    elif plan.key_generation == "dkg":  # no election runs on this proxy: it hosts the key generation
        deploys.append(ContractDeploy(name=RELAY_PROXY, code=PROXY_CODE, version=1, args=[bytes(32), 1000, 1000]))
    calls: list[tuple[str, Any]] = [("contract.deploy", d) for d in deploys if contract_meta(view, d.name) is None]
    if on_fbc and plan.key_generation == "dkg" and contract_meta(view, RELAY_PROXY) is not None and \
            all(r in registered_nodes(view, RELAY_PROXY) for r in plan.relays) and \
            dkg_session(view, RELAY_PROXY, RELAY_GROUP) is None:
        calls.append(("contract.call", ContractCall(contract=RELAY_PROXY, method="open_group",
                                                    args=[RELAY_GROUP, list(plan.relays), plan.dkg_window_ms])))
    return calls


async def _operate(plan: FederationPlan, node: Node, signer: Signer, driver: HttpDriver,
                   fbc_genesis: Genesis) -> None:
    """The first validator of a chain submits its setup steps (resubmitted every 5 s until done)."""
    sent = 0.0
    while True:
        try:
            calls = _setup_calls(plan, node, fbc_genesis)
            if calls and time.monotonic() - sent > 5.0:
                sent = time.monotonic()
                for kind, payload in calls:
                    log.info("%s: setup step %s", node.node_id, getattr(payload, "name", getattr(payload, "method", "")))
                    driver.submit_local(node.submit(signer.sign(kind, payload), time.time()))
        except Exception:  # a setup pass must never take the process down
            log.exception("%s: setup pass failed", node.node_id)
            calls = [("retry", None)]
        await asyncio.sleep(0.1 if calls else 2.0)


async def run_federation_node(opts: FederationNodeOptions, stop: asyncio.Event | None = None) -> None:
    """Run one validator, relay or observation node of the federation until ``stop`` is set (or an admin shuts it down)."""
    import edgeledger.oracle  # noqa: F401  (registers the gateway and the xchain.* kinds)
    import edgeledger.oracle.xchain_apps  # noqa: F401

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    plan = load_federation(opts.plan_file)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per protocol batch: too chatty
    if opts.node_id not in plan.members:
        raise ConfigError(f"--id {opts.node_id!r} is not in the federation plan; expected one of {plan.members}")
    is_relay, is_observer = opts.node_id in plan.relays, opts.node_id in plan.observers
    chain_ids = [c.chain_id for c in plan.chains] if is_relay or is_observer else \
        [c.chain_id for c in plan.chains if opts.node_id in c.validators]
    key = load_identity(opts.data_dir, "ed25519")
    signer = Signer(key, opts.node_id, nonce=int(time.time() * 1000) * 1000)  # above any earlier run's nonces
    followed: dict[str, Node] = {}  # an observation node's followers, once built (its query routes read them)
    server = ProcessServer(opts.admin_token, _observer_routes(plan, followed) if is_observer else (),
                           data_dir=opts.data_dir)
    opts.port = await server.start(opts.host, opts.port)  # --listen HOST:0: the port the OS gave us
    address = f"http://{opts.host}:{opts.port}"
    tasks: list[asyncio.Task[None]] = []
    role = "oracle" if is_relay else "observer" if is_observer else "company"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await register(session, opts.center, key, opts.node_id, role, address)
        operator = role == "company" and opts.node_id == plan.chain(chain_ids[0]).validators[0]
        # an operator also needs the FBC's genesis: its gateway trusts the FBC's genesis validators
        geneses = await _geneses(session, opts, plan, sorted(set(chain_ids) | ({plan.fbc} if operator else set())))
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        if is_relay:
            host = _relay_host(opts, plan, key, geneses)
            nodes = list(host.nodes.values())
        elif is_observer:
            followed.update(_followers(opts, plan, key, geneses, "observer"))
            host = ObservationHost(opts.node_id, key, followed)
            nodes = list(followed.values())
        else:
            host = _validator_node(opts, plan, key, geneses[chain_ids[0]], signer)
            nodes = [host]
        api_node = nodes[0] if role == "company" else host.nodes[plan.fbc]  # relays and observers show the FBC
        driver = HttpDriver(host, key, _verifier([n.membership for n in nodes]), peers, chain_id=plan.fbc,
                            wire_log=WireLog(opts.data_dir / "wire.sqlite"))  # the federation's id: one wire
        await driver.start()
        shown = api_node.membership.chain_id
        server.attach(api_node, driver, DashboardPlan(plan.chain_members(shown), plan.chain(shown).validators))
        log.info("%s serving on %s, chains %s", opts.node_id, address, chain_ids)
        if role == "company":
            await wait_for_validators(session, driver, plan.chain(chain_ids[0]).validators)
            driver.submit_local(host.start(time.time()))
            if operator:
                tasks.append(asyncio.get_running_loop().create_task(
                    _operate(plan, host, signer, driver, geneses[plan.fbc])))
        elif is_relay and plan.key_generation == "dkg":
            setup = _relay_setup(opts, plan, key, host, driver)
            for n in nodes:  # a follower's start resumes its services (the key generation's saved state)
                driver.submit_local(n.start(time.time()))
            tasks.append(asyncio.get_running_loop().create_task(drive_setup(setup)))
        await server.serve_until_stopped(stop, [n.store for n in nodes], tasks)
