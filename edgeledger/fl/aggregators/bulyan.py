"""Bulyan: Krum-based selection followed by a coordinate-wise trimmed mean around the median.

El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed Learning in
Byzantium", ICML 2018, Algorithm 1. With n >= 4f + 3 updates:
1. select theta = n - 2f updates by applying Krum repeatedly, removing each winner from
   the candidate set before the next pick;
2. per coordinate j, average the beta = theta - 2f selected values closest to the
   coordinate-wise median of the selection.
Ties go to the lowest row (deterministic). Sample counts are ignored, as in the paper.
"""

from __future__ import annotations

import numpy as np

from edgeledger.errors import AggregationError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates
from edgeledger.fl.aggregators.krum import check_f, krum_scores, pairwise_sq_distances

__all__ = ["Bulyan"]


@aggregators.register("bulyan")
class Bulyan(Aggregator):
    """Iterated-Krum selection of n - 2f updates, then a median-centred trimmed mean; weights unused."""

    name = "bulyan"

    def __init__(self, f: int = 1) -> None:
        self.f = check_f(self.name, f)

    def select(self, updates: np.ndarray) -> np.ndarray:
        """(n, d) updates -> (theta,) selected row indices in pick order (step 1)."""
        n, f = updates.shape[0], self.f
        dist = pairwise_sq_distances(updates)  # (n, n), computed once
        remaining = list(range(n))
        chosen: list[int] = []
        for _ in range(n - 2 * f):
            sub = dist[np.ix_(remaining, remaining)]  # (s, s)
            best = int(np.argsort(krum_scores(sub, f), kind="stable")[0])
            chosen.append(remaining.pop(best))
        return np.array(chosen, dtype=np.int64)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        n, f = updates.shape[0], self.f
        if n < 4 * f + 3:
            raise AggregationError(f"bulyan needs n >= 4f + 3 updates, got n={n} with f={f}")
        selected = updates[self.select(updates)].astype(np.float64)  # (theta, d)
        beta = selected.shape[0] - 2 * f
        median = np.median(selected, axis=0)  # (d,)
        order = np.argsort(np.abs(selected - median), axis=0, kind="stable")[:beta]  # (beta, d)
        closest = np.take_along_axis(selected, order, axis=0)  # (beta, d)
        return np.asarray(closest.mean(axis=0), dtype=np.float32)  # (d,)
