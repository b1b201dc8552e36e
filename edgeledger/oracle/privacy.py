"""Sealed requests and results: what a requester asks and learns stays between it and the oracle.

A request's parameters (which sensor, which model, whose data) are public on a chain every
company replicates. A *sealed* request carries them in an envelope (:func:`seal_to_many`:
XSalsa20-Poly1305 under a fresh key, the key in a libsodium sealed box to each registered
oracle node's Ed25519 identity), and its result goes back sealed to the requester's identity
key (a sealed box, X25519 + XSalsa20-Poly1305): validators, observers and other companies
see ciphertexts only. PyNaCl does all the cryptography.

The group cannot check what it cannot read, so a sealed result carries the SHA-256 of the
plaintext next to the ciphertext: members recompute the aggregate, compare digests and sign
the whole; the requester opens the box and checks the digest (:func:`open_result`), so a
master that sealed anything but the signed aggregate is caught by the one who reads it.
"""

from __future__ import annotations

from collections.abc import Mapping

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.sealing import SealedBox, open_envelope, seal_to_many
from edgeledger.errors import EdgeLedgerError, IntegrityError

__all__ = ["SealedResult", "seal_params", "open_params", "seal_result", "open_result", "sealed_digest"]


class SealedResult(Record):
    """A result for the requester's eyes: the sealed box and the SHA-256 of its plaintext."""

    ciphertext: bytes
    digest: bytes


def seal_params(params: bytes, oracle_keys: Mapping[str, bytes], seed: bytes | None = None) -> bytes:
    """``params`` readable by the oracle nodes (id -> Ed25519 public key) and nobody else
    (``seed``: simulation only, see :func:`seal_to_many`)."""
    return seal_to_many(dict(oracle_keys), params, seed)


def open_params(key: PrivateKey, node_id: str, sealed: bytes) -> bytes:
    """An oracle node's view of a sealed request's parameters (:class:`IntegrityError` for anyone else)."""
    return open_envelope(key, node_id, sealed)


def seal_result(result: bytes, requester_public_key: bytes, ephemeral_seed: bytes | None = None) -> bytes:
    """The encoded :class:`SealedResult` of ``result`` for the requester (``ephemeral_seed``: see
    :class:`~edgeledger.crypto.sealing.SealedBox`; the master derives it from its signature)."""
    box = SealedBox().seal(requester_public_key, result, ephemeral_seed)
    return encode(SealedResult(ciphertext=box, digest=sha256(result)))


def sealed_digest(sealed: bytes) -> bytes | None:
    """The plaintext digest a sealed result claims (None: not a sealed result)."""
    try:
        return decode(sealed, SealedResult).digest
    except EdgeLedgerError:
        return None


def open_result(key: PrivateKey, sealed: bytes) -> bytes:
    """The requester opens its result and checks it against the digest the group signed."""
    try:
        box = decode(sealed, SealedResult)
    except EdgeLedgerError:
        raise IntegrityError("not a sealed result") from None
    plain = SealedBox().open(key, box.ciphertext)
    if sha256(plain) != box.digest:
        raise IntegrityError("the sealed result does not match the digest the group signed")
    return plain
