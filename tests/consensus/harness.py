"""An in-memory harness wiring PBFT cores together without the simulator (STYLE rule 11).

Messages and timers run in simulated-time order (FIFO among equal times); timers follow the
driver contract (``SetTimer`` replaces a pending timer of the same name, ``CancelTimer``
drops it). ``silent`` replicas receive nothing and send nothing; ``drop(src, dst, msg)``
lets a test lose chosen messages.
"""

from __future__ import annotations

import heapq

from edgeledger.codec import encode
from edgeledger.consensus.base import CommitBlock, Forget, Persist
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.effects import Broadcast, CancelTimer, Rejected, Send, SetTimer
from edgeledger.ledger.identity import genesis_hash

LATENCY_S = 0.001


class Harness:
    def __init__(self, keys, membership, silent=(), config=None, drop=None):
        self.keys, self.membership = keys, membership
        self.genesis = genesis_hash(membership.genesis)
        self.config = config or PbftConfig(max_block_txs=10)
        self.replicas = {v: PbftReplica(v, keys[v], membership, self.genesis, self.config)
                         for v in membership.validators}
        self.silent = set(silent)
        self.drop = drop or (lambda src, dst, msg: False)
        self.heap: list = []
        self.seq = 0
        self.timers: dict[tuple[str, str], int] = {}
        self.timer_log: list[tuple[float, str, str, float]] = []  # (now, node, name, delay)
        self.committed: dict[str, list] = {v: [] for v in self.replicas}
        self.rejections: list = []
        self.sent: list[tuple[str, str, object]] = []
        self.durable: dict[str, dict[str, tuple[int, bytes]]] = {v: {} for v in self.replicas}  # survives restarts
        self.now = 0.0

    def _push(self, t, *event):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, event))

    def apply(self, node, effects):
        for e in effects:
            if isinstance(e, (Send, Broadcast)):
                for to in ([e.to] if isinstance(e, Send) else e.to):
                    self.sent.append((node, to, e.message))
                    self._push(self.now + LATENCY_S, "msg", node, to, e.message)
            elif isinstance(e, SetTimer):
                self.seq += 1
                self.timers[(node, e.name)] = self.seq
                self.timer_log.append((self.now, node, e.name, e.delay_s))
                self._push(self.now + e.delay_s, "timer", node, e.name, self.seq)
            elif isinstance(e, CancelTimer):
                self.timers.pop((node, e.name), None)
            elif isinstance(e, CommitBlock):
                self.committed[node].append(e.block)
            elif isinstance(e, Persist):
                self.durable.setdefault(node, {})[e.key] = (e.height, encode(e.record))
            elif isinstance(e, Forget):
                self.durable[node] = {k: v for k, v in self.durable.get(node, {}).items()
                                     if not 0 < v[0] <= e.through_height}
            elif isinstance(e, Rejected):
                self.rejections.append((node, e))

    def durable_log(self, node):
        """``node``'s durable consensus log, as a restarted replica reads it."""
        return [body for _, (_, body) in sorted(self.durable[node].items())]

    def submit(self, node, tx):
        self.apply(node, self.replicas[node].submit(tx, self.now))

    def deliver(self, src, dst, msg):
        self.apply(dst, self.replicas[dst].receive(src, msg, self.now))

    def run(self, max_steps=100_000, until=30.0):
        steps = 0
        while self.heap and steps < max_steps and self.heap[0][0] <= until:
            steps += 1
            t, _, event = heapq.heappop(self.heap)
            self.now = t
            if event[0] == "msg":
                _, src, dst, msg = event
                if src in self.silent or dst in self.silent or self.drop(src, dst, msg):
                    continue
                self.deliver(src, dst, msg)
            else:
                _, node, name, token = event
                if self.timers.get((node, name)) != token or node in self.silent:
                    continue
                del self.timers[(node, name)]
                self.apply(node, self.replicas[node].timer(name, self.now))
        self.now = max(self.now, min(until, self.heap[0][0]) if self.heap else self.now)
