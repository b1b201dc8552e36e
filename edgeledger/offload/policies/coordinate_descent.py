"""Coordinate descent (docs/offloading.md baselines): from all-local, apply the best single-device
change of action while it lowers the total slot cost; stops at a local optimum where no
single change improves (steepest-descent variant, every change priced in one batch)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["CoordinateDescent", "single_changes"]


def single_changes(actions: np.ndarray, devices: np.ndarray, n_actions: int) -> np.ndarray:
    """Every joint that differs from ``actions`` (N,) in one of ``devices``; shape (K, N)."""
    values = np.arange(n_actions)
    rows = []
    for i in devices:
        block = np.tile(actions, (n_actions - 1, 1))
        block[:, i] = values[values != actions[i]]
        rows.append(block)
    return np.concatenate(rows) if rows else np.empty((0, actions.size), dtype=np.int64)


@policies.register("coordinate_descent")
class CoordinateDescent(OffloadPolicy):
    """Steepest single-device descent from all-local; ``max_rounds`` bounds the moves."""

    def __init__(self, config: OffloadConfig, max_rounds: int = 1000) -> None:
        super().__init__(config)
        self.max_rounds = max_rounds

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        model = state.model
        actions = np.zeros(self.config.n_devices, dtype=np.int64)
        active = np.flatnonzero(state.tasks.active)
        current = float(model.total_cost(actions)[0])
        for _ in range(self.max_rounds):
            candidates = single_changes(actions, active, self.config.n_actions)
            if candidates.shape[0] == 0:
                break
            costs = model.total_cost(candidates)
            best = int(np.argmin(costs))
            if costs[best] >= current - 1e-12:
                break
            actions, current = candidates[best], float(costs[best])
        return actions
