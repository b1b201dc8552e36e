"""Durable block storage on SQLite.

WAL journal with ``synchronous=FULL``: ``append`` returns only after the block is on disk,
so a block acknowledged to anyone survives a crash (docs/design.md rule 5). ``path=":memory:"``
keeps the same SQL engine in memory for large simulations.

Group commit (issue 22): inside :meth:`ChainStore.group` every write joins one transaction that
is made durable (one fsync) when the outermost group ends; the node opens a group around one
input and lets nothing it produced leave before the group ends, so what is stored is still
durable before anyone hears of it.

Writer thread (issue 20): a deployed node calls :meth:`ChainStore.start_writer` after start-up.
From then on a :class:`~edgeledger.ledger.writer.StoreWriter` thread owns the write connection:
each group (or each write outside one) becomes a unit of SQL handed to it, committed in order,
and :meth:`ChainStore.last_commit` is the future the driver waits on before it releases anything
the unit's input produced. The node reads back its own not-yet-durable writes through the pending
units (``store_views.py``); the API and dashboards read :attr:`ChainStore.committed`, the durable
chain only, on a read-only connection that never waits for the writer's fsync.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgeledger.codec import encode
from edgeledger.errors import ChainValidationError, ConfigError
from edgeledger.ledger.blobs import named_blobs
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.state_table import DEFAULT_CACHE_BYTES, DurableState
from edgeledger.ledger.store_views import (CommittedView, PendingUnit, read_block, read_block_by_hash, read_blocks,
                                           read_location, read_names_blob, read_receipts, read_transaction_count)
from edgeledger.ledger.writer import StoreWriter

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
    _writer: StoreWriter | None = None  # after start_writer(): writes commit on its thread
    _reader: sqlite3.Connection | None = None  # ... and reads use this read-only connection
    _open: PendingUnit | None = None  # the unit being written (a group, or one write)
    _last: Future[None] | None = None  # the future of the last unit handed to the writer

    _grouped = False  # inside group(): writes join one transaction
    _group_open = False  # that transaction has begun

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

    @property
    def _rdb(self) -> sqlite3.Connection:
        """The connection reads use: the read-only one once a writer thread owns the other."""
        return self._reader if self._reader is not None else self._db

    # -- the writer thread -------------------------------------------------------------------
    def start_writer(self) -> None:
        """Hand the write connection to a :class:`StoreWriter` thread (a deployed node, after its
        start-up replay); reads move to a read-only connection."""
        if self._writer is not None:
            return
        if not self.persistent:
            raise ConfigError(f"store path {self.path!r}: a writer thread needs a store on disk (WAL readers)")
        self._reader = sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                                       check_same_thread=False)
        self._units: deque[PendingUnit] = deque()
        self._writer = StoreWriter(self._db)
        if self._state is not None:
            self._state.use_reader(self._reader, self._pending_kv)

    @property
    def threaded(self) -> bool:
        """True once writes commit on a writer thread (:meth:`start_writer`)."""
        return self._writer is not None

    def last_commit(self) -> Future[None] | None:
        """The future of the last unit handed to the writer (None without a writer, or before any):
        everything written so far is durable once it resolves (units commit in order)."""
        return self._last

    def drain(self) -> None:
        """Wait until everything handed to the writer is durable (start-up and shutdown only)."""
        if self._last is not None:
            self._last.result()

    def _seal(self) -> None:
        unit, self._open = self._open, None
        if unit is None or self._writer is None:
            return
        unit.future = self._last = self._writer.submit(unit.ops)
        self._pending()  # drop the units known durable (their rows are readable on the read-only connection)
        self._units.append(unit)

    def _pending(self) -> list[PendingUnit]:
        """The units not known durable, oldest first (the open one last); durable ones are dropped."""
        if self._writer is None:
            return []
        while self._units and self._units[0].durable:
            self._units.popleft()
        return [*self._units, *([self._open] if self._open is not None else [])]

    def _pending_kv(self) -> list[dict[str, bytes | None]]:
        return [u.kv for u in reversed(self._pending()) if u.kv]

    def _durable_height(self) -> int:
        lows = [min(u.blocks) for u in self._pending() if u.blocks]
        return min(lows) - 1 if lows else self._height

    @property
    def committed(self) -> Any:
        """What the API and dashboards read: the durable chain (a :class:`CommittedView` with a
        writer thread; this store itself otherwise, where every write is durable on return)."""
        if self._reader is None:
            return self
        view = getattr(self, "_view", None)
        if view is None:
            view = self._view = CommittedView(self._reader, self._durable_height)
        return view

    # -- writes ------------------------------------------------------------------------------
    def open_state(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> DurableState:
        """The chain state kept in this store's database (made once); :meth:`append` writes what
        the state staged for the block in the block's own transaction."""
        if self._state is None:
            self.drain()  # the write connection creates the tables: the writer thread (if any) must be idle
            self._state = DurableState(self._db, cache_bytes)
            if self._reader is not None:
                self._state.use_reader(self._reader, self._pending_kv)
        return self._state

    def put_state(self, height: int) -> None:
        """Write the state staged by replaying stored blocks up to ``height`` (one transaction)."""
        if self._state is None:
            return
        with self._write() as unit:
            self._flush_state(height, unit)

    def _flush_state(self, height: int, unit: PendingUnit | None) -> None:
        assert self._state is not None
        written = self._state.flush(height, self._run)
        if unit is not None:
            unit.kv.update(written)

    @contextmanager
    def group(self) -> Iterator[None]:
        """Make every write inside one transaction, durable when the outermost group ends (also
        when it ends by an exception: what was written stays, as it would have without a group).
        With a writer thread the group is one unit, handed to the writer when the group ends."""
        if self._grouped:
            yield
            return
        self._grouped = True
        self._group_open = False
        try:
            yield
        finally:
            self._grouped = False
            if self._writer is not None:
                self._seal()
            elif self._group_open:
                self._group_open = False
                self._db.execute("COMMIT")

    def _run(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one write statement: now (inside :meth:`_write`), or as part of the open unit."""
        if self._open is not None:
            self._open.ops.append((sql, list(rows)))
        else:
            self._db.executemany(sql, rows)

    @contextmanager
    def _write(self) -> Iterator[PendingUnit | None]:
        """One write: its own durable transaction, or part of the open group's (with a writer
        thread: part of the open unit, yielded so the write can record what readers see)."""
        if self._writer is not None:
            if self._open is None:
                self._open = PendingUnit()
            unit, count = self._open, len(self._open.ops)
            try:
                yield unit
            except BaseException:
                del unit.ops[count:]  # a failed write leaves nothing of itself in the unit
                raise
            finally:
                if not self._grouped:
                    self._seal()
            return
        if self._grouped:
            if not self._group_open:
                self._db.execute("BEGIN")
                self._group_open = True
            self._db.execute("SAVEPOINT write")  # a failed write leaves nothing of itself in the group
            try:
                yield None
            except BaseException:
                self._db.execute("ROLLBACK TO write")
                raise
            finally:
                self._db.execute("RELEASE write")
            return
        with self._db:
            self._db.execute("BEGIN")
            yield None

    def append(self, block: Block, receipts: list[Receipt] | None = None) -> None:
        """Store ``block`` at the next height, with its transactions' receipts when given, in one
        transaction (durable on return; with a writer thread, once :meth:`last_commit` resolves)."""
        if block.height != self._height + 1:
            raise ChainValidationError(f"store expects height {self._height + 1}, got {block.height}")
        rows = [(tx.tx_id, block.height, i) for i, tx in enumerate(block.transactions)]
        receipt_rows = self._receipt_rows(block, receipts) if receipts is not None else []
        with self._write() as unit:
            self._run("INSERT INTO blocks VALUES (?, ?, ?)", [(block.height, block.hash, encode(block))])
            self._run("INSERT OR IGNORE INTO transactions VALUES (?, ?, ?)", rows)
            refs = [(d, block.height) for tx in block.transactions for d in named_blobs(tx)]
            if refs:
                self._run("INSERT OR IGNORE INTO blob_refs VALUES (?, ?)", refs)
                if unit is not None:
                    unit.blob_refs.update(d for d, _ in refs)
            if receipt_rows:
                self._run("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)", receipt_rows)
            if self._state is not None:
                self._flush_state(block.height, unit)
            if unit is not None:
                unit.add_block(block, receipts)
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
        with self._write() as unit:
            self._run("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)", rows)
            if unit is not None:
                unit.receipts.setdefault(block.height, list(receipts))

    def put_meta(self, key: str, value: bytes) -> None:
        with self._write() as unit:
            self._run("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])
            if unit is not None:
                unit.meta[key] = value

    def put_consensus(self, entries: list[tuple[str, int, bytes]]) -> None:
        """Write consensus-log entries ``(key, height, body)`` in one durable transaction (a replica's
        votes and view must be on disk before the messages that announce them leave)."""
        if not entries:
            return
        with self._write():
            self._run("INSERT OR REPLACE INTO consensus_log VALUES (?, ?, ?)", entries)

    def forget_consensus(self, through_height: int) -> None:
        """Drop consensus-log entries of heights 1..``through_height`` (height-0 entries stay)."""
        with self._write():
            self._run("DELETE FROM consensus_log WHERE height BETWEEN 1 AND ?", [(through_height,)])

    # -- reads: the node's own view (its writes, durable or not) --------------------------------
    def receipts(self, block: Block) -> list[Receipt | None]:
        """The receipts of ``block``'s transactions in block order (None where none is stored)."""
        for unit in reversed(self._pending()):
            if block.height in unit.receipts:
                return list(unit.receipts[block.height])
        return read_receipts(self._rdb, block)

    def block(self, height: int) -> Block | None:
        if not 0 < height <= self._height:  # also keeps out-of-range integers away from SQLite
            return None
        for unit in reversed(self._pending()):
            if height in unit.blocks:
                return unit.blocks[height]
        return read_block(self._rdb, height)

    def block_by_hash(self, digest: bytes) -> Block | None:
        for unit in self._pending():
            if digest in unit.hashes:
                return unit.blocks[unit.hashes[digest]]
        return read_block_by_hash(self._rdb, digest)

    def head(self) -> Block | None:
        return self.block(self._height) if self._height else None

    def locate_transaction(self, tx_id: bytes) -> tuple[int, int] | None:
        """(height, position) of a committed transaction, or None (its first occurrence)."""
        where = read_location(self._rdb, tx_id)
        if where is None:
            where = next((u.locations[tx_id] for u in self._pending() if tx_id in u.locations), None)
        return where

    def names_blob(self, digest: bytes) -> bool:
        """Does a committed transaction name the blob ``digest`` (see ``blob_references``)?"""
        if self._height == 0:  # an empty store (a device's deferred one) answers without a database
            return False
        return any(digest in u.blob_refs for u in self._pending()) or read_names_blob(self._rdb, digest)

    def transaction_count(self) -> int:
        return read_transaction_count(self._rdb, self._height) + sum(
            len(u.locations) for u in self._pending())

    def blocks(self, start: int = 1, end: int | None = None) -> list[Block]:
        end = self._height if end is None else end
        found = {b.height: b for b in read_blocks(self._rdb, start, end)}
        for unit in self._pending():
            found.update((h, b) for h, b in unit.blocks.items() if start <= h <= end)
        return [found[h] for h in sorted(found)]

    def iter_blocks(self, start: int = 1, end: int | None = None, chunk: int = 256) -> Iterator[Block]:
        """Blocks ``start..end`` in height order, read ``chunk`` at a time (a long chain never sits
        in memory at once)."""
        end = self._height if end is None else end
        for low in range(max(1, start), end + 1, chunk):
            yield from self.blocks(low, min(low + chunk - 1, end))

    def get_meta(self, key: str) -> bytes | None:
        for unit in reversed(self._pending()):
            if key in unit.meta:
                return unit.meta[key]
        row = self._rdb.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def consensus_log(self) -> list[bytes]:
        """Every consensus-log entry's body, in key order (what a restarted core resumes from; with
        a writer thread, after everything handed to it is durable)."""
        self.drain()
        return [r[0] for r in self._rdb.execute("SELECT body FROM consensus_log ORDER BY key")]

    def close(self) -> None:
        if self._writer is not None:
            self._seal()
            self._writer.close()  # commits what was handed to it first
            if self._reader is not None:
                self._reader.close()
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
