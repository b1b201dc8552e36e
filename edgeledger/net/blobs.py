"""Blobs between processes: fetch one as a stream, verifying its digest as the bytes arrive;
upload one signed by a member of the chain.

The digest comes from the chain, never from the peer: a peer that serves other bytes (or a
truncated or oversized stream) is caught before the caller sees anything. An upload carries
the uploader's id and its signature over ``(chain id, receiving node, digest)``: a node takes
blobs only from members of its chain (``PUT /v1/blobs/{digest}``).
"""

from __future__ import annotations

import hashlib

import aiohttp

from edgeledger.codec import encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import IntegrityError

__all__ = ["fetch_blob", "upload_blob", "upload_headers", "blob_upload_statement", "SENDER_HEADER",
           "SIGNATURE_HEADER"]

SENDER_HEADER = "X-Edgeledger-Sender"
SIGNATURE_HEADER = "X-Edgeledger-Signature"


def blob_upload_statement(chain_id: str, recipient: str, digest: bytes) -> bytes:
    """What an uploader signs: the chain, the node it uploads to and the blob's digest."""
    return encode(("edgeledger-blob-upload/1", chain_id, recipient, digest))


def upload_headers(key: PrivateKey, sender: str, chain_id: str, recipient: str, digest: bytes) -> dict[str, str]:
    """The headers of a signed upload of ``digest`` to node ``recipient``."""
    return {SENDER_HEADER: sender,
            SIGNATURE_HEADER: key.sign(blob_upload_statement(chain_id, recipient, digest)).hex()}


async def upload_blob(session: aiohttp.ClientSession, base_url: str, data: bytes, key: PrivateKey, sender: str,
                      chain_id: str, recipient: str) -> tuple[int, str]:
    """PUT ``data`` to ``recipient`` at ``base_url``, signed as ``sender``; (HTTP status, body text)."""
    digest = sha256(data)
    async with session.put(f"{base_url}/v1/blobs/{digest.hex()}", data=data,
                           headers=upload_headers(key, sender, chain_id, recipient, digest)) as resp:
        return resp.status, await resp.text()


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
