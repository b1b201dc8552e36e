"""All-edge baseline: every task goes to the edge server co-located with its access point
(DDLO's edge-only reference)."""

from __future__ import annotations

import numpy as np

from edgeledger.offload.env import SlotState
from edgeledger.offload.policies.base import OffloadPolicy, policies

__all__ = ["AllEdge"]


@policies.register("all_edge")
class AllEdge(OffloadPolicy):
    """Action ``ap(i) + 1`` for every device."""

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        return state.topology.ap.astype(np.int64) + 1
