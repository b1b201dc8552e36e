"""The chain store's writer thread: every write transaction of a deployed node, in order, off the event loop.

A deployed node's input handler must not wait for an fsync (``synchronous=FULL`` in WAL mode costs
milliseconds per commit). :class:`StoreWriter` owns the store's write connection on one thread; the
store hands it *units* (the SQL statements of one group commit, as data) and gets a
:class:`~concurrent.futures.Future` per unit that resolves once the unit's ``COMMIT`` returned, that
is once it is on disk. Units commit strictly in submission order, one transaction each, so the
order of writes is the order in which the node made them. The driver releases what a unit's input
produced (messages, answers, notifications) only after its future resolved: still nothing is heard
of before it is durable (docs/design.md rules 1 and 5).

A unit that fails (disk full, I/O error) fails every later unit too: the node's memory is then
ahead of its disk, so the node must stop rather than announce anything further (fail-stop).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from edgeledger.errors import EdgeLedgerError

__all__ = ["StoreWriter", "StoreWriteError", "Op"]

log = logging.getLogger("edgeledger.ledger.writer")

#: one write statement with its parameter rows (run with ``executemany``)
Op = tuple[str, Sequence[Sequence[Any]]]


class StoreWriteError(EdgeLedgerError):
    """A write transaction of the chain store failed; nothing after it is committed."""


class StoreWriter:
    """One thread that owns ``db`` and commits the units it is given, in order (FIFO)."""

    def __init__(self, db: sqlite3.Connection, name: str = "store-writer") -> None:
        self._db = db
        self._units: queue.SimpleQueue[tuple[list[Op], Future[None]] | None] = queue.SimpleQueue()
        self.failed: BaseException | None = None
        self.commits = 0  # units committed (with at least one statement)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, ops: list[Op]) -> Future[None]:
        """Commit ``ops`` as one transaction after every unit submitted before; the future resolves
        when it is durable (an empty unit resolves once every earlier one has)."""
        done: Future[None] = Future()
        self._units.put((ops, done))
        return done

    def close(self) -> None:
        """Commit what was submitted, then stop the thread (the connection stays open)."""
        if self._thread.is_alive():
            self._units.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (unit := self._units.get()) is not None:
            ops, done = unit
            if self.failed is not None:
                done.set_exception(StoreWriteError(f"an earlier store write failed: {self.failed}"))
                continue
            try:
                if ops:
                    self._commit(ops)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the unit
                self.failed = exc
                log.critical("store write failed, the node stops announcing: %s", exc)
                done.set_exception(StoreWriteError(f"store write failed: {exc}"))
            else:
                done.set_result(None)

    def _commit(self, ops: list[Op]) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            for sql, rows in ops:
                db.executemany(sql, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")  # the fsync (synchronous=FULL), here rather than on the event loop
        self.commits += 1
