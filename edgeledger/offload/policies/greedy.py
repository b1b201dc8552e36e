"""Sequential greedy (docs/offloading.md baselines): devices in decreasing workload ``c``; each
picks the action that minimises the total slot cost given the earlier choices, the devices
not yet decided staying local (a local task changes nobody else's cost)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["SequentialGreedy"]


@policies.register("greedy")
class SequentialGreedy(OffloadPolicy):
    """One vectorised pricing of the ``M + 2`` options per device; ties keep the lower action."""

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        n_actions = self.config.n_actions
        actions = np.zeros(self.config.n_devices, dtype=np.int64)
        active = np.flatnonzero(state.tasks.active)
        order = active[np.argsort(-state.tasks.cycles[active], kind="stable")]
        for i in order:
            options = np.tile(actions, (n_actions, 1))  # (M+2, N)
            options[:, i] = np.arange(n_actions)
            actions[i] = int(np.argmin(state.model.total_cost(options)))
        return actions
