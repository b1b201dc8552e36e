"""All-local baseline: every task runs on its device (the cost normaliser, Q_i = w_T + w_E
plus misses; a DROO/DDLO reference point)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["AllLocal"]


@policies.register("all_local")
class AllLocal(OffloadPolicy):
    """Action 0 for every device."""

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(self.config.n_devices, dtype=np.int64)
