"""Coordinate-wise median of client models.

Yin et al., "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates",
ICML 2018, section 3 (median-based gradient descent). Tolerates any minority of arbitrary
clients per coordinate; sample counts are ignored, as in the paper.
"""

from __future__ import annotations

import numpy as np

from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["Median"]


@aggregators.register("median")
class Median(Aggregator):
    """Per-coordinate median (mean of the two middle values for even n); weights unused."""

    name = "median"

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        return np.median(updates.astype(np.float64), axis=0).astype(np.float32)  # (d,)
