"""A Pedal oracle network on a PBFT chain inside the discrete-event simulator.

:func:`build_oracle_chain` adds one chain's hosts to a :class:`Simulator`: ``v*`` validators
(PBFT, ticking the chain clock with a heartbeat), oracle nodes that follow the chain as
observers, and a requester. Several calls with different ``chain_id`` give several chains in
one simulation (node ids carry the chain id). Setup (proxy deployment, oracle registration,
each group's distributed key generation, application deployment) goes through consensus like
any transaction; :meth:`OracleChain.request` files a request and
:attr:`OracleChain.latencies` records request-to-callback times. ``key_generation="dealer"``
keeps the trusted dealer, for tests that need groups without running the generation.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.crypto.keys import PrivateKey, derive_key
from edgeledger.effects import Effect
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.net.sim import Simulator
from edgeledger.node.node import Node
from edgeledger.node.service import Service
from edgeledger.oracle.data_oracle import FEED_CODE
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.node.heartbeat import HeartbeatService, Signer
from edgeledger.oracle.dkg import DEFAULT_DKG_WINDOW_MS
from edgeledger.oracle.dkg_member import DkgFaults, DkgMember, KeyGenService
from edgeledger.oracle.enrollment import (
    deal_groups,
    group_call,
    oracle_keys,
    registration_call,
)
from edgeledger.oracle.pedal import FetchJob, PedalConfig, PedalCore, ResultAggregator
from edgeledger.oracle.proxy import PROXY_CODE, request_body
from edgeledger.oracle.service import OracleService, WorkResult
from edgeledger.oracle.sources import Source
from edgeledger.oracle.stake import JUNK

__all__ = ["CallbackWatch", "OracleChain", "build_oracle_chain", "source_work"]

PROXY = "oracle"
FEED = "feed"


def source_work(sources: Mapping[str, Source]) -> Callable[[str], Callable[[FetchJob], WorkResult]]:
    """Per node, a ``work`` function reading that node's source for a data request. A request it
    cannot serve -- parameters that are not ``{"unit": <name>}``, a sensor name that is not 1..64
    printable characters -- is junk: the node observes :data:`~edgeledger.oracle.stake.JUNK`."""

    def for_node(node_id: str) -> Callable[[FetchJob], WorkResult]:
        def work(job: FetchJob) -> WorkResult:
            req = job.request
            if not _well_formed(req.params, req.source):
                return WorkResult(JUNK, 0.0)
            reading = sources[node_id].read(req.source, node_id, req.request_id, req.timestamp_ms)
            return WorkResult(encode(reading.value_milli), reading.delay_s)
        return work

    return for_node


def _well_formed(params: bytes, sensor: str) -> bool:
    try:
        decoded = decode(params, dict[str, str])
    except EdgeLedgerError:
        return False
    return set(decoded) == {"unit"} and 0 < len(sensor) <= 64 and sensor.isprintable()


class CallbackWatch(Service):
    """The requester's view: when each of its requests was filed and called back."""

    def __init__(self, node_id: str, state_view: Callable[[], Any]) -> None:
        self.node_id, self.state_view = node_id, state_view
        self.submitted_at: dict[bytes, float] = {}  # tx id -> time
        self.request_of: dict[bytes, str] = {}
        self.filed_at: dict[str, float] = {}
        self.called_back_at: dict[str, float] = {}

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        from edgeledger.ledger.contracts import call_log, logs_at

        for tx in block.transactions:
            if tx.tx_id in self.submitted_at:
                log = call_log(self.state_view(), tx.tx_id)
                if log is not None:
                    self.request_of[tx.tx_id] = log.result
                    self.filed_at[log.result] = self.submitted_at[tx.tx_id]
        for log in logs_at(self.state_view(), block.height):
            for ev in log.events:
                if ev.contract == FEED and ev.name == "delivered":
                    self.called_back_at.setdefault(ev.attributes["request_id"], now)
        return []


