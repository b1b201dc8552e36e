"""The committed chain as a PBFT replica needs it: its window in memory, the rest on the node's disk.

A replica consults committed blocks to serve state transfer (any height a laggard asks
for), to make checkpoints stable (heights above the stable one) and to refuse a proposal
that repeats a committed transaction (any height). Keeping every block and every
transaction id in memory makes a long-lived node grow with its chain, so
:class:`CommittedChain` keeps only the newest ``keep`` blocks (and their transaction ids)
and asks the node's :class:`~edgeledger.consensus.base.CommittedLedger` for older ones. A
block leaves memory only once the ledger holds it (the node appends a block after the core
emits ``CommitBlock``, so the ledger may lag by the blocks of one input). Without a ledger (a
core wired directly by a test harness) everything stays in memory, as before.
"""

from __future__ import annotations

from collections.abc import Iterator

from edgeledger.consensus.base import CommittedLedger
from edgeledger.ledger.block import Block

__all__ = ["CommittedChain"]


class CommittedChain:
    """Committed blocks by height, and the ids of their transactions."""

    def __init__(self, keep: int, ledger: CommittedLedger | None = None) -> None:
        self.keep = max(1, keep)
        self.ledger = ledger
        self.height = 0
        self._blocks: dict[int, Block] = {}
        self._tx_heights: dict[bytes, int] = {}

    def add(self, block: Block) -> None:
        """``block`` committed at the next height."""
        self._blocks[block.height] = block
        self.height = max(self.height, block.height)
        for tx in block.transactions:
            self._tx_heights.setdefault(tx.tx_id, block.height)
        self._evict()

    def _evict(self) -> None:
        if self.ledger is None:
            return
        below = min(self.height - self.keep, self.ledger.height)
        for h in [h for h in self._blocks if h <= below]:
            for tx in self._blocks.pop(h).transactions:
                if self._tx_heights.get(tx.tx_id) == h:
                    del self._tx_heights[tx.tx_id]

    def get(self, height: int) -> Block | None:
        block = self._blocks.get(height)
        if block is None and self.ledger is not None and 0 < height <= self.height:
            block = self.ledger.block(height)
        return block

    def __getitem__(self, height: int) -> Block:
        block = self.get(height)
        if block is None:
            raise KeyError(height)
        return block

    def __contains__(self, height: object) -> bool:
        return isinstance(height, int) and self.get(height) is not None

    def __iter__(self) -> Iterator[int]:
        """The heights held in memory (every committed one when there is no ledger)."""
        return iter(sorted(self._blocks))

    def __len__(self) -> int:
        return len(self._blocks)

    def has_tx(self, tx_id: bytes) -> bool:
        """Was a transaction with this id committed (in memory, or in the ledger)?"""
        if tx_id in self._tx_heights:
            return True
        return self.ledger is not None and self.ledger.locate_transaction(tx_id) is not None

    @property
    def in_memory(self) -> int:
        """Blocks held in memory (bounded by ``keep`` plus the ledger's lag once a ledger is set)."""
        return len(self._blocks)
