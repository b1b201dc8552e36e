"""The data oracle's application side (Fig. 2) and the storage layer.

:class:`SensorFeed` is an application contract: it asks the proxy for a reading and keeps
what the proxy calls back with. The storage layer keeps a source's raw series as a blob
(content-addressed) and only its metadata digest on chain; :func:`check_series` refetches
the blob and detects any tampering by the digest mismatch (docs/design.md rule 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError
from edgeledger.ledger.blobs import BlobStore
from edgeledger.ledger.contracts import CallContext, Contract, contract_method, contract_state, register_contract
from edgeledger.oracle.proxy import callback_sender

__all__ = ["SensorFeed", "SeriesMetadata", "archive_series", "check_series", "FEED_CODE"]

FEED_CODE = "pedal.sensor_feed"


@register_contract
class SensorFeed(Contract):
    """Keeps the latest oracle readings; only its proxy may deliver them."""

    name = FEED_CODE
    version = 1

    def init(self, ctx: CallContext, proxy: str) -> None:
        ctx.put("proxy", proxy)

    @contract_method()
    def deliver(self, ctx: CallContext, request_id: str, value: object) -> int:
        ctx.require(ctx.sender == callback_sender(ctx.get("proxy")),
                    f"deliver is for the oracle proxy, not {ctx.sender!r}")
        ctx.put(f"reading/{request_id}", value)
        count = ctx.get("count", 0) + 1
        ctx.put("count", count)
        ctx.emit("delivered", request_id=request_id, height=ctx.height)
        return count

    @contract_method()
    def record_series(self, ctx: CallContext, name: str, digest: bytes, size: int, samples: int) -> None:
        """Anchor a stored series: its metadata digest goes on chain, the bytes stay off it."""
        ctx.require(len(digest) == 32 and size > 0, "series digest must be 32 bytes and size positive")
        ctx.require(ctx.get(f"series/{name}") is None, f"series {name!r} is already anchored")
        ctx.put(f"series/{name}", [digest, size, samples, ctx.sender])


class SeriesMetadata(Record):
    name: str
    digest: bytes
    size: int
    samples: int


def archive_series(blobs: BlobStore, name: str, values: Sequence[int]) -> SeriesMetadata:
    """Store a series (fixed-point ints) in the blob store; returns what goes on chain."""
    data = encode(list(values))
    digest = blobs.put(data)
    return SeriesMetadata(name=name, digest=digest, size=len(data), samples=len(values))


def check_series(blobs: BlobStore, view: object, feed: str, name: str) -> list[int]:
    """The stored series, after checking it against the digest anchored on chain."""
    anchored = contract_state(view, feed, f"series/{name}")
    if anchored is None:
        raise IntegrityError(f"series {name!r} is not anchored on contract {feed!r}")
    digest, size = anchored[0], anchored[1]
    try:
        data = blobs.get(digest)
    except (KeyError, IntegrityError):
        data = b""
    if sha256(data) != digest or len(data) != size:
        raise IntegrityError(f"series {name!r}: stored data does not match its on-chain digest {digest.hex()[:16]}")
    return decode(data, list[int])
