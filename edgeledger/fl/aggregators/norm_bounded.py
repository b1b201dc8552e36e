"""Norm-bounded averaging: clip every client's deviation to a maximum L2 norm, then average.

Sun, Kairouz, Suresh and McMahan, "Can You Really Backdoor Federated Learning?", 2019
(arXiv:1911.07963), section 4 ("norm thresholding"): each update Delta_k is replaced by
Delta_k / max(1, ||Delta_k|| / M) before the weighted average. Our aggregators receive client
*models*, not the global model they started from, so the deviation is taken from the
coordinate-wise median of the client models (a robust stand-in for the global model):
    ref = median_k w_k,   w = ref + sum_k p_k clip_M(w_k - ref),   p_k = n_k / sum n.
``max_norm=None`` uses the median of the clients' deviation norms as M (adaptive clipping).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["NormBounded"]


@aggregators.register("norm_bounded")
class NormBounded(Aggregator):
    """Sample-weighted mean of deviations from the median model, each clipped to ``max_norm``."""

    name = "norm_bounded"

    def __init__(self, max_norm: float | None = None) -> None:
        if max_norm is not None and not (math.isfinite(max_norm) and max_norm > 0):
            raise ConfigError(f"norm_bounded max_norm must be a finite number > 0 or unset, got {max_norm}")
        self.max_norm = None if max_norm is None else float(max_norm)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, weights = check_updates(updates, weights)  # (n, d), (n,)
        total = weights.sum()
        if total <= 0:
            raise AggregationError(f"norm_bounded needs sum(weights) > 0, got weights {weights.tolist()}")
        models = updates.astype(np.float64)  # (n, d)
        ref = np.median(models, axis=0)  # (d,)
        deltas = models - ref  # (n, d)
        norms = np.linalg.norm(deltas, axis=1)  # (n,)
        bound = float(np.median(norms)) if self.max_norm is None else self.max_norm
        factor = np.where(norms > bound, bound / np.maximum(norms, 1e-300), 1.0)  # (n,), bound 0 -> all to ref
        clipped = deltas * factor[:, None]  # (n, d)
        return (ref + (weights / total) @ clipped).astype(np.float32)  # (d,)
