"""Proof-of-learning: the client model claiming the lowest loss becomes the global model,
once re-executing its claim reproduces it.

The AI-chain baseline of the Pedal evaluation ("AI-Chain: Blockchain Energized Edge
Intelligence for Beyond 5G Networks", IEEE Network 2020): each participant trains, evaluates
its model on a public validation set and publishes the loss as its proof of learning; the
block goes to the lowest loss, and verifiers re-run the evaluation before accepting it.

Here each update arrives with a claimed loss (``claims``, (n,) float; NaN = no claim). The
aggregator walks the claims from lowest to highest (ties -> lower row), re-evaluates each
candidate with the injected ``evaluate_loss(params) -> loss`` and returns the first whose
recomputed loss lies within ``tolerance * max(1, |claim|)`` of its claim. Claims that do not
reproduce are recorded in :attr:`ProofOfLearning.last_rejected` (row, claimed, actual) so the
round can report them. Weights are unused: one model wins, as in the paper.

The walk is also available in pieces (:meth:`ProofOfLearning.candidates`, :meth:`reproduces`,
:meth:`no_winner`) for a protocol core that must not run the evaluation itself: the FL round's
aggregator core asks its driver to re-execute each candidate through an effect
(:class:`~edgeledger.fl.round.driver_effects.ReexecuteClaim`) and judges the answers with the
same rules, in the same order, so it picks the same winner as :meth:`aggregate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["ProofOfLearning", "LossEvaluator", "LOSS_FIXED_POINT"]

#: ``params (n_params,) float32 -> mean loss`` on the public validation set.
LossEvaluator = Callable[[np.ndarray], float]

#: Claims travel on chain as integers: round(loss * LOSS_FIXED_POINT) (micro-units).
LOSS_FIXED_POINT = 1_000_000


@aggregators.register("proof_of_learning")
class ProofOfLearning(Aggregator):
    """The lowest claimed loss that re-evaluation confirms wins; needs ``claims``."""

    name = "proof_of_learning"
    #: The FL round core passes ``claims=`` to aggregators that set this.
    wants_claims = True
    MISSING_EVALUATOR = ("proof_of_learning needs an evaluate_loss(params) -> loss function to re-execute "
                         "claims; the scenario builder injects it (build_aggregator(..., evaluate_loss=...))")

    def __init__(self, tolerance: float = 1e-3, evaluate_loss: LossEvaluator | None = None) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
            raise ConfigError(f"proof_of_learning tolerance must be a number >= 0, got {tolerance!r}")
        if evaluate_loss is not None and not callable(evaluate_loss):
            raise ConfigError("proof_of_learning evaluate_loss must be callable params -> loss")
        self.tolerance = float(tolerance)
        self.evaluate_loss = evaluate_loss
        self.last_rejected: list[tuple[int, float, float]] = []  # (row, claimed, recomputed)
        self.last_winner: int | None = None

    def reproduces(self, claimed: float, actual: float) -> bool:
        """Whether a recomputed loss confirms a claim: |actual - claimed| <= tol * max(1, |claimed|)."""
        return math.isfinite(actual) and abs(actual - claimed) <= self.tolerance * max(1.0, abs(claimed))

    def candidates(self, n: int, claims: np.ndarray | None) -> list[int]:
        """The rows whose claims are re-executed, in order: lowest claimed loss first (ties: lower
        row); rows without a finite claim >= 0 are skipped. Raises on missing or misshapen claims."""
        if claims is None:
            raise AggregationError(
                "proof_of_learning needs a claimed loss per update (claims=...); "
                "the round core passes them from each UpdateRecord.claimed_loss_micro"
            )
        claims = np.asarray(claims, dtype=np.float64)
        if claims.shape != (n,):
            raise AggregationError(f"proof_of_learning claims must have shape ({n},), got {claims.shape}")
        rows = [i for i in range(n) if math.isfinite(claims[i]) and claims[i] >= 0]
        return sorted(rows, key=lambda i: (claims[i], i))

    @staticmethod
    def no_winner(n: int, candidates: int, failed: int) -> AggregationError:
        """The error when no claim reproduced."""
        return AggregationError(f"proof_of_learning: none of {n} updates has a claim that reproduces "
                                f"({candidates} claimed, {failed} failed re-execution)")

    def aggregate(self, updates: np.ndarray, weights: np.ndarray, claims: np.ndarray | None = None) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        n = updates.shape[0]
        order = self.candidates(n, claims)
        if self.evaluate_loss is None:
            raise AggregationError(self.MISSING_EVALUATOR)
        claimed = np.asarray(claims, dtype=np.float64)
        self.last_rejected, self.last_winner = [], None
        for row in order:
            actual = float(self.evaluate_loss(updates[row]))
            if self.reproduces(float(claimed[row]), actual):
                self.last_winner = row
                return np.array(updates[row], dtype=np.float32)  # (d,), a copy
            self.last_rejected.append((row, float(claimed[row]), actual))
        raise self.no_winner(n, len(order), len(self.last_rejected))
