"""What a sans-IO protocol core asks its driver to do (docs/design.md rule 1).

Cores return these as values from ``handle``-style methods; only drivers (``net.sim`` and
the HTTP driver) turn them into I/O. They are plain in-memory values, never put on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Effect", "SaveState", "Send", "Broadcast", "SetTimer", "CancelTimer", "Metric", "Rejected", "SubmitTransaction",
           "Compute", "Deferred", "ProposalReady"]


@dataclass(frozen=True, slots=True)
class Effect:
    """Base class of all effects."""


@dataclass(frozen=True, slots=True)
class Send(Effect):
    """Deliver ``message`` (a wire record) to node ``to``.

    ``rate_bps``: the sender transmits on a share of the medium it was granted (a TDMA slot
    share of a radio, a fair share of a WAN): the simulator sends at that rate (at most the
    link's bandwidth), concurrently with other transmissions on the link; real drivers ignore it."""

    to: str
    message: Any
    rate_bps: float | None = None


@dataclass(frozen=True, slots=True)
class Broadcast(Effect):
    """Deliver ``message`` to every node in ``to`` (the core names its audience)."""

    to: tuple[str, ...]
    message: Any


@dataclass(frozen=True, slots=True)
class SetTimer(Effect):
    """Fire the core's timer ``name`` after ``delay_s`` seconds (replaces a pending one)."""

    name: str
    delay_s: float


@dataclass(frozen=True, slots=True)
class CancelTimer(Effect):
    name: str


@dataclass(frozen=True, slots=True)
class Metric(Effect):
    """A measurement for metrics.csv (``round`` is -1 when not tied to an FL round)."""

    name: str
    value: float
    round: int = -1


@dataclass(frozen=True, slots=True)
class Rejected(Effect):
    """An input was refused and changed nothing; ``sender`` is whose input it was."""

    sender: str
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitTransaction(Effect):
    """Hand a signed transaction to the node's consensus (or to its validator, for clients)."""

    tx: Any


@dataclass(frozen=True, slots=True)
class ProposalReady(Effect):
    """A service has transactions of its own for the next block this node proposes (its
    ``prepare_proposal``): the node tells its consensus, which proposes soon if it may."""


@dataclass(frozen=True, slots=True)
class Compute(Effect):
    """Ask the node to run local work ``job`` (e.g. training) and report ``name`` when done.

    The node runs the job, then feeds its result back to the core after the job's duration:
    modelled in simulation, measured in deployment.
    """

    name: str
    job: Any


@dataclass(frozen=True, slots=True)
class Deferred(Effect):
    """Local work a real-time driver must run off its event loop (e.g. training in a thread).

    ``run()`` does the work; ``done(result, now)`` returns the effects that follow. Only
    drivers of real networks see this; the simulator's nodes run work inline.
    """

    run: Any
    done: Any


@dataclass(frozen=True, slots=True)
class SaveState(Effect):
    """Keep ``record`` durably under ``key`` (a service's state, e.g. the aggregator's open round),
    before any later effect of the same input is carried out; a restarted node hands the last
    record back to the service (``Service.resume``)."""

    key: str
    record: Any
