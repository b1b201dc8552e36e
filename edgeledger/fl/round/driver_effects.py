"""What the aggregator core asks its driver to do: store a blob, score a model, re-execute a claim (sans-IO).

The core (:class:`~edgeledger.fl.round.core.AggregatorCore`) holds no blob store and no
learner: it names every blob it wants kept with :class:`StoreBlob` and every model it wants
scored with :class:`EvaluateModel`, and the driver (:class:`~edgeledger.fl.round.services.AggregatorService`
on a node) carries them out: the blob is written before any later effect of the same input (a
saved state or a transaction that names its digest); the scores come back through
``AggregatorCore.on_evaluated``, at once in simulation, from a worker thread in deployment.
A proof-of-learning round asks for each claimed loss it must check with :class:`ReexecuteClaim`
(the loss comes back through ``AggregatorCore.on_reexecuted``, the same two ways).
After a restart the driver reads what the core needs back (:class:`ResumeInputs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.effects import Effect
from edgeledger.ledger.block import Block

__all__ = ["StoreBlob", "EvaluateModel", "ReexecuteClaim", "ResumeInputs"]


@dataclass(frozen=True, slots=True)
class StoreBlob(Effect):
    """Keep ``data`` in the node's blob store (under its sha256) before any later effect of the
    same input is carried out."""

    data: bytes


@dataclass(frozen=True, slots=True, eq=False)
class EvaluateModel(Effect):
    """Score round ``round``'s new global model ``params`` (the cloud learner's ``evaluate``) and
    hand the scores to ``AggregatorCore.on_evaluated(round, scores, now)``."""

    round: int
    params: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class ReexecuteClaim(Effect):
    """Re-execute ``device``'s claimed validation loss (proof-of-learning): evaluate its update
    ``params`` on the public validation set and hand the loss to
    ``AggregatorCore.on_reexecuted(round, device, loss, now)`` (``loss=None``: this driver has no
    validation set to evaluate on)."""

    round: int
    device: str
    params: np.ndarray


@dataclass(frozen=True)
class ResumeInputs:
    """What the driver reads for ``AggregatorCore.resume``: the blobs the saved record names
    (global model, accepted updates) and where the round's transactions committed."""

    blobs: dict[bytes, bytes]
    close_committed: bool = False
    open_committed: tuple[Block, int] | None = None  # the block holding the open transaction, its index
