"""PBFT's per-sequence-number state table (one place for every legal phase change).

A slot (view, height) moves IDLE -> PRE_PREPARED -> PREPARED -> COMMITTED; anything else
is illegal and raises :class:`LocalProtocolError` instead of leaving a half-changed slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from edgeledger.errors import LocalProtocolError
from edgeledger.consensus.pbft.events import PrePrepare
from edgeledger.ledger.block import Block

__all__ = ["Phase", "Status", "Slot", "TRANSITIONS"]


class Phase(Enum):
    IDLE = "idle"
    PRE_PREPARED = "pre-prepared"
    PREPARED = "prepared"
    COMMITTED = "committed"


class Status(Enum):
    """A replica either runs the normal case in its view or is changing to a new view."""

    NORMAL = "normal"
    VIEW_CHANGE = "view-change"


#: (from, event) -> to.  "pre-prepare": accepted a proposal; "prepared": 2f matching
#: PREPAREs; "committed-local": prepared and 2f+1 matching COMMITs.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (Phase.IDLE, "pre-prepare"): Phase.PRE_PREPARED,
    (Phase.PRE_PREPARED, "prepared"): Phase.PREPARED,
    (Phase.PREPARED, "committed-local"): Phase.COMMITTED,
}


@dataclass
class Slot:
    """Log entry for one height in one view: the proposal and the votes seen for it."""

    view: int
    height: int
    phase: Phase = Phase.IDLE
    block: Block | None = None
    digest: bytes = b""
    prepares: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # replica -> (digest, sig)
    commits: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    proposed_at: float = 0.0
    pre_prepare: PrePrepare | None = None  # the signed proposal accepted (or buffered) for this slot
    reproposal: bool = False  # re-proposed by a NEW-VIEW: keeps its original proposer

    def advance(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.phase, event))
        if nxt is None:
            raise LocalProtocolError(f"PBFT slot {self.height}: no transition from {self.phase.value} on {event!r}")
        self.phase = nxt

    def matching(self, votes: dict[str, tuple[bytes, bytes]]) -> dict[str, bytes]:
        """Votes whose digest matches the accepted proposal: replica -> signature."""
        return {r: sig for r, (d, sig) in votes.items() if d == self.digest}
