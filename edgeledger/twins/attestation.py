"""What an oracle member observes on a reading claim: the data oracle's local work for twins.

Per claim (batch ``seq`` of a twin is the blob ``digest``), a member fetches the blob from the
storage layer and finds, in this order:

* ``unavailable`` -- the store serves nothing for the digest;
* ``mismatch`` -- the bytes do not hash to the digest (the store rewrote them);
* ``forged`` -- they are not a batch of that twin and sequence signed by the sensor key the
  twin registry holds (a gateway changed the samples: it cannot re-sign them);
* ``attested`` -- with the batch's per-field means (integer floor of the mean, milli-units) and
  the risk under the maintenance model the claim names.

Every honest member finds the same bytes, so they sign the same observation and the group's
aggregation (agreement of ``t`` members) carries it to the chain; a lying member's different
observation is outvoted. :func:`observe_reading` is pure; :func:`reading_work` wraps it as the
``work`` of an :class:`~edgeledger.oracle.service.OracleService` (the fetch may be a blocking
HTTP call: a deployed node runs work off its event loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import verify_signature
from edgeledger.errors import DecodeError, EdgeLedgerError
from edgeledger.ledger.contracts import contract_state
from edgeledger.oracle.pedal import FetchJob
from edgeledger.oracle.service import WorkResult
from edgeledger.twins.maintenance import RiskScorer
from edgeledger.twins.records import (
    READING_KIND,
    REGISTRY,
    ReadingClaim,
    SensorBatch,
    TwinObservation,
)
from edgeledger.twins.storage import Fetch

__all__ = ["batch_means", "observe_reading", "reading_work"]


def batch_means(samples: list[list[int]], n_fields: int) -> list[int]:
    """Per-field floor of the mean over the batch's samples (integers: every member gets the same)."""
    if not samples:
        return [0] * n_fields
    return [sum(row[j] for row in samples) // len(samples) for j in range(n_fields)]


def observe_reading(claim: ReadingClaim, data: bytes | None, twin: dict[str, Any] | None, scorer: RiskScorer,
                    check_signature: bool = True) -> TwinObservation:
    """The observation of ``claim`` given the bytes the store served and the twin's record.

    ``check_signature=False`` is the lying gateway's colluding member: it vouches for batches it
    changed itself (the scenario's adversary, never an honest node)."""
    base = {"twin_id": claim.twin_id, "seq": claim.seq, "digest": claim.digest}
    if data is None or twin is None:
        return TwinObservation(**base, verdict="unavailable")
    if sha256(data) != claim.digest:
        return TwinObservation(**base, verdict="mismatch")
    try:
        batch = decode(data, SensorBatch)
    except DecodeError:
        return TwinObservation(**base, verdict="forged")
    fields = [s[0] for s in twin["sensors"]]
    signed = verify_signature("ed25519", twin["sensor_key"], batch.statement(), batch.signature)
    shaped = batch.fields == fields and all(len(row) == len(fields) for row in batch.samples)
    if not (batch.twin_id == claim.twin_id and batch.seq == claim.seq and shaped and (signed or not check_signature)):
        return TwinObservation(**base, verdict="forged")
    try:
        risk = scorer.risk_milli(claim.model_digest, batch.samples)
        model = claim.model_digest
    except EdgeLedgerError:  # the model cannot be fetched or checked here: no risk (others may agree)
        risk, model = -1, b""
    return TwinObservation(**base, verdict="attested", time_ms=batch.time_ms, hours=batch.hours, status=batch.status,
                           values=batch_means(batch.samples, len(fields)), model_digest=model, risk_milli=risk)


def reading_work(fetch: Fetch, state_view: Callable[[], Any], scorer: RiskScorer, delay_s: float = 0.0,
                 check_signature: bool = True) -> Callable[[FetchJob], WorkResult]:
    """A member's ``work`` for requests of kind ``twin`` (other kinds get an empty value)."""

    def work(job: FetchJob) -> WorkResult:
        if job.request.kind != READING_KIND:
            return WorkResult(b"", 0.0)
        try:
            claim = decode(job.request.params, ReadingClaim)
        except DecodeError:
            return WorkResult(b"", 0.0)
        try:
            data = fetch(claim.digest)
        except Exception:  # noqa: BLE001 -- a store that fails to answer serves nothing
            data = None
        twin = contract_state(state_view(), REGISTRY, f"twin/{claim.twin_id}")
        return WorkResult(encode(observe_reading(claim, data, twin, scorer, check_signature)), delay_s)

    return work
