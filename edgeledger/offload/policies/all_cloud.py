"""All-cloud baseline: every task crosses its AP and the shared WAN to the cloud (DDLO's
cloud-only reference; WAN after EdgeCloudSim)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["AllCloud"]


@policies.register("all_cloud")
class AllCloud(OffloadPolicy):
    """Action ``M + 1`` for every device."""

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        return np.full(self.config.n_devices, self.config.cloud_action, dtype=np.int64)
