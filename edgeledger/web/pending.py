"""Submissions a node acknowledged and has not yet seen committed: kept on disk, retransmitted.

A client that got ``202`` for a transaction must find it committed, exactly once, even when the
node it asked is cut off from the others or killed before the transaction reached the primary.
Castro & Liskov's clients retransmit a request to every replica until f+1 replies agree (TOCS
2002, section 4.1); a node does that for its API clients: it keeps each acknowledged
transaction in ``pending.sqlite`` (written before the ``202``; ``synchronous=NORMAL`` in WAL
mode, so it survives the process being killed), forwards every one still uncommitted to the
validators again every ``interval_s``, submits them again after a restart, and forgets them
when they commit or after their time to live (bounded in count too).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgeledger.codec import decode, encode
from edgeledger.ledger.transaction import Transaction

__all__ = ["PendingSubmissions"]


class PendingSubmissions:
    def __init__(self, path: str | Path | None = None, max_entries: int = 100_000) -> None:
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None,
                                   check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS pending (tx_id BLOB PRIMARY KEY, at REAL NOT NULL, "
                         "body BLOB NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS pending_at ON pending (at)")
        self.max_entries = max_entries

    def add(self, tx: Transaction, now: float) -> None:
        """Keep ``tx`` (durably against a process crash) before its submission is acknowledged."""
        self._db.execute("INSERT OR IGNORE INTO pending VALUES (?, ?, ?)", (tx.tx_id, now, encode(tx)))

    def committed(self, tx_ids: list[bytes]) -> None:
        if tx_ids:
            self._db.executemany("DELETE FROM pending WHERE tx_id = ?", [(t,) for t in tx_ids])

    def older_than(self, at: float, limit: int = 2000) -> list[Transaction]:
        """Acknowledged transactions submitted before ``at`` and not yet committed (oldest first)."""
        rows = self._db.execute("SELECT body FROM pending WHERE at < ? ORDER BY at LIMIT ?", (at, limit))
        return [decode(r[0], Transaction) for r in rows]

    def expire(self, before: float) -> int:
        """Forget submissions older than ``before`` and the oldest beyond ``max_entries``; how many."""
        gone = self._db.execute("DELETE FROM pending WHERE at < ?", (before,)).rowcount
        extra = len(self) - self.max_entries
        if extra > 0:
            gone += self._db.execute("DELETE FROM pending WHERE tx_id IN (SELECT tx_id FROM pending ORDER BY at "
                                     "LIMIT ?)", (extra,)).rowcount
        return gone

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def close(self) -> None:
        self._db.close()
