"""Signed message envelopes for real networks: who sent it, to whom, and never twice.

Every message between node processes travels as an :class:`Envelope` signed by its sender
over ``(sender, recipient, sequence, sha256(body))``. The receiver accepts it only when the
sender is a known identity, the signature verifies, the envelope is addressed to it and
the sequence number was not seen before (a per-sender sliding window), so a recorded
message cannot be replayed or redirected.

An :class:`EnvelopeBatch` is the same for every message of one ``POST /v1/messages``: one
signature over ``(sender, recipient, sequence, sha256(bodies))`` covers them all, so a batch
costs one signature and one verification however many messages it carries (issue 22: per
message, those two were a third of a validator's work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import RemoteProtocolError, SignatureError

__all__ = ["Envelope", "EnvelopeBatch", "seal", "seal_batch", "ReplayWindow", "open_envelope", "open_batch"]

WINDOW = 4096
_E = TypeVar("_E", "Envelope", "EnvelopeBatch")


class Envelope(Record):
    sender: str
    recipient: str
    sequence: int
    body: bytes
    signature: bytes = b""

    def signing_bytes(self) -> bytes:
        return encode(("edgeledger-envelope", self.sender, self.recipient, self.sequence, sha256(self.body)))


class EnvelopeBatch(Record):
    sender: str
    recipient: str
    sequence: int
    bodies: list[bytes]
    signature: bytes = b""

    def signing_bytes(self) -> bytes:
        return encode(("edgeledger-envelope-batch", self.sender, self.recipient, self.sequence,
                       sha256(encode(self.bodies))))


def seal_batch(key: PrivateKey, sender: str, recipient: str, sequence: int, bodies: list[bytes]) -> bytes:
    """Encode ``bodies`` into one signed batch from ``sender`` to ``recipient``."""
    batch = EnvelopeBatch(sender=sender, recipient=recipient, sequence=sequence, bodies=bodies)
    return encode(EnvelopeBatch(sender=sender, recipient=recipient, sequence=sequence, bodies=bodies,
                                signature=key.sign(batch.signing_bytes())))


def open_batch(data: bytes | EnvelopeBatch, me: str, verify: Callable[[str, bytes, bytes], bool],
               window: ReplayWindow) -> EnvelopeBatch:
    """Decode and check a batch addressed to ``me`` (as :func:`open_envelope` checks one envelope)."""
    batch = data if isinstance(data, EnvelopeBatch) else decode(data, EnvelopeBatch)
    return _checked(batch, "envelope batch", me, verify, window)


def seal(key: PrivateKey, sender: str, recipient: str, sequence: int, body: bytes) -> bytes:
    """Encode ``body`` into a signed envelope from ``sender`` to ``recipient``."""
    env = Envelope(sender=sender, recipient=recipient, sequence=sequence, body=body)
    return encode(Envelope(sender=sender, recipient=recipient, sequence=sequence, body=body,
                           signature=key.sign(env.signing_bytes())))


@dataclass
class ReplayWindow:
    """Accept each (sender, sequence) once; sequences older than the window are refused."""

    highest: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set[int]] = field(default_factory=dict)

    def accept(self, sender: str, sequence: int) -> bool:
        top = self.highest.get(sender, 0)
        seen = self.seen.setdefault(sender, set())
        if sequence <= top - WINDOW or sequence in seen:
            return False
        seen.add(sequence)
        if sequence > top:
            self.highest[sender] = sequence
            floor = sequence - WINDOW
            if len(seen) > 2 * WINDOW:
                self.seen[sender] = {s for s in seen if s > floor}
        return True


def open_envelope(data: bytes, me: str, verify: Callable[[str, bytes, bytes], bool],
                  window: ReplayWindow) -> Envelope:
    """Decode and check an envelope addressed to ``me``; raise naming what is wrong."""
    return _checked(decode(data, Envelope), "envelope", me, verify, window)


def _checked(env: _E, what: str, me: str, verify: Callable[[str, bytes, bytes], bool], window: ReplayWindow) -> _E:
    if env.recipient != me:
        raise RemoteProtocolError(f"{what} is addressed to {env.recipient!r}, not {me!r}")
    if not verify(env.sender, env.signing_bytes(), env.signature):
        raise SignatureError(f"{what} from {env.sender!r}: unknown sender or bad signature")
    if not window.accept(env.sender, env.sequence):
        raise RemoteProtocolError(f"{what} {env.sequence} from {env.sender!r} is a replay")
    return env
