"""Pedal: keep the client models that score best on held-out data, average those.

Lin et al., SewingChain / Pedal, section IV eq. (12)-(13). The aggregating edge holds a
validation set V (a third of the test set, disjoint from the two thirds used to report
accuracy). Each round it
  (12) ranks the n uploaded models w_k by their accuracy acc(w_k; V), and keeps the set S of
       the top ``fraction`` of them (|S| = max(1, floor(fraction * n)); a third by default);
  (13) returns w = sum_{k in S} (n_k / n_S) w_k with n_S = sum_{k in S} n_k,
and the chain records the digest of w, which devices check before applying it (done by the
FL round core for every aggregator). Models that upload random parameters score near chance
on V and fall out of S, which is how Pedal resists free-riders and poisoners.

The accuracy function is injected (``evaluate(params) -> accuracy``), so this module stays
free of torch and I/O. Ties in accuracy go to the lower row, which keeps the choice
deterministic for a deterministic evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["Pedal", "holdout_split", "Evaluator"]

#: ``params (n_params,) float32 -> accuracy in [0, 1]`` on Pedal's validation third.
Evaluator = Callable[[np.ndarray], float]


def holdout_split(n_test: int, rng: np.random.Generator, fraction: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Split test-set indices into (validation, report): a random ``fraction`` for Pedal's
    ranking, the rest for reported accuracy; both sorted, disjoint, covering ``range(n_test)``."""
    if int(n_test) < 2:
        raise ConfigError(f"pedal needs a test set of >= 2 samples to hold a third out, got {n_test}")
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"pedal validation fraction must lie in (0, 1), got {fraction}")
    order = rng.permutation(int(n_test))  # [N]
    k = max(1, int(round(fraction * n_test)))
    return np.sort(order[:k]), np.sort(order[k:])


@aggregators.register("pedal")
class Pedal(Aggregator):
    """Data-size-weighted mean of the best ``fraction`` of client models by validation accuracy."""

    name = "pedal"

    def __init__(self, fraction: float = 1 / 3, evaluate: Evaluator | None = None) -> None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
            raise ConfigError(f"pedal fraction (share of updates kept) must lie in (0, 1], got {fraction!r}")
        if evaluate is not None and not callable(evaluate):
            raise ConfigError(f"pedal evaluate must be callable params -> accuracy, got {type(evaluate).__name__}")
        self.fraction = float(fraction)
        self.evaluate = evaluate
        self.last_accuracies: list[float] = []  # (n,) of the latest call, for metrics
        self.last_selected: list[int] = []  # rows kept by the latest call

    def n_selected(self, n: int) -> int:
        """|S| for n updates: max(1, floor(fraction * n))."""
        return max(1, math.floor(self.fraction * n + 1e-9))

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, weights = check_updates(updates, weights)  # (n, d), (n,)
        if self.evaluate is None:
            raise AggregationError(
                "pedal needs an evaluate(params) -> accuracy function on its validation set; "
                "the scenario builder injects it (build_aggregator('pedal', evaluate=...))"
            )
        accuracies = np.array([float(self.evaluate(row)) for row in updates])  # (n,)
        if not np.all(np.isfinite(accuracies)):
            raise AggregationError(f"pedal evaluate returned non-finite accuracies {accuracies.tolist()}")
        order = np.lexsort((np.arange(updates.shape[0]), -accuracies))  # best first, ties -> lower row
        chosen = np.sort(order[: self.n_selected(updates.shape[0])])  # (m,)
        self.last_accuracies, self.last_selected = accuracies.tolist(), chosen.tolist()
        w = weights[chosen]  # (m,)
        if w.sum() <= 0:
            w = np.ones_like(w)  # eq. 13 needs n_S > 0; equal weights when sizes are unknown
        mean = (w / w.sum()) @ updates[chosen].astype(np.float64)  # (m,) @ (m, d) -> (d,)
        return np.asarray(mean, dtype=np.float32)
