"""Transactions: signed, nonce-ordered requests of one ``kind`` with a canonical payload.

Big data never rides in a transaction (docs/design.md rule 3): an FL update is named by its blob
digest and size; the bytes travel off-chain and anyone can check them against the chain.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import msgspec

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import SignatureError
from edgeledger.ledger.identity import Membership

__all__ = ["Transaction", "make_transaction", "verify_transaction", "signature_valid", "MAX_PAYLOAD_BYTES"]

MAX_PAYLOAD_BYTES = 64 * 1024


class Transaction(Record, tag="tx", dict=True):
    """A signed request. ``tx_id`` is the hash of the whole encoded transaction.

    The id is computed once per object (``dict=True`` gives the frozen struct a ``__dict__`` for
    the cached value; it is never encoded): a transaction's id is looked up a dozen times between
    admission and its receipt."""

    sender: str
    nonce: int
    kind: str
    payload: bytes
    signature: bytes = b""

    def signing_bytes(self) -> bytes:
        return encode(("edgeledger-tx", self.sender, self.nonce, self.kind, self.payload))

    @cached_property
    def tx_id(self) -> bytes:
        return sha256(encode(self))


def make_transaction(key: PrivateKey, sender: str, nonce: int, kind: str, payload: Any) -> Transaction:
    """Build and sign a transaction; ``payload`` is a record (encoded here) or raw bytes."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    unsigned = Transaction(sender=sender, nonce=nonce, kind=kind, payload=body)
    return msgspec.structs.replace(unsigned, signature=key.sign(unsigned.signing_bytes()))


def verify_transaction(tx: Transaction, membership: Membership) -> None:
    """Raise :class:`SignatureError` unless ``tx`` is signed by its registered sender. A transaction
    this ``membership`` (one node's) verified before is not checked again (:class:`VerifiedTransactions`)."""
    if tx.tx_id in membership.verified:
        return
    if tx.sender not in membership.identities:
        raise SignatureError(f"transaction sender {tx.sender!r} is not a registered identity")
    if len(tx.payload) > MAX_PAYLOAD_BYTES:
        raise SignatureError(f"transaction payload of {len(tx.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if not membership.verify(tx.sender, tx.signing_bytes(), tx.signature):
        raise SignatureError(f"transaction {tx.tx_id.hex()[:16]} from {tx.sender!r}: bad signature")
    membership.verified.add(tx.tx_id)


def signature_valid(tx: Transaction, membership: Membership) -> bool:
    """What :func:`verify_transaction` checks, as a yes/no, touching no cache (safe on a worker thread)."""
    return (tx.sender in membership.identities and len(tx.payload) <= MAX_PAYLOAD_BYTES
            and membership.verify(tx.sender, tx.signing_bytes(), tx.signature))
