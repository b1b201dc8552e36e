"""SewingChain's storage layer for twins: raw sensor batches off chain, their digests on chain.

The cloud keeps each batch a gateway uploads under its sha256 (content address). The cloud is
not trusted: :class:`CloudStore` can be told to rewrite what it holds (the tampering cloud of
the scenario), and it serves whatever it holds without checking. Integrity comes from the
chain: every attested reading's digest is in the twin registry, so a reader that fetches the
history and re-hashes it (:func:`audit_readings`) finds every rewritten, missing or substituted
batch -- SewingChain's argument for metadata on the local chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import decode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import verify_signature
from edgeledger.errors import DecodeError
from edgeledger.ledger.blobs import BlobStore
from edgeledger.ledger.contracts import contract_state
from edgeledger.twins.records import REGISTRY, SensorBatch

__all__ = ["AuditFinding", "AuditReport", "CloudStore", "Fetch", "audit_readings", "reading_index"]

#: digest -> the bytes a store serves for it (None when it has nothing); never trusted by itself
Fetch = Callable[[bytes], "bytes | None"]


class CloudStore(BlobStore):
    """A content-addressed store that may lie: ``get`` serves what it holds, unchecked.

    ``tamper(digest)`` rewrites a stored batch in place (the honest key, dishonest bytes) and
    logs it in :attr:`tampered` -- the ground truth an experiment scores detection against.
    """

    def __init__(self, rewrite_on_put: float = 0.0, rng: Any = None) -> None:
        self._blobs: dict[bytes, bytes] = {}
        self.tampered: dict[bytes, str] = {}
        self.rewrite_on_put, self.rng = rewrite_on_put, rng

    def put(self, data: bytes) -> bytes:
        """Keep ``data`` under its sha256; a tampering store (``rewrite_on_put`` > 0, a seeded ``rng``)
        rewrites that share of what it is given before anyone reads it back."""
        digest = sha256(data)
        self._blobs.setdefault(digest, bytes(data))
        if self.rewrite_on_put > 0 and self.rng is not None and self.rng.random() < self.rewrite_on_put:
            self.tamper(digest)
        return digest

    def get(self, digest: bytes) -> bytes:
        return self._blobs[digest]

    def has(self, digest: bytes) -> bool:
        return digest in self._blobs

    def fetch(self, digest: bytes) -> bytes | None:
        """What the store serves for ``digest`` (None when it holds nothing)."""
        return self._blobs.get(digest)

    def tamper(self, digest: bytes, how: str = "rewrite") -> bool:
        """Rewrite (flip the last byte) or drop (``how="drop"``) a stored blob; False if absent."""
        data = self._blobs.get(digest)
        if data is None:
            return False
        if how == "drop":
            del self._blobs[digest]
        else:
            self._blobs[digest] = data[:-1] + bytes([data[-1] ^ 0x01])
        self.tampered[digest] = how
        return True

    def __len__(self) -> int:
        return len(self._blobs)


@dataclass(frozen=True)
class AuditFinding:
    twin_id: str
    seq: int
    digest: bytes
    problem: str  # "missing" | "tampered" | "unsigned"
    tx_id: bytes


@dataclass
class AuditReport:
    checked: int = 0
    findings: list[AuditFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def reading_index(view: Any, twin_id: str) -> list[tuple[int, bytes, bytes]]:
    """``(seq, digest, fulfilment tx id)`` of every attested reading of a twin, by sequence number."""
    state = contract_state(view, REGISTRY, f"state/{twin_id}")
    last = state["seq"] if state else 0
    out = []
    for seq in range(1, last + 1):
        entry = contract_state(view, REGISTRY, f"reading/{twin_id}/{seq}")
        if entry is not None:
            out.append((seq, entry[0], entry[3]))
    return out


def audit_readings(view: Any, fetch: Fetch, twin_ids: Iterable[str] | None = None) -> AuditReport:
    """Fetch every attested reading the chain indexes and check it against its on-chain digest and
    the twin's sensor key. A store that rewrote, dropped or swapped a batch cannot pass."""
    ids = list(twin_ids) if twin_ids is not None else contract_state(view, REGISTRY, "ids", [])
    report = AuditReport()
    for twin_id in ids:
        twin = contract_state(view, REGISTRY, f"twin/{twin_id}")
        if twin is None:
            continue
        for seq, digest, tx_id in reading_index(view, twin_id):
            report.checked += 1
            data = fetch(digest)
            problem = None
            if data is None:
                problem = "missing"
            elif sha256(data) != digest:
                problem = "tampered"
            else:
                try:
                    batch = decode(data, SensorBatch)
                    signed = verify_signature("ed25519", twin["sensor_key"], batch.statement(), batch.signature)
                except DecodeError:
                    signed = False
                problem = None if signed and batch.twin_id == twin_id and batch.seq == seq else "unsigned"
            if problem is not None:
                report.findings.append(AuditFinding(twin_id, seq, digest, problem, tx_id))
    return report
