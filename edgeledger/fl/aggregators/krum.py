"""Krum and Multi-Krum: pick the client models closest to their n - f - 2 nearest neighbours.

Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine Learning with Adversaries: Byzantine
Tolerant Gradient Descent", NeurIPS 2017, section 4. With n updates of which at most f are
Byzantine and 2f + 2 < n, each update i gets the score
    s(i) = sum of ||V_i - V_j||^2 over the n - f - 2 updates j closest to V_i,
Krum returns the update with the lowest score and Multi-Krum the mean of the m updates with
the lowest scores (m = n - f by default; m = 1 is Krum). Distances between client models
equal distances between their deltas, so working on models is exact. Ties go to the lowest
row, which keeps the result deterministic. Sample counts are ignored, as in the paper.
"""

from __future__ import annotations

import numpy as np

from edgeledger.errors import AggregationError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates
from edgeledger.fl.plugin_params import require_int

__all__ = ["Krum", "MultiKrum", "krum_scores", "pairwise_sq_distances"]


def pairwise_sq_distances(updates: np.ndarray) -> np.ndarray:
    """(n, d) updates -> (n, n) squared Euclidean distances, float64, zero diagonal."""
    centred = updates.astype(np.float64) - updates.astype(np.float64).mean(axis=0)  # (n, d), less cancellation
    sq = np.einsum("ij,ij->i", centred, centred)  # (n,)
    dist = sq[:, None] + sq[None, :] - 2.0 * (centred @ centred.T)  # (n, n)
    np.fill_diagonal(dist, 0.0)
    return np.asarray(np.maximum(dist, 0.0), dtype=np.float64)


def krum_scores(dist: np.ndarray, f: int) -> np.ndarray:
    """(n, n) squared distances -> (n,) Krum scores: sum over the n - f - 2 nearest others.

    Fewer than one neighbour (n - f - 2 < 1) is raised to one, so that Bulyan's last
    iterations on a shrunken set still rank the updates.
    """
    n = dist.shape[0]
    if n == 1:
        return np.zeros(1)
    k = max(n - f - 2, 1)
    others = np.sort(dist + np.diag(np.full(n, np.inf)), axis=1)[:, :k]  # (n, k), self excluded
    return np.asarray(others.sum(axis=1), dtype=np.float64)


def check_f(name: str, f: int) -> int:
    """``f`` (the number of Byzantine clients tolerated) as an int >= 0, else :class:`ConfigError`."""
    return require_int(f"{name} f (Byzantine clients tolerated)", f, 0)


def _select(updates: np.ndarray, f: int, m: int, name: str) -> np.ndarray:
    """Rows of the m lowest Krum scores, after checking n >= 2f + 3."""
    n = updates.shape[0]
    if n < 2 * f + 3:
        raise AggregationError(f"{name} needs n >= 2f + 3 updates, got n={n} with f={f}")
    if m > n:
        raise AggregationError(f"{name} needs m <= n, got m={m} with n={n}")
    scores = krum_scores(pairwise_sq_distances(updates), f)  # (n,)
    return np.argsort(scores, kind="stable")[:m]  # (m,)


@aggregators.register("multi_krum")
class MultiKrum(Aggregator):
    """Mean of the ``m`` updates with the lowest Krum scores (``m=None``: n - f); weights unused."""

    name = "multi_krum"

    def __init__(self, f: int = 1, m: int | None = None) -> None:
        self.f = check_f(self.name, f)
        self.m = None if m is None else require_int(f"{self.name} m (updates averaged)", m, 1)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        m = updates.shape[0] - self.f if self.m is None else self.m
        chosen = _select(updates, self.f, m, self.name)  # (m,)
        return np.asarray(updates[chosen].astype(np.float64).mean(axis=0), dtype=np.float32)  # (d,)


@aggregators.register("krum")
class Krum(MultiKrum):
    """The single update with the lowest Krum score (Multi-Krum with m = 1); weights unused."""

    name = "krum"

    def __init__(self, f: int = 1) -> None:
        super().__init__(f=f, m=1)
