"""Blob uploads a node accepts: signed by a member, bounded in size, named by a transaction.

``PUT /v1/blobs/{digest}`` stores a blob only when the upload is signed by a member of the
chain (genesis or admitted) for this node and digest, fits ``max_blob_bytes``, and hashes to
the digest. A digest no committed transaction names yet is kept for ``window_s`` seconds (a
client uploads the blob, then submits the transaction naming it); at most
``MAX_UNNAMED_BLOBS`` such uploads wait at once, and one still unnamed when its window passes
is deleted.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from edgeledger.crypto.hashing import sha256
from edgeledger.net.blobs import SENDER_HEADER, SIGNATURE_HEADER, blob_upload_statement
from edgeledger.web import api_types as t
from edgeledger.web.routes import error, reply

__all__ = ["BlobUploads", "MAX_UNNAMED_BLOBS"]

MAX_UNNAMED_BLOBS = 256


class BlobUploads:
    def __init__(self, max_blob_bytes: int, window_s: float, outcomes: Any) -> None:
        self.max_blob_bytes, self.blob_window_s = max_blob_bytes, window_s
        self.outcomes = outcomes  # a labelled Prometheus counter (outcome)
        self.unnamed_blobs: OrderedDict[bytes, float] = OrderedDict()  # digest -> deadline for a transaction
        self.node: Any = None

    async def put(self, request: web.Request, node: Any) -> web.Response:
        """``PUT /v1/blobs/{digest}`` on ``node`` (the rate limit was applied before)."""
        self.node = node
        try:
            digest = bytes.fromhex(request.match_info["digest"])
            if len(digest) != 32:
                raise ValueError
        except ValueError:
            return error(400, "digest must be 64 hex digits (sha256)")
        why = self._uploader_refused(request, digest)
        if why is not None:
            self.outcomes.labels("unauthorized").inc()
            return error(401, why)
        if request.content_length is not None and request.content_length > self.max_blob_bytes:
            self.outcomes.labels("too_large").inc()
            return error(413, f"blob of {request.content_length} bytes; this node accepts up to {self.max_blob_bytes}")
        named = self.node.store.names_blob(digest)
        self._sweep_unnamed(time.monotonic())
        if not named and digest not in self.unnamed_blobs and len(self.unnamed_blobs) >= MAX_UNNAMED_BLOBS:
            self._forget_named()  # uploads a transaction has named since no longer wait: only the rest count
        if not named and digest not in self.unnamed_blobs and len(self.unnamed_blobs) >= MAX_UNNAMED_BLOBS:
            self.outcomes.labels("too_many_unnamed").inc()
            return error(429, f"{MAX_UNNAMED_BLOBS} uploads wait for a transaction to name them: retry later")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > self.max_blob_bytes:
                self.outcomes.labels("too_large").inc()
                return error(413, f"blob over {self.max_blob_bytes} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        if sha256(data) != digest:
            self.outcomes.labels("digest_mismatch").inc()
            return error(422, f"blob hashes to {sha256(data).hex()}, not the digest in the URL")
        self.node.blobs.put(data)
        if not named:  # kept only if a transaction names it within the window
            self.unnamed_blobs.setdefault(digest, time.monotonic() + self.blob_window_s)
        self.outcomes.labels("stored" if named else "stored_unnamed").inc()
        return reply(t.BlobStored(digest=digest.hex(), size=size, named=named), status=201)

    def _uploader_refused(self, request: web.Request, digest: bytes) -> str | None:
        """Why the signed upload headers do not show a member of this chain, or None."""
        sender = request.headers.get(SENDER_HEADER, "")
        try:
            signature = bytes.fromhex(request.headers.get(SIGNATURE_HEADER, ""))
        except ValueError:
            signature = b""
        if not sender or not signature:
            return f"blob uploads must be signed: headers {SENDER_HEADER} and {SIGNATURE_HEADER} (hex)"
        membership = self.node.membership
        statement = blob_upload_statement(membership.chain_id, self.node.node_id, digest)
        if sender not in membership.identities or not membership.verify(sender, statement, signature):
            return f"{sender!r} is not a member of this chain or the signature does not verify"
        return None

    def waiting(self) -> int:
        """Uploads still waiting for a committed transaction to name them (what the bound counts)."""
        if self.node is None:
            return 0
        self._forget_named()
        return len(self.unnamed_blobs)

    def _forget_named(self) -> None:
        """Drop the waiting uploads that a committed transaction names by now (they are kept for good)."""
        for digest in [d for d in self.unnamed_blobs if self.node.store.names_blob(d)]:
            del self.unnamed_blobs[digest]

    def _sweep_unnamed(self, now: float) -> None:
        """Delete uploads whose window passed without a committed transaction naming them."""
        for digest in [d for d, deadline in self.unnamed_blobs.items() if deadline <= now]:
            del self.unnamed_blobs[digest]
            if not self.node.store.names_blob(digest):
                self.node.blobs.discard(digest)
                self.outcomes.labels("expired_unnamed").inc()

