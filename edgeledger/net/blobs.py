"""Fetch a blob from a peer as a stream, verifying its digest as the bytes arrive.

The digest comes from the chain, never from the peer: a peer that serves other bytes (or a
truncated or oversized stream) is caught before the caller sees anything.
"""

from __future__ import annotations

import hashlib

import aiohttp

from edgeledger.errors import IntegrityError

__all__ = ["fetch_blob"]


async def fetch_blob(session: aiohttp.ClientSession, base_url: str, digest: bytes, max_bytes: int = 64 << 20) -> bytes:
    """GET ``/v1/blobs/<digest>`` in chunks; raise :class:`IntegrityError` unless sha256 matches."""
    h = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    async with session.get(f"{base_url}/v1/blobs/{digest.hex()}") as resp:
        if resp.status != 200:
            raise IntegrityError(f"peer {base_url} has no blob {digest.hex()[:16]} (HTTP {resp.status})")
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise IntegrityError(f"blob {digest.hex()[:16]} from {base_url} exceeds {max_bytes} bytes")
            h.update(chunk)
            chunks.append(chunk)
    if h.digest() != digest:
        raise IntegrityError(f"blob from {base_url} hashes to {h.hexdigest()[:16]}, the chain names {digest.hex()[:16]}")
    return b"".join(chunks)
