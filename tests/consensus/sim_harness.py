"""Deterministic fault-injection simulation of PBFT replicas (VOPR / FoundationDB style).

One seed decides everything: cluster size, leader mode, transactions, message loss,
duplication, delay (reordering), partitions and heals, crash/restart of honest replicas,
and up to f Byzantine replicas with a behaviour each. Cores exchange *encoded bytes*, so
garbage is decoded (and refused) where it lands. Invariants are checked after every event:

- agreement: no two honest replicas commit different blocks at one height;
- validity: every committed transaction was submitted by a client and is correctly signed;
  no transaction commits twice on a replica's chain; every block carries a valid certificate;
- liveness (liveness mode only): after global stabilisation (GST: faults stop, crashed
  replicas restart, clients retry), every honest transaction commits on every honest
  replica within ``LIVENESS_BOUND_S`` simulated seconds.
Safety mode never heals, so healing cannot hide a livelock or mask a safety bug.
A failing seed prints the one command that replays it.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec

from edgeledger.codec import decode, encode
from edgeledger.consensus.base import CommitBlock
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.consensus.pbft.events import PBFT_MESSAGES, Commit, NewView, Prepare, PrePrepare, ViewChange
from edgeledger.consensus.pbft.viewchange import reproposals
from edgeledger.effects import Broadcast, CancelTimer, Send, SetTimer
from edgeledger.errors import DecodeError, EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.transaction import make_transaction, verify_transaction
from edgeledger.ledger.validation import validate_block
from edgeledger.crypto.keys import derive_key

BEHAVIOURS = ("silent", "equivocate", "conflicting-votes", "replay", "garbage", "lying-view-change")
LIVENESS_BOUND_S = 60.0
SAFETY_RUN_S = 12.0
WireMessage = Union[tuple(PBFT_MESSAGES)]  # type: ignore[valid-type]
CLIENTS = ("dev0", "dev1", "dev2")


class CachedMembership(Membership):
    """Memoises signature checks: a broadcast is verified once, not n-1 times (speed only)."""

    def __init__(self, genesis: Genesis) -> None:
        super().__init__(genesis)
        self._cache: dict[tuple[str, bytes, bytes], bool] = {}

    def verify(self, node_id: str, message: bytes, signature: bytes) -> bool:
        key = (node_id, message, signature)
        ok = self._cache.get(key)
        if ok is None:
            ok = self._cache[key] = super().verify(node_id, message, signature)
        return ok


_CLUSTERS: dict[int, tuple[dict, CachedMembership]] = {}


def cluster(n: int) -> tuple[dict, CachedMembership]:
    if n not in _CLUSTERS:
        names = [f"v{i}" for i in range(n)]
        keys = {m: derive_key("ed25519", m.encode()) for m in names + list(CLIENTS)}
        ids = [Identity(node_id=m, role="edge" if m in names else "device", scheme="ed25519",
                        public_key=keys[m].public_key) for m in names + list(CLIENTS)]
        _CLUSTERS[n] = keys, CachedMembership(Genesis(chain_id="sim", identities=ids, validators=names))
    return _CLUSTERS[n]


@dataclass
class Schedule:
    """Every setting a seed derives; printed first so a run explains itself."""

    seed: int
    n: int
    mode: str  # "safety" | "liveness"
    rotate_leader: bool
    byzantine: dict[str, str]
    n_txs: int
    loss: float
    duplicate: float
    jitter_s: float
    gst_s: float
    partitions: list[tuple[float, float, tuple[str, ...]]]
    crashes: list[tuple[float, float, str]]  # (crash at, restart at, replica)
    submits: list[tuple[float, int, str]]  # (time, tx index, first replica)
    checkpoint_interval: int
    commit_loss: float = 0.0  # extra loss for COMMITs: leaves blocks committed at only some replicas

    def describe(self) -> str:
        return (f"seed={self.seed} n={self.n} mode={self.mode} rotate={self.rotate_leader} byz={self.byzantine} "
                f"txs={self.n_txs} loss={self.loss:.2f} dup={self.duplicate:.2f} jitter={self.jitter_s:.3f} "
                f"closs={self.commit_loss:.1f} gst={self.gst_s:.1f} partitions={len(self.partitions)} "
                f"crashes={len(self.crashes)}")


def generate(seed: int, size: str = "small") -> Schedule:
    rng = random.Random(seed)
    n = rng.choice((4, 4, 4, 5, 7) if size == "large" else (4, 4, 5))
    f = (n - 1) // 3
    names = [f"v{i}" for i in range(n)]
    n_byz = rng.randint(0, f)
    byz_names = rng.sample(names, n_byz)
    byzantine = {b: rng.choice(BEHAVIOURS) for b in sorted(byz_names)}
    honest = [m for m in names if m not in byzantine]
    mode = rng.choice(("safety", "liveness"))
    gst = rng.uniform(1.0, 4.0)
    horizon = gst if mode == "liveness" else SAFETY_RUN_S
    partitions = []
    for _ in range(rng.randint(0, 2)):
        start = rng.uniform(0, horizon)
        side = tuple(sorted(rng.sample(names, rng.randint(1, n // 2))))
        partitions.append((start, min(horizon, start + rng.uniform(0.2, 3.0)), side))
    crashes = []
    for victim in rng.sample(honest, rng.randint(0, min(2, len(honest)))):
        at = rng.uniform(0, horizon)
        crashes.append((at, min(horizon, at + rng.uniform(0.1, 3.0)), victim))
    n_txs = rng.randint(3, 24 if size == "large" else 10)
    submits = [(rng.uniform(0, horizon * 0.9), i, rng.choice(names)) for i in range(n_txs)]
    return Schedule(seed=seed, n=n, mode=mode, rotate_leader=rng.random() < 0.4, byzantine=byzantine, n_txs=n_txs,
                    loss=rng.choice((0.0, 0.02, 0.1, 0.25)), duplicate=rng.choice((0.0, 0.05, 0.2)),
                    jitter_s=rng.choice((0.0, 0.01, 0.1, 0.4)), gst_s=gst, partitions=partitions, crashes=crashes,
                    submits=sorted(submits), checkpoint_interval=rng.choice((2, 4, 16)),
                    commit_loss=rng.choice((0.0, 0.0, 0.3, 0.6)))


@dataclass
class Result:
    seed: int
    violations: list[str]
    simulated_s: float
    committed: int
    schedule: Schedule

    size: str = "small"

    def replay_command(self) -> str:
        return f"python benchmarks/consensus_faults.py --seed {self.seed} --size {self.size}"


@dataclass
class Simulation:
    schedule: Schedule
    size: str = "small"
    now: float = 0.0
    heap: list = field(default_factory=list)
    seq: int = 0
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.schedule
        self.rng = random.Random(s.seed * 7919 + 1)
        self.keys, self.membership = cluster(s.n)
        self.genesis = genesis_hash(self.membership.genesis)
        self.config = PbftConfig(max_block_txs=4, batch_timeout_s=0.02, view_change_timeout_s=0.5,
                                 view_change_timeout_max_s=4.0,
                                 checkpoint_interval=s.checkpoint_interval, window=max(8, 4 * s.checkpoint_interval),
                                 rotate_leader=s.rotate_leader, fetch_timeout_s=0.2, fetch_limit=8)
        self.names = list(self.membership.validators)
        self.honest = [m for m in self.names if m not in s.byzantine]
        self.replicas = {m: self._new_replica(m) for m in self.names}
        self.incarnation = {m: 0 for m in self.names}
        self.crashed: set[str] = set()
        self.cut: set[frozenset[str]] = set()
        self.timers: dict[tuple[str, str], int] = {}
        self.chains: dict[str, list[Block]] = {m: [] for m in self.names}
        self.decided: dict[int, bytes] = {}
        self.txs = [make_transaction(self.keys[CLIENTS[i % len(CLIENTS)]], CLIENTS[i % len(CLIENTS)], i + 1,
                                     "sim.noop", b"tx%d" % i) for i in range(s.n_txs)]
        self.submitted: set[bytes] = set()
        self.seen: list[bytes] = []  # wire bytes observed, for replaying Byzantine replicas
        self.faults_on = True

    def _new_replica(self, name: str) -> PbftReplica:
        return PbftReplica(name, self.keys[name], self.membership, self.genesis, self.config)

    # -- event loop --------------------------------------------------------------------------
    def at(self, t: float, *event: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, event))

    def run(self) -> Result:
        s = self.schedule
        for t, i, first in s.submits:
            self.at(t, "submit", i, first)
        for start, end, side in s.partitions:
            self.at(start, "partition", side)
            self.at(end, "heal", side)
        for at, back, victim in s.crashes:
            self.at(at, "crash", victim)
            self.at(back, "restart", victim)
        end = s.gst_s + LIVENESS_BOUND_S if s.mode == "liveness" else SAFETY_RUN_S
        if s.mode == "liveness":
            self.at(s.gst_s, "gst")
        while self.heap and not self.violations:
            t, _, event = heapq.heappop(self.heap)
            if t > end:
                break
            self.now = t
            self.step(event)
            if s.mode == "liveness" and t >= s.gst_s and self._all_committed():
                break
        if s.mode == "liveness" and not self.violations and not self._all_committed():
            missing = [m for m in self.honest if self._missing(m)]
            self.violations.append(f"liveness: honest replicas {missing} lack transactions {LIVENESS_BOUND_S}s "
                                   f"after GST (heights {[len(self.chains[m]) for m in self.names]})")
        return Result(s.seed, self.violations, self.now, max(len(c) for c in self.chains.values()), s, self.size)

    def step(self, event: tuple) -> None:
        kind = event[0]
        if kind == "deliver":
            _, src, dst, data, inc = event
            if dst in self.crashed or inc != self.incarnation[dst]:
                return
            try:
                msg = decode(data, WireMessage)
            except (DecodeError, UnicodeDecodeError):  # codec.decode lets UnicodeDecodeError escape (reported)
                return
            self.apply(dst, self._guard(dst, lambda r: r.receive(src, msg, self.now)))
        elif kind == "timer":
            _, node, name, token = event
            if self.timers.get((node, name)) == token:
                del self.timers[(node, name)]
                self.apply(node, self._guard(node, lambda r: r.timer(name, self.now)))
        elif kind == "submit":
            _, i, first = event
            self.submitted.add(self.txs[i].tx_id)
            if first not in self.crashed:
                self.apply(first, self._guard(first, lambda r: r.submit(self.txs[i], self.now)))
        elif kind == "partition":
            side = set(event[1])
            self.cut |= {frozenset((a, b)) for a in side for b in self.names if b not in side}
        elif kind == "heal":
            side = set(event[1])
            self.cut -= {frozenset((a, b)) for a in side for b in self.names if b not in side}
        elif kind == "crash":
            self.crashed.add(event[1])
            self.incarnation[event[1]] += 1
            self.timers = {k: v for k, v in self.timers.items() if k[0] != event[1]}
        elif kind == "restart":
            self._restart(event[1])
        elif kind == "gst":
            self.faults_on = False
            self.cut.clear()
            for victim in sorted(self.crashed):
                self._restart(victim)
            self.at(self.now, "retry")
        elif kind == "retry":  # clients re-send what has not committed (PBFT 4.1: multicast on timeout)
            for i, tx in enumerate(self.txs):
                if tx.tx_id in self.submitted and any(tx.tx_id not in self._ids(m) for m in self.honest):
                    for m in self.names:
                        self.apply(m, self._guard(m, lambda r: r.submit(tx, self.now)))
            self.at(self.now + 2.0, "retry")

    def _guard(self, node: str, call) -> list:
        if node in self.crashed:
            return []
        try:
            return call(self.replicas[node])
        except EdgeLedgerError as exc:  # a core must refuse bad input with Rejected, never raise
            if node in self.honest:
                self.violations.append(f"{node} raised {type(exc).__name__}: {exc}")
            return []

    def _restart(self, victim: str) -> None:
        if victim not in self.crashed:
            return
        self.crashed.discard(victim)
        replica = self._new_replica(victim)
        replica.resume(list(self.chains[victim]))  # a new core from its durable blocks
        self.replicas[victim] = replica

    # -- effects -----------------------------------------------------------------------------
    def apply(self, node: str, effects: list) -> None:
        for e in effects:
            if isinstance(e, Send):
                self.send(node, [e.to], e.message)
            elif isinstance(e, Broadcast):
                self.send(node, list(e.to), e.message)
            elif isinstance(e, SetTimer):
                self.seq += 1
                self.timers[(node, e.name)] = self.seq
                self.at(self.now + e.delay_s, "timer", node, e.name, self.seq)
            elif isinstance(e, CancelTimer):
                self.timers.pop((node, e.name), None)
            elif isinstance(e, CommitBlock):
                self.commit(node, e.block)

    def send(self, src: str, to: list[str], message: Any) -> None:
        behaviour = self.schedule.byzantine.get(src)
        if behaviour is not None:
            pairs = self.byzantine_out(src, behaviour, to, message)
        else:
            data = encode(message)
            pairs = [(dst, data) for dst in to]
        extra = self.schedule.commit_loss if isinstance(message, Commit) else 0.0
        for dst, data in pairs:
            if len(self.seen) < 4096:
                self.seen.append(data)
            if self.faults_on and extra and self.rng.random() < extra:
                continue
            self.transmit(src, dst, data)

    def transmit(self, src: str, dst: str, data: bytes) -> None:
        copies = 1
        delay = 0.002
        if self.faults_on:
            if frozenset((src, dst)) in self.cut or self.rng.random() < self.schedule.loss:
                return
            if self.rng.random() < self.schedule.duplicate:
                copies = 2
            delay += self.rng.uniform(0, self.schedule.jitter_s)
        for c in range(copies):
            self.at(self.now + delay + c * self.rng.uniform(0, 0.05), "deliver", src, dst, data,
                    self.incarnation.get(dst, 0))

    def byzantine_out(self, src: str, behaviour: str, to: list[str], message: Any) -> list[tuple[str, bytes]]:
        key, chain_id, rng = self.keys[src], self.membership.chain_id, self.rng
        sign = lambda m: msgspec.structs.replace(m, signature=key.sign(m.signing_bytes(chain_id)))  # noqa: E731
        if behaviour == "silent":
            return []
        honest_bytes = encode(message)
        out = [(dst, honest_bytes) for dst in to]
        half = set(to[: len(to) // 2])
        if behaviour == "equivocate" and isinstance(message, PrePrepare):
            header = msgspec.structs.replace(message.block.header, timestamp_ms=message.block.header.timestamp_ms + 1)
            other = sign(msgspec.structs.replace(message, block=msgspec.structs.replace(message.block, header=header)))
            out = [(dst, encode(other) if dst in half else honest_bytes) for dst in to]
        elif behaviour == "equivocate" and isinstance(message, NewView):
            out = [(dst, encode(self._other_new_view(message, sign, dst)) if dst in half else honest_bytes)
                   for dst in to]
        elif behaviour == "lying-view-change" and isinstance(message, ViewChange):
            liar = sign(msgspec.structs.replace(message, prepared=[], checkpoint_height=0, checkpoint_proof=[],
                                                checkpoint_digest=self.genesis))
            out = [(dst, encode(liar)) for dst in to]
        elif behaviour == "conflicting-votes" and isinstance(message, (Prepare, Commit)):
            other = sign(msgspec.structs.replace(message, digest=rng.randbytes(32)))
            out = [(dst, encode(other) if dst in half else honest_bytes) for dst in to]
        elif behaviour == "replay" and self.seen:
            out += [(rng.choice(self.names), rng.choice(self.seen)) for _ in range(2)]
        elif behaviour == "garbage":
            junk = bytearray(honest_bytes)
            for _ in range(rng.randint(1, 4)):
                junk[rng.randrange(len(junk))] = rng.randrange(256)
            out += [(rng.choice(self.names), bytes(junk)), (rng.choice(self.names), rng.randbytes(rng.randint(0, 64)))]
        return out

    def _other_new_view(self, nv: NewView, sign, dst: str) -> NewView:
        """A Byzantine leader's alternative NEW-VIEW: its own VIEW-CHANGE swapped for one that
        hides its prepared certificates and checkpoint, and the O set recomputed to match."""
        subset = [sign(msgspec.structs.replace(vc, prepared=[], checkpoint_height=0, checkpoint_proof=[],
                                               checkpoint_digest=self.genesis)) if vc.replica == nv.replica else vc
                  for vc in nv.view_changes]
        _, _, certs = reproposals(subset)
        pres = [sign(PrePrepare(view=nv.view, height=c.pre_prepare.height, block=c.pre_prepare.block,
                                replica=nv.replica)) for c in certs]
        return sign(NewView(view=nv.view, view_changes=subset, pre_prepares=pres, replica=nv.replica))

    # -- invariants --------------------------------------------------------------------------
    def commit(self, node: str, block: Block) -> None:
        chain = self.chains[node]
        if node not in self.honest:
            chain.append(block)
            return
        prev = chain[-1].hash if chain else self.genesis
        try:
            validate_block(block, prev, len(chain) + 1, self.membership)
        except EdgeLedgerError as exc:
            self.violations.append(f"validity: {node} committed an invalid block: {exc}")
            return
        ids = self._ids(node)
        for tx in block.transactions:
            if tx.tx_id not in self.submitted:
                self.violations.append(f"validity: {node} committed tx {tx.tx_id.hex()[:12]} nobody submitted")
            if tx.tx_id in ids:
                self.violations.append(f"validity: {node} committed tx {tx.tx_id.hex()[:12]} twice")
            try:
                verify_transaction(tx, self.membership)
            except EdgeLedgerError as exc:
                self.violations.append(f"validity: {node} committed a badly signed tx: {exc}")
        chain.append(block)
        decided = self.decided.setdefault(block.height, block.hash)
        if decided != block.hash:
            self.violations.append(f"agreement: {node} committed {block.hash.hex()[:12]} at height {block.height}, "
                                   f"another honest replica committed {decided.hex()[:12]}")

    def _ids(self, node: str) -> set[bytes]:
        return {tx.tx_id for b in self.chains[node] for tx in b.transactions}

    def _missing(self, node: str) -> bool:
        return bool(self.submitted - self._ids(node))

    def _all_committed(self) -> bool:
        return len(self.submitted) == self.schedule.n_txs and not any(self._missing(m) for m in self.honest)


def run_schedule(seed: int, size: str = "small") -> Result:
    return Simulation(generate(seed, size), size).run()
