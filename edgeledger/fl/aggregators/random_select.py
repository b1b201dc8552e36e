"""Random selection: one client model, drawn uniformly at random, becomes the global model.

The non-aggregating baseline of FBFL (a randomly chosen local model is taken as the global
model instead of averaging), used there to show what aggregation adds. Randomness comes
from an injected ``numpy.random.Generator`` (or one seeded from ``seed``), so a run replays
exactly: the k-th call with the same generator state picks the same row.
"""

from __future__ import annotations

import numpy as np

from edgeledger.fl.aggregators.base import Aggregator, aggregators, check_updates
from edgeledger.fl.plugin_params import require_int

__all__ = ["RandomSelect"]


@aggregators.register("random_select")
class RandomSelect(Aggregator):
    """Return a uniformly drawn client model; ``rng`` wins over ``seed``; weights unused."""

    name = "random_select"

    def __init__(self, seed: int = 0, rng: np.random.Generator | None = None) -> None:
        self.seed = require_int("random_select seed", seed, 0)
        self.rng = rng if rng is not None else np.random.default_rng(self.seed)

    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        updates, _ = check_updates(updates, weights)  # (n, d)
        row = int(self.rng.integers(updates.shape[0]))
        return np.array(updates[row], dtype=np.float32)  # (d,), a copy