@dataclass
class OracleChain:
    chain_id: str
    sim: Simulator
    nodes: dict[str, Node]
    keys: dict[str, PrivateKey]
    validators: list[str]
    oracles: list[str]
    requester: str
    watch: CallbackWatch
    membership: Membership | None = None
    nonces: dict[str, int] = field(default_factory=dict)
    signers: dict[str, Any] = field(default_factory=dict)  # validators: shared with their heartbeat
    groups: list[str] = field(default_factory=list)

    def tx(self, sender: str, kind: str, payload: Any) -> Transaction:
        if sender in self.signers:
            return self.signers[sender].sign(kind, payload)
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)

    def ready(self) -> bool:
        """Every group registered (its key generation finished) in the requester's view."""
        kv = self.nodes[self.requester].state.kv
        return all(contract_state(kv, PROXY, f"group/{g}") is not None for g in self.groups)

    def submit(self, sender: str, tx: Transaction, at: float | None = None) -> None:
        def go() -> None:
            self.sim.apply(sender, self.nodes[sender].submit(tx, self.sim.now))

        self.sim.call_at(self.sim.now if at is None else at, go)

    def request(self, source: str, timestamp_ms: int, at: float | None = None, ttl_blocks: int = 200,
                kind: str = "data", params: bytes | None = None, stake: int = 0, sealed: bool = False) -> None:
        """File a request with the proxy (a data read by default; ``kind="compute"`` with the
        task's ``params`` for the computing oracle); the result is called back to the feed.
        ``sealed``: ``params`` (already an envelope for the oracle nodes) stay private and the
        result comes back sealed to the requester; ``stake``: tokens escrowed against junk."""
        params = encode({"unit": "milli"}) if params is None else params
        body = request_body(self.chain_id, PROXY, kind, source, params, FEED, "deliver", timestamp_ms)
        call = ContractCall(contract=PROXY, method="request", args=[
            kind, source, params, FEED, "deliver", timestamp_ms, ttl_blocks, self.keys[self.requester].sign(body),
            stake, sealed])
        tx = self.tx(self.requester, "contract.call", call)
        self.watch.submitted_at[tx.tx_id] = self.sim.now if at is None else at
        self.submit(self.requester, tx, at)

    @property
    def height(self) -> int:
        return self.nodes[self.requester].state.height

    def latencies(self) -> dict[str, float]:
        w = self.watch
        return {r: w.called_back_at[r] - w.filed_at[r] for r in sorted(w.called_back_at) if r in w.filed_at}


