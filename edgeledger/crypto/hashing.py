"""SHA-256 digests: the content address of blobs and the hash of blocks and transactions."""

from __future__ import annotations

import hashlib

__all__ = ["sha256", "sha256_hex", "derive_seed", "DIGEST_SIZE"]

DIGEST_SIZE = 32


def sha256(*parts: bytes) -> bytes:
    """SHA-256 over the concatenation of ``parts``."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def sha256_hex(*parts: bytes) -> str:
    return sha256(*parts).hex()


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a tuple of values, stable across runs and platforms.

    One scenario seed fans out into independent, named streams (``derive_seed(seed, "partition")``,
    ``derive_seed(seed, device, round)``) so every random choice replays from the scenario.
    """
    from edgeledger.codec import encode

    return int.from_bytes(sha256(encode([str(p) for p in parts]))[:8], "big") >> 1
