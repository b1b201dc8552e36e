"""Signed message envelopes for real networks: who sent it, on which chain, to whom, and never twice.

Every message between node processes travels as an :class:`Envelope` signed by its sender
over ``(chain id, sender, recipient, sequence, sha256(body))``. The receiver accepts it only
when the sender is a known identity, the signature verifies, the envelope names its chain and
is addressed to it, and the sequence number was not seen before (a per-sender sliding
window), so a recorded message cannot be replayed, redirected to another node or carried to
another chain that shares the keys.

Replays across restarts: a :class:`WireLog` (SQLite in the node's data directory) keeps each
sender's highest accepted sequence, written before the envelopes of a batch are handed to the
node; a restarted receiver refuses every sequence at or below it. A sender keeps a durable
lease on its own sequence numbers, so its numbers keep rising across its restarts even when
the clock of a small board without a real-time clock goes back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import RemoteProtocolError, SignatureError

__all__ = ["Envelope", "seal", "ReplayWindow", "open_envelope", "check_envelope", "WireLog", "SEQUENCE_LEASE"]

WINDOW = 4096
SEQUENCE_LEASE = 1_000_000  # sequence numbers a sender reserves durably at a time


class Envelope(Record):
    sender: str
    recipient: str
    sequence: int
    body: bytes
    signature: bytes = b""
    chain_id: str = ""

    def signing_bytes(self) -> bytes:
        return encode(("edgeledger-envelope/2", self.chain_id, self.sender, self.recipient, self.sequence,
                       sha256(self.body)))


def seal(key: PrivateKey, sender: str, recipient: str, sequence: int, body: bytes, chain_id: str = "") -> bytes:
    """Encode ``body`` into a signed envelope from ``sender`` to ``recipient`` on chain ``chain_id``."""
    env = Envelope(sender=sender, recipient=recipient, sequence=sequence, body=body, chain_id=chain_id)
    return encode(Envelope(sender=sender, recipient=recipient, sequence=sequence, body=body, chain_id=chain_id,
                           signature=key.sign(env.signing_bytes())))


@dataclass
class ReplayWindow:
    """Accept each (sender, sequence) once; sequences older than the window, or at or below the
    floor a restart recovered from the :class:`WireLog`, are refused."""

    highest: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set[int]] = field(default_factory=dict)
    floor: dict[str, int] = field(default_factory=dict)

    def fresh(self, sender: str, sequence: int) -> bool:
        """Would ``sequence`` from ``sender`` be accepted? (changes nothing)"""
        top = self.highest.get(sender, 0)
        return not (sequence <= self.floor.get(sender, 0) or sequence <= top - WINDOW
                    or sequence in self.seen.get(sender, ()))

    def accept(self, sender: str, sequence: int) -> bool:
        if not self.fresh(sender, sequence):
            return False
        seen = self.seen.setdefault(sender, set())
        seen.add(sequence)
        if sequence > self.highest.get(sender, 0):
            self.highest[sender] = sequence
            floor = sequence - WINDOW
            if len(seen) > 2 * WINDOW:
                self.seen[sender] = {s for s in seen if s > floor}
        return True


def check_envelope(data: bytes, me: str, chain_id: str) -> Envelope:
    """Decode an envelope and check what costs nothing: its chain and its addressee (no signature yet)."""
    env = decode(data, Envelope)
    if env.chain_id != chain_id:
        raise RemoteProtocolError(f"envelope is for chain {env.chain_id!r}, not {chain_id!r}")
    if env.recipient != me:
        raise RemoteProtocolError(f"envelope is addressed to {env.recipient!r}, not {me!r}")
    return env


def open_envelope(data: bytes | Envelope, me: str, verify: Callable[[str, bytes, bytes], bool],
                  window: ReplayWindow, chain_id: str = "") -> Envelope:
    """Decode and check an envelope addressed to ``me`` on ``chain_id``; raise naming what is wrong."""
    env = data if isinstance(data, Envelope) else check_envelope(data, me, chain_id)
    if not window.fresh(env.sender, env.sequence):  # before the signature: a replay costs no verification
        raise RemoteProtocolError(f"envelope {env.sequence} from {env.sender!r} is a replay")
    if not verify(env.sender, env.signing_bytes(), env.signature):
        raise SignatureError(f"envelope from {env.sender!r}: unknown sender or bad signature")
    window.accept(env.sender, env.sequence)
    return env


class WireLog:
    """The durable side of the wire in a node's data directory (``wire.sqlite``): each sender's
    highest accepted sequence and this node's own sequence lease.

    Its own connection runs ``synchronous=NORMAL`` in WAL mode: a write survives the process
    being killed (the case replay protection must cover: an attacker replays to a restarted
    node) without an fsync per received batch; the lease is written with a full sync."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS peer_sequences (sender TEXT PRIMARY KEY, highest INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS own (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        """)

    def floors(self) -> dict[str, int]:
        """sender -> highest sequence accepted before (a restarted window refuses up to it)."""
        return {s: int(h) for s, h in self._db.execute("SELECT sender, highest FROM peer_sequences")}

    def save(self, highest: dict[str, int]) -> None:
        """Record the highest accepted sequences (before the batch's messages reach the node)."""
        if highest:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO peer_sequences VALUES (?, ?) ON CONFLICT(sender) DO UPDATE "
                                     "SET highest = MAX(highest, excluded.highest)", list(highest.items()))

    def lease(self) -> int:
        """The end of this node's current sequence lease (0: none yet)."""
        row = self._db.execute("SELECT value FROM own WHERE key = 'lease'").fetchone()
        return int(row[0]) if row else 0

    def extend_lease(self, upto: int) -> None:
        """Reserve this node's sequence numbers up to ``upto`` (durably, before any is used)."""
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("INSERT OR REPLACE INTO own VALUES ('lease', ?)", (upto,))
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self._db.close()
