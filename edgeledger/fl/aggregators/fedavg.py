"""FedAvg: the sample-weighted mean of client models.

McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized
Data", AISTATS 2017, Algorithm 1: w_{t+1} = sum_k (n_k / n) w^k_{t+1}.
"""

from __future__ import annotations

import numpy as np

from edgeledger.errors import AggregationError
from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates

__all__ = ["FedAvg"]


@aggregators.register("fedavg")
class FedAvg(Aggregator):
    """Weighted mean by sample count; not robust: one bad client moves it arbitrarily far."""

    name = "fedavg"

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, weights = check_updates(updates, weights)  # (n, d), (n,)
        total = weights.sum()
        if total <= 0:
            raise AggregationError(f"fedavg needs sum(weights) > 0, got weights {weights.tolist()}")
        mean = (weights / total) @ updates.astype(np.float64)  # (n,) @ (n, d) -> (d,)
        return np.asarray(mean, dtype=np.float32)
