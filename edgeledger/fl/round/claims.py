"""Proof-of-learning's claim check as a walk the aggregator core drives with effects (sans-IO).

:meth:`ProofOfLearning.aggregate <edgeledger.fl.aggregators.proof_of_learning.ProofOfLearning.aggregate>`
re-executes claims by calling an evaluator; a protocol core must not (docs/design.md rule 1).
:class:`ClaimWalk` holds the same walk as data: the candidates in the aggregator's order, the one
whose re-execution the driver was asked for (:class:`~edgeledger.fl.round.driver_effects.ReexecuteClaim`),
the refuted claims so far. Each answered loss is judged with the aggregator's own rule; the first
claim that reproduces wins, exactly as in ``aggregate``, so a round picks the same model either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import numpy as np

from edgeledger.errors import AggregationError
from edgeledger.fl.aggregators.base import check_updates
from edgeledger.fl.aggregators.proof_of_learning import ProofOfLearning

__all__ = ["ClaimWalk"]


@dataclass
class ClaimWalk:
    """One round's re-execution of claimed losses, lowest claim first, until one reproduces."""

    aggregator: ProofOfLearning
    contributors: list[str]
    updates: np.ndarray  # (n, d) float32, checked
    claims: np.ndarray  # (n,) float64, NaN: no claim
    order: list[int]
    position: int = 0
    rejected: list[tuple[int, float, float]] = field(default_factory=list)  # (row, claimed, recomputed)

    @classmethod
    def begin(cls, aggregator: ProofOfLearning, contributors: list[str], updates: Mapping[str, tuple[np.ndarray, int]],
              claims: Mapping[str, float]) -> ClaimWalk:
        """The walk over ``contributors``' updates (raises AggregationError as ``aggregate`` would)."""
        stacked = np.stack([updates[c][0] for c in contributors])  # (n_clients, n_params)
        weights = np.array([updates[c][1] for c in contributors], dtype=np.float64)
        checked, _ = check_updates(stacked, weights)
        claimed = np.array([claims.get(c, np.nan) for c in contributors], dtype=np.float64)
        order = aggregator.candidates(len(contributors), claimed)
        return cls(aggregator, list(contributors), checked, claimed, order)

    @property
    def row(self) -> int | None:
        """The candidate row whose re-execution is awaited (None: none left)."""
        return self.order[self.position] if self.position < len(self.order) else None

    def device(self) -> str | None:
        row = self.row
        return self.contributors[row] if row is not None else None

    def params(self) -> np.ndarray:
        assert self.row is not None
        return np.asarray(self.updates[self.row])

    def judge(self, loss: float | None) -> np.ndarray | None:
        """The winner's parameters (float32 copy) when ``loss`` confirms the awaited claim; else the
        claim is recorded as refuted and the walk moves on. ``loss=None``: nothing can re-execute."""
        row = self.row
        assert row is not None
        if loss is None:
            raise AggregationError(self.aggregator.MISSING_EVALUATOR)
        claimed, actual = float(self.claims[row]), float(loss)
        if self.aggregator.reproduces(claimed, actual):
            self.aggregator.last_rejected, self.aggregator.last_winner = list(self.rejected), row
            return np.array(self.updates[row], dtype=np.float32)
        self.rejected.append((row, claimed, actual))
        self.position += 1
        return None

    def failure(self) -> AggregationError:
        """No claim reproduced."""
        self.aggregator.last_rejected, self.aggregator.last_winner = list(self.rejected), None
        return self.aggregator.no_winner(len(self.contributors), len(self.order), len(self.rejected))
