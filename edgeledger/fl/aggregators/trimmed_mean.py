"""Coordinate-wise beta-trimmed mean of client models.

Yin et al., "Byzantine-Robust Distributed Learning: Towards Optimal Statistical Rates",
ICML 2018, section 3: per coordinate, drop the k = floor(beta * n) largest and k smallest
values and average the remaining n - 2k. Needs 2k < n; tolerates up to k bad clients.
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["TrimmedMean"]


@aggregators.register("trimmed_mean")
class TrimmedMean(Aggregator):
    """Drop the floor(beta*n) extreme values at each end per coordinate; weights unused."""

    name = "trimmed_mean"

    def __init__(self, beta: float = 0.1) -> None:
        if not (math.isfinite(beta) and 0.0 <= beta < 1.0):
            raise ConfigError(
                f"trimmed_mean beta must lie in [0, 1) (and 2 * floor(beta * n) < n when "
                f"aggregating), got {beta}"
            )
        self.beta = float(beta)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        n = updates.shape[0]
        k = math.floor(self.beta * n)
        if 2 * k >= n:
            raise AggregationError(
                f"trimmed_mean needs 2 * floor(beta * n) < n, got n={n}, beta={self.beta}: "
                f"2 * floor({self.beta} * {n}) = {2 * k}"
            )
        ordered = np.sort(updates, axis=0)  # (n, d), each column ascending
        return np.asarray(ordered[k : n - k].astype(np.float64).mean(axis=0), dtype=np.float32)  # (d,)
