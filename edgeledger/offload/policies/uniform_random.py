"""Random baseline: each device picks local, an edge or the cloud uniformly (the usual
lower reference in DROO/QECO evaluations)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["UniformRandom"]


@policies.register("random")
class UniformRandom(OffloadPolicy):
    """Independent uniform actions in [0, M+2) from the injected generator."""

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.config.n_actions, size=self.config.n_devices, dtype=np.int64)
