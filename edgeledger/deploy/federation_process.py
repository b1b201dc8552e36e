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
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.errors import ConfigError
from edgeledger.ledger.contracts import ContractDeploy, contract_meta
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.http import HttpDriver
from edgeledger.node.center import make_registration
from edgeledger.node.node import Node
from edgeledger.oracle.enrollment import deal_groups
from edgeledger.oracle.records import OracleGroup
from edgeledger.web.api import NodeApi
from edgeledger.deploy.node_process import (
    _identity, _json_post, _wait_for_validators, await_registered, fetch_peers, serve_until_stopped,
)
from edgeledger.deploy.oracle_process import DashboardPlan, PlanProcessOptions, install_dashboard

__all__ = ["ChainSpec", "FederationPlan", "plan_federation", "deal_federation", "load_federation",
           "FederationNodeOptions", "run_federation_node", "FEDERATION_FILE", "STOCK", "ORDERS", "INITIAL_STOCK"]

log = logging.getLogger("edgeledger.federation")
FEDERATION_FILE = "federation-plan.json"
SHARE_FILE = "relay-share.bin"
STOCK, ORDERS = "stock", "orders"
INITIAL_STOCK = 1000


class ChainSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    validators: list[str]


class FederationPlan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chains: list[ChainSpec]  # the first one is the federal chain
    relays: list[str]
    client: str
    relay_threshold: int = 0
    relay_commitments: list[bytes] = []  # C_0 is the relay group's key, trusted by every gateway
    batch_timeout_s: float = 0.05

    @property
    def fbc(self) -> str:
        return self.chains[0].chain_id

    @property
    def validators(self) -> list[str]:
        return [v for c in self.chains for v in c.validators]

    @property
    def members(self) -> list[str]:
        """Every process, in start order (the client runs none)."""
        return self.validators + self.relays

    def chain(self, chain_id: str) -> ChainSpec:
        found = next((c for c in self.chains if c.chain_id == chain_id), None)
        if found is None:
            raise ConfigError(f"chain {chain_id!r} is not in the federation; expected one of "
                              f"{[c.chain_id for c in self.chains]}")
        return found

    def chain_members(self, chain_id: str) -> dict[str, str]:
        """node id -> role in ``chain_id``'s genesis: its validators, every relay, the client on LBCs."""
        roles = {v: "company" for v in self.chain(chain_id).validators}
        roles.update({r: "oracle" for r in self.relays})
        if chain_id != self.fbc:
            roles[self.client] = "device"
        return roles

    @property
    def group(self) -> OracleGroup:
        return OracleGroup(group_id="relay", members=self.relays, commitments=self.relay_commitments,
                           threshold=self.relay_threshold)


def plan_federation(lbcs: int = 2, validators_per_chain: int = 4, relays: int = 4) -> FederationPlan:
    if lbcs < 2 or validators_per_chain < 1 or relays < 1:
        raise ConfigError(f"a federation needs >= 2 local chains, >= 1 validator per chain and >= 1 relay, got "
                          f"{lbcs}, {validators_per_chain}, {relays}")
    chains = [ChainSpec(chain_id=c, validators=[f"{c}.v{i}" for i in range(validators_per_chain)])
              for c in ["fbc"] + [f"lbc{i + 1}" for i in range(lbcs)]]
    return FederationPlan(chains=chains, relays=[f"relay{i}" for i in range(relays)], client="client")


def deal_federation(plan: FederationPlan, root: Path) -> FederationPlan:
    """Deal the relay group's key (real entropy), give each relay its share, write the plan."""
    root.mkdir(parents=True, exist_ok=True)
    (group,), shares = deal_groups({"relay": plan.relays}, random.SystemRandom())
    for r in plan.relays:
        (root / r).mkdir(parents=True, exist_ok=True)
        path = root / r / SHARE_FILE
        path.write_bytes(encode(shares[r]["relay"]))
        path.chmod(0o600)
    plan = msgspec.structs.replace(plan, relay_threshold=group.threshold, relay_commitments=group.commitments)
    (root / FEDERATION_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(plan)))
    return plan


def load_federation(path: Path) -> FederationPlan:
    try:
        return msgspec.json.decode(path.read_bytes(), type=FederationPlan)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"federation plan {str(path)!r} cannot be read: {exc}") from None


FederationNodeOptions = PlanProcessOptions


async def _geneses(session: aiohttp.ClientSession, opts: FederationNodeOptions, plan: FederationPlan,
                   chain_ids: list[str]) -> dict[str, Genesis]:
    """Each chain's genesis from the keys its members registered at the center (stored once made)."""
    out: dict[str, Genesis] = {}
    deadline = time.monotonic() + opts.genesis_timeout_s
    for chain_id in chain_ids:
        path = opts.data_dir / f"genesis-{chain_id}.bin"
        if path.exists():
            out[chain_id] = decode(path.read_bytes(), Genesis)
            continue
        roles = plan.chain_members(chain_id)
        peers = await await_registered(session, opts.center, list(roles), deadline, 0.1, lambda missing, c=chain_id: (
            f"genesis of {c}: {missing[:5]} never registered with the center"))
        out[chain_id] = Genesis(chain_id=chain_id, validators=plan.chain(chain_id).validators, identities=[
            Identity(node_id=n, role=r, scheme=peers[n].scheme, public_key=peers[n].public_key)
            for n, r in roles.items()])
        path.write_bytes(encode(out[chain_id]))
    return out


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
    key = _identity(opts.data_dir, "ed25519")
    app = web.Application(client_max_size=64 * 1024 * 1024)
    holder: dict[str, HttpDriver] = {}
    app.router.add_post("/v1/messages", lambda r: holder["driver"].handle_messages(r))
    api = NodeApi(admin_token=opts.admin_token)
    api.install(app)
    install_dashboard(app, api)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, opts.host, opts.port).start()
    opts.port = opts.port or int(runner.addresses[0][1])  # --listen HOST:0: the port the OS gave us
    address = f"http://{opts.host}:{opts.port}"
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        status, body = await _json_post(session, f"{opts.center}/v1/register", encode(make_registration(
            key, opts.node_id, "oracle" if is_relay else "company", address)))
        if status != 200:
            raise ConfigError(f"center refused {opts.node_id!r}: {body.decode(errors='replace')}")
        geneses = await _geneses(session, opts, plan, chain_ids)
        peers = {p.node_id: p.address for p in (await fetch_peers(session, opts.center)).peers}
        if is_relay:
            host = _relay_host(opts, plan, key, geneses)
            nodes = list(host.nodes.values())
            api_node = host.nodes[plan.fbc]
        else:
            api_node = host = _validator_node(opts, plan, key, geneses[chain_ids[0]])
            nodes = [host]
        driver = HttpDriver(host, key, _verifier([n.membership for n in nodes]), peers)
        holder["driver"] = driver
        await driver.start()
        shown = api_node.membership.chain_id  # a relay's API and dashboard show the FBC
        api.attach(api_node, driver, DashboardPlan(plan.chain_members(shown), plan.chain(shown).validators))
        log.info("%s serving on %s, chains %s", opts.node_id, address, chain_ids)
        if not is_relay:
            await _wait_for_validators(session, driver, plan.chain(chain_ids[0]).validators)
            driver.submit_local(host.start(time.time()))
            if opts.node_id == plan.chain(chain_ids[0]).validators[0]:
                tasks.append(asyncio.get_running_loop().create_task(_operate(plan, host, key, driver)))
        await serve_until_stopped(api, stop, driver, runner, [n.store for n in nodes], tasks)
