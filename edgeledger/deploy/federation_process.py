"""A federation deployed as processes: a federal chain, local chains and an oracle relay group.

Each chain (``fbc``, ``lbc1``, ``lbc2``, ...) has its own genesis and PBFT validators
(``lbc1.v0``, ...), each its own process. The relay group's members (``relay0``, ...) are
SewingChain's federal-interacting nodes: one process per member holding an identity on
every chain, one follower :class:`Node` per chain (each checks that chain's commit
certificates) and the simulator's :class:`RelayHost` / :class:`RelayCore` unchanged, over
the same :class:`HttpDriver`. The ``client`` is an identity on every local chain whose key
stays with the launcher (it signs the applications' transactions, it runs no process).

Setup: the first validator of every chain deploys the gateway (trusting the dealt relay
group key) and, on local chains, the :mod:`edgeledger.oracle.xchain_apps` applications.
The plan and its dealer are in :mod:`edgeledger.deploy.federation_plan`; the start-up steps
every process shares in :mod:`edgeledger.deploy.bootstrap`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from edgeledger.codec import decode
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.deploy.bootstrap import (
    PlanProcessOptions, ProcessServer, fetch_peers, genesis_from_center, load_identity, register, wait_for_validators,
)
from edgeledger.deploy.federation_plan import INITIAL_STOCK, ORDERS, SHARE_FILE, STOCK, FederationPlan, load_federation
from edgeledger.errors import ConfigError
from edgeledger.ledger.contracts import ContractDeploy, contract_meta
from edgeledger.ledger.identity import Genesis, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.envelope import WireLog
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
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


def _validator_node(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey, genesis: Genesis) -> Node:
    membership = Membership(genesis)
    if membership.identities.get(opts.node_id) is None or \
            membership.identities[opts.node_id].public_key != key.public_key:
        raise ConfigError(f"genesis of {genesis.chain_id} does not hold {opts.node_id!r} with this node's key")
    relays = tuple(plan.relays)
    consensus = PbftReplica(opts.node_id, key, membership, genesis_hash(genesis),
                            PbftConfig(max_block_txs=200, batch_timeout_s=plan.batch_timeout_s))
    return Node(node_id=opts.node_id, role="company", key=key, membership=membership,
                store=ChainStore(opts.data_dir / "chain.sqlite"), consensus=consensus, center=None,
                address=f"http://{opts.host}:{opts.port}", observers=relays, followers=relays)


def _relay_host(opts: FederationNodeOptions, plan: FederationPlan, key: PrivateKey,
                geneses: dict[str, Genesis]) -> Any:
    from edgeledger.oracle.multichain import RelayHost
    from edgeledger.oracle.relay import RelayCore

    share = decode((opts.data_dir / SHARE_FILE).read_bytes(), Share)
    group = plan.group
    if group.members.index(opts.node_id) + 1 != share.index or \
            not verify_share(share.index, share, group.commitments):
        raise ConfigError(f"{opts.node_id}: the dealt relay share fails the Feldman check")
    nodes = {}
    for chain_id, genesis in geneses.items():
        nodes[chain_id] = Node(node_id=opts.node_id, role="oracle", key=key, membership=Membership(genesis),
                               store=ChainStore(opts.data_dir / f"{chain_id}.sqlite"), center=None,
                               validator=plan.chain(chain_id).validators[0])
    return RelayHost(opts.node_id, RelayCore(opts.node_id, key, plan.fbc, group, share), nodes)


def _verifier(memberships: list[Membership]) -> Any:
    """Envelope signatures of any member of the chains this process follows."""
    def verify(node_id: str, message: bytes, signature: bytes) -> bool:
        return any(m.verify(node_id, message, signature) for m in memberships if node_id in m.identities)
    return verify


async def _operate(plan: FederationPlan, node: Node, key: PrivateKey, driver: HttpDriver) -> None:
    """The first validator of a chain deploys its gateway and, on a local chain, the applications."""
    from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE
    from edgeledger.oracle.xchain_apps import ORDERS_CODE, STOCK_CODE

    deploys = [ContractDeploy(name=GATEWAY, code=GATEWAY_CODE, version=1, args=[plan.fbc, plan.relay_commitments[0]])]
    if node.membership.chain_id != plan.fbc:
        deploys += [ContractDeploy(name=STOCK, code=STOCK_CODE, version=1, args=[INITIAL_STOCK]),
                    ContractDeploy(name=ORDERS, code=ORDERS_CODE, version=1, args=[])]
    nonce, sent = int(time.time() * 1000) * 1000, 0.0
    while True:
        missing = [d for d in deploys if contract_meta(node.state.kv, d.name) is None]
        if missing and time.monotonic() - sent > 5.0:
            sent = time.monotonic()
            for d in missing:
                nonce += 1
                driver.submit_local(node.submit(make_transaction(key, node.node_id, nonce, "contract.deploy", d),
                                                time.time()))
        await asyncio.sleep(0.1 if missing else 2.0)


async def run_federation_node(opts: FederationNodeOptions, stop: asyncio.Event | None = None) -> None:
    """Run one validator or relay of the federation until ``stop`` is set (or an admin shuts it down)."""
    import edgeledger.oracle  # noqa: F401  (registers the gateway and the xchain.* kinds)
    import edgeledger.oracle.xchain_apps  # noqa: F401

    opts.data_dir.mkdir(parents=True, exist_ok=True)
    plan = load_federation(opts.plan_file)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per protocol batch: too chatty
    if opts.node_id not in plan.members:
        raise ConfigError(f"--id {opts.node_id!r} is not in the federation plan; expected one of {plan.members}")
    is_relay = opts.node_id in plan.relays
    chain_ids = [c.chain_id for c in plan.chains] if is_relay else \
        [c.chain_id for c in plan.chains if opts.node_id in c.validators]
    key = load_identity(opts.data_dir, "ed25519")
    server = ProcessServer(opts.admin_token, data_dir=opts.data_dir)
    opts.port = await server.start(opts.host, opts.port)  # --listen HOST:0: the port the OS gave us
    address = f"http://{opts.host}:{opts.port}"
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await register(session, opts.center, key, opts.node_id, "oracle" if is_relay else "company", address)
        geneses = await _geneses(session, opts, plan, chain_ids)
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        if is_relay:
            host = _relay_host(opts, plan, key, geneses)
            nodes = list(host.nodes.values())
            api_node = host.nodes[plan.fbc]
        else:
            api_node = host = _validator_node(opts, plan, key, geneses[chain_ids[0]])
            nodes = [host]
        driver = HttpDriver(host, key, _verifier([n.membership for n in nodes]), peers, chain_id=plan.fbc,
                            wire_log=WireLog(opts.data_dir / "wire.sqlite"))  # the federation's id: one wire
        await driver.start()
        shown = api_node.membership.chain_id  # a relay's API and dashboard show the FBC
        server.attach(api_node, driver, DashboardPlan(plan.chain_members(shown), plan.chain(shown).validators))
        log.info("%s serving on %s, chains %s", opts.node_id, address, chain_ids)
        if not is_relay:
            await wait_for_validators(session, driver, plan.chain(chain_ids[0]).validators)
            driver.submit_local(host.start(time.time()))
            if opts.node_id == plan.chain(chain_ids[0]).validators[0]:
                tasks.append(asyncio.get_running_loop().create_task(_operate(plan, host, key, driver)))
        await server.serve_until_stopped(stop, [n.store for n in nodes], tasks)
