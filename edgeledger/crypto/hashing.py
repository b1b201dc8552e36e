"""SHA-256 digests: the content address of blobs and the hash of blocks and transactions."""

from __future__ import annotations

import hashlib

__all__ = ["sha256", "sha256_hex", "DIGEST_SIZE"]

DIGEST_SIZE = 32


def sha256(*parts: bytes) -> bytes:
    """SHA-256 over the concatenation of ``parts``."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def sha256_hex(*parts: bytes) -> str:
    return sha256(*parts).hex()
