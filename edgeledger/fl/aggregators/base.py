"""The aggregator plug-in interface (in the spirit of Flower's ``Strategy.aggregate_fit``).

An aggregator turns the client models of one round into the next global model. It is a
pure function of its inputs: ``updates`` is (n_clients, n_params) float32, one client
*model* (flat parameter vector, see :mod:`edgeledger.fl.params`) per row, and ``weights``
is (n_clients,) sample counts. It returns (n_params,) float32 and does no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgeledger.errors import AggregationError
from edgeledger.registry import Registry

__all__ = ["Aggregator", "aggregators", "build_aggregator", "check_updates"]


class Aggregator(ABC):
    """Combine client models into a global model; register subclasses in :data:`aggregators`."""

    name: str = ""

    @abstractmethod
    def aggregate(self, updates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(n_clients, n_params) models and (n_clients,) sample counts -> (n_params,) model."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


aggregators: Registry[type[Aggregator]] = Registry("aggregator")


def check_updates(updates: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and normalise inputs: (n, d) finite float32 updates, (n,) finite weights >= 0."""
    updates = np.asarray(updates)
    weights = np.asarray(weights, dtype=np.float64)
    if updates.ndim != 2 or updates.shape[0] < 1:
        raise AggregationError(f"updates must have shape (n_clients >= 1, n_params), got {updates.shape}")
    if weights.shape != (updates.shape[0],):
        raise AggregationError(
            f"weights must have shape ({updates.shape[0]},) to match updates, got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise AggregationError(f"weights must be finite and >= 0, got {weights.tolist()}")
    updates = updates.astype(np.float32, copy=False)
    if not np.all(np.isfinite(updates)):
        bad = np.flatnonzero(~np.all(np.isfinite(updates), axis=1)).tolist()
        raise AggregationError(f"updates of clients at rows {bad} hold NaN or infinite values")
    return updates, weights


def build_aggregator(name: str, **params: Any) -> Aggregator:
    """Instantiate the aggregator registered as ``name`` with keyword ``params``."""
    aggregator: Aggregator = aggregators.build(name, **params)
    return aggregator
