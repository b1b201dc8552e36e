"""Exact optimum by exhaustive enumeration (docs/offloading.md): all ``(M+2)^n`` joint decisions of
the ``n`` devices with a task are priced in vectorised chunks and the cheapest is taken. In
slot mode slots are independent, so per-slot optima give the episode optimum and
``Q_opt / Q_policy`` is a valid gain ratio (cf. DROO's normalised computation rate)."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.cost import DEFAULT_CHUNK
from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["ExactOptimum", "all_joints"]

MAX_JOINTS = 5_000_000


@lru_cache(maxsize=8)
def all_joints(n: int, n_actions: int) -> np.ndarray:
    """Every joint decision of ``n`` devices in lexicographic order; shape (n_actions^n, n)."""
    if n == 0:
        return np.zeros((1, 0), dtype=np.int64)
    joints = np.array(list(itertools.product(range(n_actions), repeat=n)), dtype=np.int64)
    joints.setflags(write=False)
    return joints


@policies.register("optimum")
class ExactOptimum(OffloadPolicy):
    """Cheapest joint by enumeration; ties go to the first joint in lexicographic order."""

    def __init__(self, config: OffloadConfig, chunk: int = DEFAULT_CHUNK, max_joints: int = MAX_JOINTS) -> None:
        super().__init__(config)
        self.chunk, self.max_joints = chunk, max_joints

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        active = np.flatnonzero(state.tasks.active)
        n_actions = self.config.n_actions
        count = n_actions ** active.size
        if count > self.max_joints:
            raise ConfigError(
                f"n_devices with a task={active.size}, n_edges={self.config.n_edges}: {count} joints; "
                f"expected at most max_joints={self.max_joints} for exhaustive search"
            )
        actions = np.zeros(self.config.n_devices, dtype=np.int64)
        if active.size == 0:
            return actions
        sub = all_joints(int(active.size), n_actions)
        best_cost, best_row = np.inf, 0
        for start in range(0, sub.shape[0], self.chunk):
            block = np.zeros((min(self.chunk, sub.shape[0] - start), self.config.n_devices), dtype=np.int64)
            block[:, active] = sub[start : start + block.shape[0]]
            costs = state.model.total_cost(block, chunk=self.chunk)
            row = int(np.argmin(costs))
            if costs[row] < best_cost:
                best_cost, best_row = float(costs[row]), start + row
        actions[active] = sub[best_row]
        return actions
