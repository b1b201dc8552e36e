"""The deterministic world the Byzantine test engine runs PBFT replicas in.

One :class:`~edgeledger.consensus.testing.scenario.Scenario` decides everything: the replicas
(Twins run a node as two honest instances with one key), scripted Byzantine strategies,
transactions, message loss, duplication, delay (reordering), partitions by time and, for
Twins, by view, crashes at chosen times or right after a chosen message, and stabilisation.
Replicas exchange *encoded bytes*, so garbage is decoded (and refused) where it lands; their
``Persist`` effects go to a per-instance durable log that survives a crash, and a restarted
replica resumes from its blocks and that log. :class:`Invariants` are checked after every
event. Everything runs on a simulated clock from one seeded generator: a run replays exactly.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Union

from edgeledger.codec import decode, encode
from edgeledger.consensus.base import CommitBlock, Forget, Persist
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.consensus.pbft.events import PBFT_MESSAGES, Commit, NewView, Prepare, PrePrepare, ViewChange
from edgeledger.consensus.testing.cluster import cluster, client_transactions
from edgeledger.consensus.testing.invariants import Invariants
from edgeledger.consensus.testing.scenario import LIVENESS_BOUND_S, SAFETY_RUN_S, Scenario, twin_name
from edgeledger.consensus.testing.strategies import make_strategy
from edgeledger.effects import Broadcast, CancelTimer, Send, SetTimer
from edgeledger.errors import DecodeError
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import genesis_hash

__all__ = ["World", "InstanceLedger", "Outcome", "LIVENESS_BOUND_S", "SAFETY_RUN_S", "BASE_DELAY_S", "message_view"]

BASE_DELAY_S = 0.002
MAX_EVENTS = 400_000
WireMessage = Union[tuple(PBFT_MESSAGES)]  # type: ignore[valid-type]
_SIGNED_KINDS = {"PrePrepare": PrePrepare, "Prepare": Prepare, "Commit": Commit, "ViewChange": ViewChange,
                 "NewView": NewView}


def message_view(message: Any) -> int | None:
    """The view a message belongs to (Twins' round), or None for view-less messages."""
    if isinstance(message, (PrePrepare, Prepare, Commit, NewView)):
        return message.view
    if isinstance(message, ViewChange):
        return message.new_view
    return None


@dataclass
class Outcome:
    scenario: Scenario
    violations: list[str]
    simulated_s: float
    committed: int  # highest height an honest replica committed
    events: int
    double_votes: int
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


class InstanceLedger:
    """An instance's committed blocks as its replica's read-only ledger (what a node's store is)."""

    def __init__(self, world: World, instance: str) -> None:
        self.world, self.instance = world, instance

    @property
    def height(self) -> int:
        return len(self.world.chains[self.instance])

    def block(self, height: int) -> Block | None:
        chain = self.world.chains[self.instance]
        return chain[height - 1] if 0 < height <= len(chain) else None

    def locate_transaction(self, tx_id: bytes) -> tuple[int, int] | None:
        for block in self.world.chains[self.instance]:
            for i, tx in enumerate(block.transactions):
                if tx.tx_id == tx_id:
                    return block.height, i
        return None


class World:
    def __init__(self, scenario: Scenario, trace: bool = False, durable_votes: bool = True) -> None:
        s = self.scenario = scenario
        self.now = 0.0
        self.heap: list[tuple[float, int, tuple[Any, ...]]] = []
        self.seq = 0
        self.events = 0
        self.rng = random.Random(s.net_seed)
        self.keys, self.membership = cluster(s.n)
        self.genesis = genesis_hash(self.membership.genesis)
        self.config = PbftConfig(max_block_txs=4, batch_timeout_s=0.02, view_change_timeout_s=0.5,
                                 view_change_timeout_max_s=4.0, checkpoint_interval=s.checkpoint_interval,
                                 window=max(8, 4 * s.checkpoint_interval), rotate_leader=s.rotate_leader,
                                 leader_order=s.leader_order, fetch_timeout_s=0.2, fetch_limit=8,
                                 keep_blocks=2)  # a tiny in-memory window: older blocks come from the ledger
        self.nodes = list(self.membership.validators)
        self.node_of: dict[str, str] = {}
        self.instances_of: dict[str, list[str]] = {}
        for node in self.nodes:
            insts = [node] + ([twin_name(node)] if node in s.twins else [])
            self.instances_of[node] = insts
            for inst in insts:
                self.node_of[inst] = node
        self.honest_nodes = [v for v in self.nodes if v not in s.byzantine and v not in s.twins]
        self.honest_instances = set(self.honest_nodes)
        self.replicas: dict[str, PbftReplica] = {}
        self.durable: dict[str, dict[str, tuple[int, bytes]]] = {i: {} for i in self.node_of}
        self.chains: dict[str, list[Block]] = {i: [] for i in self.node_of}
        self.incarnation = {i: 0 for i in self.node_of}
        self.crashed: set[str] = set()
        self.cut: set[frozenset[str]] = set()
        self.timers: dict[tuple[str, str], int] = {}
        self.sent_kinds: dict[tuple[str, str], int] = {}
        self.txs = client_transactions(self.keys, s.n_txs)
        self.submitted: set[bytes] = set()
        self.seen: list[bytes] = []  # wire bytes observed (replay material for Byzantine strategies)
        self.faults_on = True
        self.invariants = Invariants(self, durable_votes=durable_votes)
        self.tracing = trace
        self.trace: list[str] = []
        self.strategies = {node: make_strategy(name, self, node) for node, name in s.byzantine.items()}
        for inst in self.node_of:
            self.replicas[inst] = self._new_replica(inst)

    # -- set-up --------------------------------------------------------------------------------
    def _new_replica(self, instance: str) -> PbftReplica:
        node = self.node_of[instance]
        return PbftReplica(node, self.keys[node], self.membership, self.genesis, self.config,
                           ledger=InstanceLedger(self, instance))

    def durable_records(self, instance: str) -> list[bytes]:
        log = self.durable[instance]
        return [log[k][1] for k in sorted(log)]

    def at(self, t: float, *event: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, event))

    def log(self, text: str) -> None:
        if self.tracing:
            self.trace.append(f"{self.now:8.4f} {text}")

    # -- running -------------------------------------------------------------------------------
    def run(self) -> Outcome:
        s = self.scenario
        for t, i, inst in s.submits:
            self.at(t, "submit", i, inst)
        for start, end, side in s.partitions:
            self.at(start, "partition", side)
            self.at(end, "heal", side)
        for at, back, victim in s.crashes:
            self.at(at, "crash", victim)
            self.at(back, "restart", victim)
        for strategy in self.strategies.values():
            strategy.start()
        end = s.gst_s + LIVENESS_BOUND_S if s.mode == "liveness" else SAFETY_RUN_S
        if s.mode == "liveness":
            self.at(s.gst_s, "gst")
        inv = self.invariants
        while self.heap and not inv.violations and self.events < MAX_EVENTS:
            t, _, event = heapq.heappop(self.heap)
            if t > end:
                break
            self.now = t
            self.events += 1
            inst = self.step(event)
            inv.after_step(inst)
            if s.mode == "liveness" and t >= s.gst_s and self._all_committed():
                break
        if s.mode == "liveness" and not inv.violations and not self._all_committed():
            missing = [m for m in self.honest_nodes if self._missing(m)]
            heights = {m: len(self.chains[m]) for m in self.honest_nodes}
            inv.fail(f"liveness: honest replicas {missing} lack transactions {LIVENESS_BOUND_S:.0f} s after "
                     f"stabilisation (heights {heights}, views "
                     f"{ {m: self.replicas[m].view for m in self.honest_nodes} })")
        committed = max((len(self.chains[m]) for m in self.honest_nodes), default=0)
        return Outcome(s, list(inv.violations), self.now, committed, self.events, inv.double_votes, self.trace)

    def step(self, event: tuple[Any, ...]) -> str | None:
        kind = event[0]
        if kind == "deliver":
            _, src, dst, data, inc = event
            if dst in self.crashed or inc != self.incarnation[dst]:
                return None
            try:
                msg = decode(data, WireMessage)
            except (DecodeError, UnicodeDecodeError, ValueError):
                return None
            node = self.node_of[src]
            if self.tracing:
                self.log(f"{src}->{dst} {_label(msg)}")
            if self.node_of[dst] in self.strategies:
                self.strategies[self.node_of[dst]].observe(node, msg)
            self.apply(dst, self._guard(dst, lambda r: r.receive(node, msg, self.now)))
            return dst
        if kind == "timer":
            _, inst, name, token = event
            if self.timers.get((inst, name)) == token:
                del self.timers[(inst, name)]
                if self.tracing:
                    self.log(f"{inst} timer {name}")
                self.apply(inst, self._guard(inst, lambda r: r.timer(name, self.now)))
                return inst
            return None
        if kind == "submit":
            _, i, inst = event
            self.submitted.add(self.txs[i].tx_id)
            if inst not in self.crashed:
                self.apply(inst, self._guard(inst, lambda r: r.submit(self.txs[i], self.now)))
                return inst
            return None
        if kind == "partition":
            side = set(event[1])
            self.cut |= {frozenset((a, b)) for a in side for b in self.node_of if b not in side}
        elif kind == "heal":
            side = set(event[1])
            self.cut -= {frozenset((a, b)) for a in side for b in self.node_of if b not in side}
        elif kind == "crash":
            self.crash(event[1])
        elif kind == "restart":
            self.restart(event[1])
        elif kind == "wake":
            self.strategies[event[1]].wake()
        elif kind == "gst":
            self.log("stabilisation: faults stop, crashed replicas restart, clients retry")
            self.faults_on = False
            self.cut.clear()
            for victim in sorted(self.crashed):
                self.restart(victim)
            self.at(self.now, "retry")
        elif kind == "retry":  # clients re-send what has not committed everywhere (PBFT 4.1)
            for tx in self.txs:
                if tx.tx_id in self.submitted and any(tx.tx_id not in self._ids(m) for m in self.honest_nodes):
                    for inst in self.node_of:
                        self.apply(inst, self._guard(inst, lambda r: r.submit(tx, self.now)))
            self.at(self.now + 2.0, "retry")
        return None

    def _guard(self, instance: str, call: Any) -> list[Any]:
        if instance in self.crashed:
            return []
        try:
            return call(self.replicas[instance])  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 - bad input must never take honest code down
            self.invariants.crashed(instance, exc)
            return []

    # -- crashes -------------------------------------------------------------------------------
    def crash(self, instance: str) -> None:
        if instance in self.crashed:
            return
        self.log(f"{instance} crashes")
        self.crashed.add(instance)
        self.incarnation[instance] += 1
        self.timers = {k: v for k, v in self.timers.items() if k[0] != instance}

    def restart(self, instance: str, forget: bool = False) -> None:
        """Restart ``instance`` from its committed blocks and durable log (``forget``: from nothing)."""
        if instance not in self.crashed:
            return
        self.crashed.discard(instance)
        self.log(f"{instance} restarts" + (" with amnesia" if forget else ""))
        if forget:
            self.durable[instance] = {}
            self.chains[instance] = []
        self.replicas[instance] = self._new_replica(instance)

        def rejoin(replica: PbftReplica) -> list[Any]:
            replica.resume(list(self.chains[instance]), self.durable_records(instance))
            return replica.start(self.now)

        self.apply(instance, self._guard(instance, rejoin))

    # -- effects -------------------------------------------------------------------------------
    def apply(self, instance: str, effects: list[Any]) -> None:
        honest = instance in self.honest_instances
        for e in effects:
            if isinstance(e, (Send, Broadcast)):
                to = [e.to] if isinstance(e, Send) else list(e.to)
                if honest:
                    self.invariants.on_send(instance, e.message)
                self.send(instance, to, e.message)
            elif isinstance(e, Persist):
                self.durable[instance][e.key] = (e.height, encode(e.record))
            elif isinstance(e, Forget):
                log = self.durable[instance]
                for key in [k for k, (h, _) in log.items() if 0 < h <= e.through_height]:
                    del log[key]
            elif isinstance(e, SetTimer):
                self.seq += 1
                self.timers[(instance, e.name)] = self.seq
                self.at(self.now + e.delay_s, "timer", instance, e.name, self.seq)
            elif isinstance(e, CancelTimer):
                self.timers.pop((instance, e.name), None)
            elif isinstance(e, CommitBlock):
                chain = self.chains[instance]
                if honest:
                    self.invariants.on_commit(instance, e.block, chain)
                chain.append(e.block)
                if self.tracing:
                    self.log(f"{instance} commits height {e.block.height} {e.block.hash.hex()[:10]}")

    def send(self, instance: str, to: list[str], message: Any) -> None:
        node = self.node_of[instance]
        kind = type(message).__name__
        count = self.sent_kinds[(instance, kind)] = self.sent_kinds.get((instance, kind), 0) + 1
        strategy = self.strategies.get(node)
        if strategy is not None:
            out = strategy.outgoing(instance, message, to)
        else:
            data = encode(message)
            out = [(dst, data, 0.0) for dst in to]
        tag = message_view(message)
        tag = self.replicas[instance].view if tag is None else tag
        extra = self.scenario.commit_loss if isinstance(message, Commit) else 0.0
        for dst, payload, delay in out:
            data = payload if isinstance(payload, bytes) else encode(payload)
            if len(self.seen) < 4096:
                self.seen.append(data)
            if self.faults_on and extra and self.rng.random() < extra:
                continue
            self.transmit(instance, dst, data, tag, delay)
        for victim, trigger, nth, down in self.scenario.crash_triggers:
            if victim == instance and trigger == kind and nth == count and self.faults_on:
                self.at(self.now, "crash", instance)
                self.at(self.now + down, "restart", instance)

    def transmit(self, src: str, dst_node: str, data: bytes, view: int, extra_delay: float = 0.0) -> None:
        for dst in self.instances_of.get(dst_node, ()):
            if dst == src:
                continue
            copies, delay = 1, BASE_DELAY_S + extra_delay
            if self.faults_on:
                if frozenset((src, dst)) in self.cut or not self._same_group(src, dst, view):
                    continue
                if self.rng.random() < self.scenario.loss:
                    continue
                if self.rng.random() < self.scenario.duplicate:
                    copies = 2
                delay += self.rng.uniform(0, self.scenario.jitter_s)
            for c in range(copies):
                self.at(self.now + delay + c * self.rng.uniform(0, 0.05), "deliver", src, dst, data,
                        self.incarnation[dst])

    def _same_group(self, src: str, dst: str, view: int) -> bool:
        rounds = self.scenario.round_partitions
        if not rounds or view >= len(rounds):
            return True
        return any(src in group and dst in group for group in rounds[view])

    # -- bookkeeping ---------------------------------------------------------------------------
    def _ids(self, instance: str) -> set[bytes]:
        return {tx.tx_id for b in self.chains[instance] for tx in b.transactions}

    def _missing(self, instance: str) -> bool:
        return bool(self.submitted - self._ids(instance))

    def _all_committed(self) -> bool:
        return len(self.submitted) == self.scenario.n_txs and not any(self._missing(m) for m in self.honest_nodes)


def _label(msg: Any) -> str:
    name = type(msg).__name__
    view = message_view(msg)
    height = getattr(msg, "height", None)
    digest = getattr(msg, "digest", None) or (msg.block.hash if isinstance(msg, PrePrepare) else None)
    parts = [name] + ([f"v{view}"] if view is not None else []) + ([f"h{height}"] if height is not None else [])
    if digest:
        parts.append(digest.hex()[:8])
    if isinstance(msg, ViewChange):
        parts.append(f"P={[(c.pre_prepare.view, c.pre_prepare.height) for c in msg.prepared]}")
    if isinstance(msg, NewView):
        parts.append(f"O={[(p.height, p.block.hash.hex()[:8]) for p in msg.pre_prepares]}")
    return " ".join(parts)
