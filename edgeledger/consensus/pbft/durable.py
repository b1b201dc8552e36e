"""What a PBFT replica must not forget in a crash: its view, its votes and its prepared certificates.

Castro & Liskov (TOCS 2002, section 4 and 6.2) require a replica's log to be stable before
its messages leave it. Without that, a replica restarted from its blocks alone comes back
in view 0 with no memory of the votes it sent, may vote for a second digest at a
(view, height) it already voted on, or re-enter a view it promised (by its VIEW-CHANGE) to
have left; with one Byzantine replica either forks the chain. The replica therefore emits
a :class:`~edgeledger.consensus.base.Persist` of one of these records *before* the effect
that sends the message it justifies, and the node (or test world) writes it durably first:

- :class:`ViewState` before a VIEW-CHANGE or after installing a NEW-VIEW, and the VIEW-CHANGE
  itself (:class:`OwnViewChange`, the last few views): a restarted replica re-sends exactly
  what it said, and can still hand a laggard its VIEW-CHANGE for an older view;
- :class:`VoteRecord` before the first PRE-PREPARE, PREPARE or COMMIT it signs at a
  (view, height): the digest it chose there;
- :class:`PreparedRecord` before the COMMIT that follows a prepared certificate, so a later
  VIEW-CHANGE still reports it (the P set);
- :class:`StableCheckpoint` when a checkpoint becomes stable (the VIEW-CHANGE's proof).
Entries at or below the stable checkpoint are forgotten (:class:`~edgeledger.consensus.base.Forget`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from edgeledger.codec import Record, decode
from edgeledger.consensus.base import Persist
from edgeledger.consensus.pbft.events import Checkpoint, PreparedCertificate, ViewChange
from edgeledger.effects import Effect
from edgeledger.errors import DecodeError

__all__ = ["ViewState", "VoteRecord", "PreparedRecord", "StableCheckpoint", "DURABLE_RECORDS", "decode_durable",
           "view_key", "vote_key", "prepared_key", "view_change_key", "OwnViewChange", "OWN_VIEW_CHANGES_KEPT", "STABLE_KEY", "VoteLog", "ResumedLog", "read_log"]


class ViewState(Record, tag="pbft.durable.view"):
    """The view the replica is in, and whether it is changing to it (it sent VIEW-CHANGE for it)."""

    view: int
    changing: bool


class VoteRecord(Record, tag="pbft.durable.vote"):
    """The one digest this replica signs at (view, height), in any phase."""

    view: int
    height: int
    digest: bytes


class OwnViewChange(Record, tag="pbft.durable.view-change"):
    view_change: ViewChange


class PreparedRecord(Record, tag="pbft.durable.prepared"):
    certificate: PreparedCertificate


class StableCheckpoint(Record, tag="pbft.durable.stable"):
    height: int
    digest: bytes
    proof: list[Checkpoint]


DURABLE_RECORDS = (ViewState, VoteRecord, OwnViewChange, PreparedRecord, StableCheckpoint)
OWN_VIEW_CHANGES_KEPT = 8
_DurableRecord = Union[tuple(DURABLE_RECORDS)]  # type: ignore[valid-type]

STABLE_KEY = "pbft.stable"


def view_key() -> str:
    return "pbft.view"


def vote_key(view: int, height: int) -> str:
    return f"pbft.vote.{height:012d}.{view:012d}"


def view_change_key(view: int) -> str:
    return f"pbft.view-change.{view % OWN_VIEW_CHANGES_KEPT}"


def prepared_key(height: int) -> str:
    return f"pbft.prepared.{height:012d}"


def decode_durable(data: bytes) -> ViewState | VoteRecord | OwnViewChange | PreparedRecord | StableCheckpoint:
    record: ViewState | VoteRecord | OwnViewChange | PreparedRecord | StableCheckpoint = decode(data, _DurableRecord)
    return record


class VoteLog:
    """The digest this replica signed at each (view, height) it voted on, in any phase.

    :meth:`record` returns the :class:`Persist` that must precede the vote on the wire (empty
    when the same digest was already recorded); :meth:`conflict` says whether signing another
    digest would be a double vote. Entries at or below the stable checkpoint are dropped: a
    replica never votes at a height it has committed."""

    def __init__(self) -> None:
        self.digests: dict[tuple[int, int], bytes] = {}

    def conflict(self, view: int, height: int, digest: bytes) -> bytes | None:
        """The other digest already signed at (view, height), or None."""
        prior = self.digests.get((view, height))
        return prior if prior is not None and prior != digest else None

    def record(self, view: int, height: int, digest: bytes) -> list[Effect]:
        if (view, height) in self.digests:
            return []
        self.digests[(view, height)] = digest
        return [Persist(vote_key(view, height), height, VoteRecord(view=view, height=height, digest=digest))]

    def forget_through(self, height: int) -> None:
        self.digests = {k: d for k, d in self.digests.items() if k[1] > height}


@dataclass
class ResumedLog:
    """What :func:`read_log` recovered from a durable log."""

    view: int = 0
    changing: bool = False
    votes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    prepared: dict[int, PreparedCertificate] = field(default_factory=dict)
    stable: StableCheckpoint | None = None
    view_changes: dict[int, ViewChange] = field(default_factory=dict)


def read_log(entries: list[bytes]) -> ResumedLog:
    """Decode a replica's durable log (undecodable entries are skipped: they were never written
    by this version, and a vote we cannot read we cannot honour either way)."""
    log = ResumedLog()
    for data in entries:
        try:
            record = decode_durable(data)
        except DecodeError:
            continue
        if isinstance(record, ViewState) and record.view >= log.view:
            log.view, log.changing = record.view, record.changing
        elif isinstance(record, VoteRecord):
            log.votes[(record.view, record.height)] = record.digest
        elif isinstance(record, PreparedRecord):
            pre = record.certificate.pre_prepare
            if pre.height not in log.prepared or pre.view > log.prepared[pre.height].pre_prepare.view:
                log.prepared[pre.height] = record.certificate
        elif isinstance(record, OwnViewChange):
            log.view_changes[record.view_change.new_view] = record.view_change
        elif isinstance(record, StableCheckpoint):
            if log.stable is None or record.height > log.stable.height:
                log.stable = record
    return log
