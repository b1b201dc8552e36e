"""What readers see of a chain store whose writes commit on a writer thread.

A store with a :class:`~edgeledger.ledger.writer.StoreWriter` answers two kinds of reader:

- **the node** (consensus, services, the state machine) must see its own writes at once, durable
  or not: a committed-transaction lookup, the head block or a state key read back one message
  later. Its reads look through the :class:`PendingUnit` s not yet known durable (newest first),
  then the read-only connection;
- **everyone else** (the HTTP API, the dashboards) must hear only of what is durable:
  :class:`CommittedView` reads the read-only connection, bounded by the highest durable block.

WAL lets the read-only connection read while the writer commits, so neither waits for an fsync.
The SQL of the reads is here once, shared by both readers and by the store itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from edgeledger.codec import decode
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.writer import Op

__all__ = ["PendingUnit", "CommittedView", "read_block", "read_block_by_hash", "read_blocks", "read_receipts",
           "read_location", "read_names_blob", "read_transaction_count"]


@dataclass
class PendingUnit:
    """The writes of one group commit: its SQL (for the writer) and what the node reads back of it."""

    ops: list[Op] = field(default_factory=list)
    blocks: dict[int, Block] = field(default_factory=dict)
    hashes: dict[bytes, int] = field(default_factory=dict)
    locations: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    receipts: dict[int, list[Receipt]] = field(default_factory=dict)
    blob_refs: set[bytes] = field(default_factory=set)
    meta: dict[str, bytes] = field(default_factory=dict)
    kv: dict[str, bytes | None] = field(default_factory=dict)  # state rows (None: deleted)
    future: Future[None] | None = None  # set when handed to the writer

    def add_block(self, block: Block, receipts: list[Receipt] | None) -> None:
        self.blocks[block.height] = block
        self.hashes[block.hash] = block.height
        for i, tx in enumerate(block.transactions):
            self.locations.setdefault(tx.tx_id, (block.height, i))
        if receipts is not None:
            self.receipts[block.height] = list(receipts)

    @property
    def durable(self) -> bool:
        return self.future is not None and self.future.done() and self.future.exception() is None


def read_block(db: sqlite3.Connection, height: int) -> Block | None:
    row = db.execute("SELECT body FROM blocks WHERE height = ?", (height,)).fetchone()
    return decode(row[0], Block) if row else None


def read_block_by_hash(db: sqlite3.Connection, digest: bytes) -> Block | None:
    row = db.execute("SELECT body FROM blocks WHERE hash = ?", (digest,)).fetchone()
    return decode(row[0], Block) if row else None


def read_blocks(db: sqlite3.Connection, start: int, end: int) -> list[Block]:
    rows = db.execute("SELECT body FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height", (start, end)).fetchall()
    return [decode(r[0], Block) for r in rows]


def read_receipts(db: sqlite3.Connection, block: Block) -> list[Receipt | None]:
    """The receipts of ``block``'s transactions in block order (None where none is stored)."""
    rows = {p: (ok, reason, code) for p, ok, reason, code in db.execute(
        "SELECT position, ok, reason, code FROM receipts WHERE height = ?", (block.height,))}
    return [Receipt(tx_id=tx.tx_id, height=block.height, ok=bool(rows[i][0]), reason=rows[i][1],
                    code=rows[i][2] or ("VALID" if rows[i][0] else "INVALID_OTHER_REASON"))
            if i in rows else None for i, tx in enumerate(block.transactions)]


def read_location(db: sqlite3.Connection, tx_id: bytes) -> tuple[int, int] | None:
    row = db.execute("SELECT height, position FROM transactions WHERE tx_id = ?", (tx_id,)).fetchone()
    return (row[0], row[1]) if row else None


def read_names_blob(db: sqlite3.Connection, digest: bytes) -> bool:
    return db.execute("SELECT 1 FROM blob_refs WHERE digest = ?", (digest,)).fetchone() is not None


def read_transaction_count(db: sqlite3.Connection, through_height: int) -> int:
    return int(db.execute("SELECT COUNT(*) FROM transactions WHERE height <= ?", (through_height,)).fetchone()[0])


class CommittedView:
    """The durable chain only, for the API and dashboards: the same read methods as the store,
    answered from the read-only connection up to the highest durable height (never a block, a
    receipt or a state key whose transaction has not committed)."""

    persistent = True

    def __init__(self, db: sqlite3.Connection, durable_height: Callable[[], int]) -> None:
        self._db = db
        self._durable_height = durable_height

    @property
    def height(self) -> int:
        return self._durable_height()

    def block(self, height: int) -> Block | None:
        return read_block(self._db, height) if 0 < height <= self.height else None

    def head(self) -> Block | None:
        return self.block(self.height)

    def block_by_hash(self, digest: bytes) -> Block | None:
        block = read_block_by_hash(self._db, digest)
        return block if block is not None and block.height <= self.height else None

    def blocks(self, start: int = 1, end: int | None = None) -> list[Block]:
        top = self.height
        return read_blocks(self._db, start, top if end is None else min(end, top))

    def iter_blocks(self, start: int = 1, end: int | None = None, chunk: int = 256) -> Iterator[Block]:
        """Durable blocks ``start..end`` in height order, ``chunk`` at a time (a long chain never sits in memory)."""
        top = self.height
        end = top if end is None else min(end, top)
        for low in range(start, end + 1, chunk):
            yield from read_blocks(self._db, low, min(low + chunk - 1, end))

    def receipts(self, block: Block) -> list[Receipt | None]:
        return read_receipts(self._db, block) if block.height <= self.height else [None] * len(block.transactions)

    def locate_transaction(self, tx_id: bytes) -> tuple[int, int] | None:
        where = read_location(self._db, tx_id)
        return where if where is not None and where[0] <= self.height else None

    def names_blob(self, digest: bytes) -> bool:
        return read_names_blob(self._db, digest)

    def transaction_count(self) -> int:
        return read_transaction_count(self._db, self.height)

    def state_value(self, key: str) -> tuple[bytes | None, int]:
        """A key of the durable chain state and the height that state reflects (one snapshot)."""
        row = self._db.execute("SELECT (SELECT value FROM state WHERE key = ?), "
                               "(SELECT value FROM meta WHERE key = 'state_height')", (key,)).fetchone()
        return (bytes(row[0]) if row[0] is not None else None), int(row[1] or 0)
