"""Norm-bounded averaging: clip every client's update to a maximum L2 norm, then average.

Sun, Kairouz, Suresh and McMahan, "Can You Really Backdoor Federated Learning?", 2019
(arXiv:1911.07963), section 4 ("norm thresholding"): each update Delta_k = w_k - w_global,
the client's change of the round's global model, is replaced by
Delta_k / max(1, ||Delta_k|| / M) before the weighted average:
    w = w_global + sum_k p_k clip_M(w_k - w_global),   p_k = n_k / sum n.
The round protocol hands the global model in (``wants_global``); a caller without one gets an
:class:`AggregationError`, never a silent stand-in. ``max_norm=None`` uses the median of the
clients' update norms as M (adaptive clipping).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["NormBounded"]


@aggregators.register("norm_bounded")
class NormBounded(Aggregator):
    """Sample-weighted mean of the clients' updates from the global model, each clipped to ``max_norm``."""

    name = "norm_bounded"
    wants_global = True  # the FL round passes ``global_params``, the model the clients started from

    def __init__(self, max_norm: float | None = None) -> None:
        if max_norm is not None and not (math.isfinite(max_norm) and max_norm > 0):
            raise ConfigError(f"norm_bounded max_norm must be a finite number > 0 or unset, got {max_norm}")
        self.max_norm = None if max_norm is None else float(max_norm)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray,
                  global_params: np.ndarray | None = None) -> np.ndarray:
        updates, weights = check_updates(updates, weights)  # (n, d), (n,)
        if global_params is None:
            raise AggregationError("norm_bounded clips each update around the round's global model: "
                                   "pass global_params=(d,) (the FL round does)")
        ref = np.asarray(global_params, dtype=np.float64)  # (d,)
        if ref.shape != (updates.shape[1],) or not np.all(np.isfinite(ref)):
            raise AggregationError(f"norm_bounded global_params must be finite with shape ({updates.shape[1]},), "
                                   f"got shape {ref.shape}")
        total = weights.sum()
        if total <= 0:
            raise AggregationError(f"norm_bounded needs sum(weights) > 0, got weights {weights.tolist()}")
        deltas = updates.astype(np.float64) - ref  # (n, d)
        norms = np.linalg.norm(deltas, axis=1)  # (n,)
        bound = float(np.median(norms)) if self.max_norm is None else self.max_norm
        factor = np.where(norms > bound, bound / np.maximum(norms, 1e-300), 1.0)  # (n,), bound 0 -> all to ref
        clipped = deltas * factor[:, None]  # (n, d)
        return np.asarray(ref + (weights / total) @ clipped, dtype=np.float32)  # (d,)
