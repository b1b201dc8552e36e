"""An in-memory harness wiring PBFT cores together without the simulator (STYLE rule 11)."""

from __future__ import annotations

from collections import deque

from edgeledger.consensus.base import CommitBlock
from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.effects import Broadcast, Send, SetTimer
from edgeledger.ledger.identity import genesis_hash


class Harness:
    """Delivers messages FIFO; ``silent`` replicas receive nothing and send nothing."""

    def __init__(self, keys, membership, silent=(), config=None):
        g = genesis_hash(membership.genesis)
        self.replicas = {v: PbftReplica(v, keys[v], membership, g, config or PbftConfig(max_block_txs=10))
                         for v in membership.validators}
        self.silent = set(silent)
        self.queue: deque = deque()
        self.timers: list[tuple[str, str]] = []
        self.committed: dict[str, list] = {v: [] for v in self.replicas}
        self.rejections: list = []
        self.now = 0.0

    def apply(self, node, effects):
        for e in effects:
            if isinstance(e, Send):
                self.queue.append((node, e.to, e.message))
            elif isinstance(e, Broadcast):
                for to in e.to:
                    self.queue.append((node, to, e.message))
            elif isinstance(e, SetTimer):
                self.timers.append((node, e.name))
            elif isinstance(e, CommitBlock):
                self.committed[node].append(e.block)
            elif type(e).__name__ == "Rejected":
                self.rejections.append((node, e))

    def submit(self, node, tx):
        self.apply(node, self.replicas[node].submit(tx, self.now))

    def run(self, max_steps=100_000):
        steps = 0
        while (self.queue or self.timers) and steps < max_steps:
            steps += 1
            self.now += 0.001
            if self.queue:
                src, dst, msg = self.queue.popleft()
                if src in self.silent or dst in self.silent:
                    continue
                self.apply(dst, self.replicas[dst].receive(src, msg, self.now))
            else:
                node, name = self.timers.pop(0)
                if node not in self.silent:
                    self.apply(node, self.replicas[node].timer(name, self.now))