def build_oracle_chain(sim: Simulator, chain_id: str, groups: Mapping[str, list[str]], *, n_validators: int = 4,
                       sources: Mapping[str, Source], seed: bytes = b"pedal-simnet-seed-0000",
                       alpha_milli: int = 1000, pbft: PbftConfig | None = None,
                       guests: Mapping[str, PrivateKey] | None = None,
                       observation_nodes: Sequence[str] = (),
                       work: Callable[[str], Callable[[FetchJob], WorkResult]] | None = None,
                       aggregators: Callable[[str], Mapping[str, ResultAggregator]] | None = None,
                       key_generation: str = "dkg", heartbeat_s: float | None = 0.5, fallback_ms: int = 2_000,
                       dkg_window_ms: int = DEFAULT_DKG_WINDOW_MS, dkg_faults: Mapping[str, DkgFaults] | None = None,
                       min_stake: int = 0) -> OracleChain:
    """Add one oracle chain's hosts to ``sim``; oracle ids are ``groups``' members.

    ``guests`` are members hosted elsewhere (relay nodes of several chains): they get an
    identity (role ``oracle``) and committed blocks, but no host here. ``observation_nodes``
    (hosted elsewhere too) get committed blocks only: no identity, so the chain ignores their
    transactions and votes. ``work(node)`` replaces the source reads as a node's local work
    and ``aggregators(node)`` adds per-kind aggregation rules (the computing oracle's).
    ``heartbeat_s``: the validators' clock heartbeat (None: no chain clock, so the fallback
    board and the key generation close only when everyone has acted); ``dkg_faults``: faulty
    members of the key generation; ``min_stake``: the least stake a request escrows.
    """
    if key_generation not in ("dkg", "dealer"):
        raise ConfigError(f"key_generation={key_generation!r}: expected 'dkg' or 'dealer' (the dealer: tests only)")
    guests = dict(guests or {})
    validators = [f"{chain_id}.v{i}" for i in range(n_validators)]
    oracles = sorted({m for members in groups.values() for m in members})
    requester = f"{chain_id}.plant"
    roles = {**{v: "company" for v in validators}, **{o: "oracle" for o in oracles}, requester: "device"}
    keys = {n: derive_key("ed25519", seed + n.encode()) for n in roles}
    keys.update(guests)
    roles.update({g: "oracle" for g in guests})
    genesis = Genesis(chain_id=chain_id, validators=validators, identities=[
        Identity(node_id=n, role=r, scheme="ed25519", public_key=keys[n].public_key) for n, r in roles.items()])
    membership = Membership(genesis)
    g_hash = genesis_hash(genesis)
    pbft = pbft or PbftConfig(max_block_txs=200, batch_timeout_s=0.05)
    followers = tuple(oracles) + (requester,) + tuple(sorted(guests)) + tuple(observation_nodes)
    nodes: dict[str, Node] = {}
    signers = {v: Signer(keys[v], v) for v in validators}
    for n, role in roles.items():
        if n in guests:
            continue
        is_v = n in validators
        nodes[n] = Node(node_id=n, role=role, key=keys[n], membership=membership, store=ChainStore(":memory:"),
                        consensus=PbftReplica(n, keys[n], membership, g_hash, pbft) if is_v else None,
                        validator=None if is_v else validators[0], observers=followers if is_v else (),
                        center=None)
        if is_v and heartbeat_s:
            nodes[n].add_service(HeartbeatService(signers[n], heartbeat_s, lambda: True))
    okeys = {o: oracle_keys(seed, o) for o in oracles}
    dealt, shares = deal_groups(groups, random.Random(int.from_bytes(seed[:8], "big"))) \
        if key_generation == "dealer" else ([], {})
    config = PedalConfig(proxy=PROXY, seed=seed, alpha_milli=alpha_milli)
    work = work or source_work(sources)
    vrf_keys = {o: okeys[o].vrf_public for o in oracles}
    for o in oracles:
        node = nodes[o]
        core = PedalCore(o, keys[o], membership, config, okeys[o].vrf_secret, vrf_keys, dealt, shares.get(o, {}),
                         nonce=1, aggregators=aggregators(o) if aggregators else None)
        node.add_service(OracleService(core, work(o), lambda node=node: node.state.kv))
        if key_generation == "dkg":
            member = DkgMember(o, keys[o], membership, PROXY, random.Random(seed + b"/dkg/" + o.encode()), core.sign,
                               (dkg_faults or {}).get(o, DkgFaults()))
            node.add_service(KeyGenService(member, lambda node=node: node.state.kv, core.add_group,
                                           lambda node=node: node.store.height))
        node.compute_time = lambda job, result: getattr(result, "duration_s", 0.0)
    req_node = nodes[requester]
    watch = CallbackWatch(requester, lambda: req_node.state.kv)
    req_node.add_service(watch)
    chain = OracleChain(chain_id, sim, nodes, keys, validators, oracles, requester, watch, membership=membership,
                        signers=signers, groups=sorted(groups))
    for n, node in nodes.items():
        sim.add_host(node)
        sim.start(n, node.start(0.0))
    operator = validators[0]
    deploy = ContractDeploy(name=PROXY, code=PROXY_CODE, version=1,
                            args=[seed, alpha_milli, 1000, fallback_ms, 0, min_stake])
    chain.submit(operator, chain.tx(operator, "contract.deploy", deploy))
    chain.submit(requester, chain.tx(requester, "contract.deploy",
                                     ContractDeploy(name=FEED, code=FEED_CODE, version=1, args=[PROXY])))
    for o in oracles:
        chain.submit(o, chain.tx(o, "contract.call", registration_call(PROXY, okeys[o])), at=0.2)
    for g in dealt:  # the trusted dealer (tests only)
        chain.submit(operator, chain.tx(operator, "contract.call", group_call(PROXY, g)), at=0.5)
    if key_generation == "dkg":  # the operator opens each group; its members generate the key among themselves
        for group_id, members in sorted(groups.items()):
            call = ContractCall(contract=PROXY, method="open_group", args=[group_id, list(members), dkg_window_ms])
            chain.submit(operator, chain.tx(operator, "contract.call", call), at=0.5)
    return chain
