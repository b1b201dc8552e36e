"""The chain state on disk: a SQLite table with a bounded cache in front.

A node that runs for weeks must not hold its whole key-value state in memory: contract call
logs and per-update FL keys are added with every block. :class:`StateTable` keeps the state
in the chain store's database (``state(key PRIMARY KEY, value)``) and the most recently used
entries in a cache bounded in bytes. Writes of the block being applied are staged in an
overlay that reads see first (a transaction sees its predecessors' writes, as in
:class:`~edgeledger.ledger.state.TxContext`); :meth:`DurableState.flush` writes them, the
replay-window nonces and the state height inside the SQL transaction that appends the block,
so block, receipts and state are durable together or not at all (docs/design.md rule 5).
Iteration is in key order (deterministic, like every read on the chain's paths).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

__all__ = ["StateTable", "DurableState", "STATE_SCHEMA", "DEFAULT_CACHE_BYTES", "Run"]

#: how a flush writes: ``run(sql, rows)`` (``executemany`` now, or a statement of a writer thread's unit)
Run = Callable[[str, Sequence[Sequence[Any]]], None]

DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
_MISSING = object()

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (sender TEXT NOT NULL, nonce INTEGER NOT NULL,
                                   PRIMARY KEY (sender, nonce)) WITHOUT ROWID;
"""


class StateTable(MutableMapping[str, bytes]):
    """``LedgerState.kv`` backed by SQLite: committed rows, a byte-bounded LRU cache, an overlay
    of the writes staged since the last flush (``None`` marks a deletion)."""

    def __init__(self, db: sqlite3.Connection, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._db = db
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, bytes | None] = OrderedDict()  # None: known to be absent
        self._cached_bytes = 0
        self.staged: dict[str, bytes | None] = {}
        # flushed writes whose transaction may not be durable yet (a store with a writer thread), newest first
        self.unsynced: Callable[[], list[dict[str, bytes | None]]] = list
        self.hits = self.misses = 0

    # -- reads -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> bytes:
        value = self._lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        value = self._lookup(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not None

    def _lookup(self, key: str) -> bytes | None:
        if key in self.staged:
            return self.staged[key]
        for written in self.unsynced():  # before the cache: it may have evicted them
            if key in written:
                return written[key]
        if key in self._cache:
            self._cache.move_to_end(key)
            self.hits += 1
            return self._cache[key]
        self.misses += 1
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        value = bytes(row[0]) if row else None
        self._remember(key, value)
        return value

    def _remember(self, key: str, value: bytes | None) -> None:
        old = self._cache.pop(key, _MISSING)
        if old is not _MISSING:
            self._cached_bytes -= _cost(key, old)  # type: ignore[arg-type]
        self._cache[key] = value
        self._cached_bytes += _cost(key, value)
        while self._cached_bytes > self.cache_bytes and self._cache:
            k, v = self._cache.popitem(last=False)
            self._cached_bytes -= _cost(k, v)

    def __iter__(self) -> Iterator[str]:
        """Every key, in key order (committed rows merged with the staged writes)."""
        staged: dict[str, bytes | None] = {}
        for written in reversed(self.unsynced()):
            staged.update(written)
        staged.update(self.staged)
        committed = (r[0] for r in self._db.execute("SELECT key FROM state ORDER BY key").fetchall())
        keys = sorted(set(committed) | {k for k, v in staged.items() if v is not None})
        return iter([k for k in keys if staged.get(k, b"") is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # -- writes (staged until the block is appended) ------------------------------------------
    def __setitem__(self, key: str, value: bytes) -> None:
        self.staged[key] = bytes(value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.staged[key] = None

    def pop(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        value = self._lookup(key)
        if value is not None:
            self.staged[key] = None
        return default if value is None else value

    def flush(self, run: Run) -> dict[str, bytes | None]:
        """Write the staged changes through ``run`` (inside the caller's transaction), move them to
        the cache and return them."""
        written = self.staged
        if not written:
            return written
        puts = [(k, v) for k, v in written.items() if v is not None]
        deletes = [(k,) for k, v in written.items() if v is None]
        if puts:
            run("INSERT OR REPLACE INTO state VALUES (?, ?)", puts)
        if deletes:
            run("DELETE FROM state WHERE key = ?", deletes)
        for k, v in written.items():
            self._remember(k, v)
        self.staged = {}
        return written

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes


def _cost(key: str, value: bytes | None) -> int:
    return len(key) + (len(value) if value is not None else 0) + 64  # + a rough per-entry overhead


class DurableState:
    """What :class:`~edgeledger.ledger.state.LedgerState` keeps on disk: the key-value table, the
    used nonces of each sender's replay window and the height applied. Owned by a
    :class:`~edgeledger.ledger.store.ChainStore`, which flushes it with each appended block."""

    def __init__(self, db: sqlite3.Connection, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._db = db
        db.executescript(STATE_SCHEMA)
        self.kv = StateTable(db, cache_bytes)
        self._nonce_adds: list[tuple[str, int]] = []
        self._nonce_floors: dict[str, int] = {}

    @property
    def height(self) -> int:
        """The height the stored state reflects (0: nothing applied yet)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'state_height'").fetchone()
        return int(row[0]) if row else 0

    def load_nonces(self) -> dict[str, set[int]]:
        """sender -> the nonces of its replay window that were used (as stored)."""
        used: dict[str, set[int]] = {}
        for sender, nonce in self._db.execute("SELECT sender, nonce FROM nonces"):
            used.setdefault(sender, set()).add(int(nonce))
        return used

    def use_nonce(self, sender: str, nonce: int) -> None:
        self._nonce_adds.append((sender, nonce))

    def trim_nonces(self, sender: str, floor: int) -> None:
        """Nonces of ``sender`` at or below ``floor`` left the window: forget them on disk too."""
        self._nonce_floors[sender] = max(floor, self._nonce_floors.get(sender, floor))

    def use_reader(self, db: sqlite3.Connection, unsynced: Callable[[], list[dict[str, bytes | None]]]) -> None:
        """Read through ``db`` (a read-only connection) and, first, the flushed writes ``unsynced()``
        names (newest first): the store's writer thread owns the connection the state was opened on."""
        self._db = self.kv._db = db
        self.kv.unsynced = unsynced

    def flush(self, height: int, run: Run | None = None) -> dict[str, bytes | None]:
        """Write everything staged for blocks up to ``height`` through ``run`` (default: now, on the
        connection; the caller holds the SQL transaction); returns the state rows written."""
        if run is None:
            db = self._db

            def run(sql: str, rows: Sequence[Sequence[Any]]) -> None:
                db.executemany(sql, rows)
        written = self.kv.flush(run)
        if self._nonce_adds:
            run("INSERT OR IGNORE INTO nonces VALUES (?, ?)", self._nonce_adds)
        if self._nonce_floors:
            run("DELETE FROM nonces WHERE sender = ? AND nonce <= ?", list(self._nonce_floors.items()))
        run("INSERT OR REPLACE INTO meta VALUES ('state_height', ?)", [(str(height).encode(),)])
        self._nonce_adds, self._nonce_floors = [], {}
        return written

    @property
    def pending(self) -> bool:
        return bool(self.kv.staged or self._nonce_adds or self._nonce_floors)
