"""Durable block storage on SQLite.

WAL journal with ``synchronous=FULL``: ``append`` returns only after the block is on disk,
so a block acknowledged to anyone survives a crash (docs/design.md rule 5). ``path=":memory:"``
keeps the same SQL engine in memory for large simulations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from edgeledger.codec import decode, encode
from edgeledger.errors import ChainValidationError
from edgeledger.ledger.blobs import named_blobs
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.state_table import DEFAULT_CACHE_BYTES, DurableState

__all__ = ["ChainStore", "DeferredChainStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    tx_id BLOB PRIMARY KEY,
    height INTEGER NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    height INTEGER NOT NULL,
    position INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    reason TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (height, position)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blob_refs (digest BLOB PRIMARY KEY, height INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consensus_log (
    key TEXT PRIMARY KEY,
    height INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


class ChainStore:
    """Blocks by height and hash, transactions by id, receipts by (height, position); block
    appends are atomic and durable.

    Receipts are kept here rather than in the in-memory state so a long-lived node's memory
    does not grow with every transaction. They are derived data (replaying the blocks
    recomputes them), so :meth:`put_receipts` is idempotent and a node that crashed between
    storing a block and its receipts fills them in when it replays at start-up.

    A store on disk also keeps the chain state (:meth:`open_state`): each block's state changes
    are written in the transaction that appends it."""

    _state: DurableState | None = None

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = [r[1] for r in self._db.execute("PRAGMA table_info(receipts)")]
        if "code" not in columns:  # a store written before receipts carried validation codes
            self._db.execute("ALTER TABLE receipts ADD COLUMN code TEXT NOT NULL DEFAULT ''")
        row = self._db.execute("SELECT MAX(height) FROM blocks").fetchone()
        self._height = row[0] or 0

    @property
    def height(self) -> int:
        return self._height

    @property
    def persistent(self) -> bool:
        """True for a store on disk (a deployed node), False for ``:memory:`` (simulations)."""
        return self.path != ":memory:"

    def open_state(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> DurableState:
        """The chain state kept in this store's database (made once); :meth:`append` writes what
        the state staged for the block in the block's own transaction."""
        if self._state is None:
            self._state = DurableState(self._db, cache_bytes)
        return self._state

    def put_state(self, height: int) -> None:
        """Write the state staged by replaying stored blocks up to ``height`` (one transaction)."""
        if self._state is None:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._state.flush(height)

    def append(self, block: Block, receipts: list[Receipt] | None = None) -> None:
        """Store ``block`` at the next height, with its transactions' receipts when given, in one
        transaction (durable on return)."""
        if block.height != self._height + 1:
            raise ChainValidationError(f"store expects height {self._height + 1}, got {block.height}")
        rows = [(tx.tx_id, block.height, i) for i, tx in enumerate(block.transactions)]
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO blocks VALUES (?, ?, ?)", (block.height, block.hash, encode(block)))
            self._db.executemany("INSERT OR IGNORE INTO transactions VALUES (?, ?, ?)", rows)
            refs = [(d, block.height) for tx in block.transactions for d in named_blobs(tx)]
            if refs:
                self._db.executemany("INSERT OR IGNORE INTO blob_refs VALUES (?, ?)", refs)
            if receipts is not None:
                self._db.executemany("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)",
                                     self._receipt_rows(block, receipts))
            if self._state is not None:
                self._state.flush(block.height)
        self._height = block.height

    @staticmethod
    def _receipt_rows(block: Block, receipts: list[Receipt]) -> list[tuple[int, int, int, str, str]]:
        if len(receipts) != len(block.transactions):
            raise ChainValidationError(f"block {block.height} has {len(block.transactions)} transactions, "
                                       f"got {len(receipts)} receipts")
        return [(block.height, i, int(r.ok), r.reason, r.code) for i, r in enumerate(receipts)]

    def put_receipts(self, block: Block, receipts: list[Receipt]) -> None:
        """Record the receipts of stored ``block``'s transactions, in block order; receipts already
        stored are kept (idempotent: replaying the chain yields the same receipts)."""
        rows = self._receipt_rows(block, receipts)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)", rows)

    def receipts(self, block: Block) -> list[Receipt | None]:
        """The receipts of ``block``'s transactions in block order (None where none is stored)."""
        rows = {p: (ok, reason, code) for p, ok, reason, code in self._db.execute(
            "SELECT position, ok, reason, code FROM receipts WHERE height = ?", (block.height,))}
        return [Receipt(tx_id=tx.tx_id, height=block.height, ok=bool(rows[i][0]), reason=rows[i][1],
                        code=rows[i][2] or ("VALID" if rows[i][0] else "INVALID_OTHER_REASON"))
                if i in rows else None for i, tx in enumerate(block.transactions)]

    def block(self, height: int) -> Block | None:
        if not 0 < height <= self._height:  # also keeps out-of-range integers away from SQLite
            return None
        row = self._db.execute("SELECT body FROM blocks WHERE height = ?", (height,)).fetchone()
        return decode(row[0], Block) if row else None

    def block_by_hash(self, digest: bytes) -> Block | None:
        row = self._db.execute("SELECT body FROM blocks WHERE hash = ?", (digest,)).fetchone()
        return decode(row[0], Block) if row else None

    def head(self) -> Block | None:
        return self.block(self._height) if self._height else None

    def locate_transaction(self, tx_id: bytes) -> tuple[int, int] | None:
        """(height, position) of a committed transaction, or None."""
        row = self._db.execute("SELECT height, position FROM transactions WHERE tx_id = ?", (tx_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def names_blob(self, digest: bytes) -> bool:
        """Does a committed transaction name the blob ``digest`` (see ``blob_references``)?"""
        if self._height == 0:  # an empty store (a device's deferred one) answers without a database
            return False
        return self._db.execute("SELECT 1 FROM blob_refs WHERE digest = ?", (digest,)).fetchone() is not None

    def transaction_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])

    def blocks(self, start: int = 1, end: int | None = None) -> list[Block]:
        end = self._height if end is None else end
        rows = self._db.execute("SELECT body FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height",
                                (start, end)).fetchall()
        return [decode(r[0], Block) for r in rows]

    def iter_blocks(self, start: int = 1, end: int | None = None, chunk: int = 256) -> Iterator[Block]:
        """Blocks ``start..end`` in height order, read ``chunk`` at a time (a long chain never sits
        in memory at once)."""
        end = self._height if end is None else end
        for low in range(max(1, start), end + 1, chunk):
            yield from self.blocks(low, min(low + chunk - 1, end))

    def put_meta(self, key: str, value: bytes) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_consensus(self, entries: list[tuple[str, int, bytes]]) -> None:
        """Write consensus-log entries ``(key, height, body)`` in one durable transaction (a replica's
        votes and view must be on disk before the messages that announce them leave)."""
        if not entries:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO consensus_log VALUES (?, ?, ?)", entries)

    def forget_consensus(self, through_height: int) -> None:
        """Drop consensus-log entries of heights 1..``through_height`` (height-0 entries stay)."""
        with self._db:
            self._db.execute("DELETE FROM consensus_log WHERE height BETWEEN 1 AND ?", (through_height,))

    def consensus_log(self) -> list[bytes]:
        """Every consensus-log entry's body, in key order (what a restarted core resumes from)."""
        return [r[0] for r in self._db.execute("SELECT body FROM consensus_log ORDER BY key")]

    def close(self) -> None:
        self._db.close()


class DeferredChainStore(ChainStore):
    """An in-memory :class:`ChainStore` that opens its SQLite database on the first write or query
    that needs it: an empty store (a device that follows no chain) costs no database. Reads of
    an empty store (height, head, blocks) answer without one."""

    def __init__(self) -> None:
        self.path = ":memory:"
        self._conn: sqlite3.Connection | None = None
        self._height = 0

    @property
    def _db(self) -> sqlite3.Connection:  # type: ignore[override]
        if self._conn is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._conn.executescript(_SCHEMA)
        return self._conn

    def blocks(self, start: int = 1, end: int | None = None) -> list[Block]:
        if self._conn is None:
            return []
        return super().blocks(start, end)

    def consensus_log(self) -> list[bytes]:
        if self._conn is None:
            return []
        return super().consensus_log()

    def iter_blocks(self, start: int = 1, end: int | None = None, chunk: int = 256) -> Iterator[Block]:
        if self._conn is None:
            return iter(())
        return super().iter_blocks(start, end, chunk)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
