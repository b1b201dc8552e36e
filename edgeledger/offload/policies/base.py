"""The offloading-policy plug-in interface and its registry (docs/design.md rule 4).

A policy looks at one slot's :class:`~edgeledger.offload.env.SlotState` (tasks, channel,
queues and a pure cost model that prices any joint decision) and returns one action per
device: 0 local, 1..M edge m, M+1 cloud. Randomness only comes from the generator passed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import SlotOutcome, SlotState
from edgeledger.registry import Registry

__all__ = ["OffloadPolicy", "policies", "make_policy"]


class OffloadPolicy(ABC):
    """Decides a joint action for a slot; learners may also override :meth:`observe`."""

    def __init__(self, config: OffloadConfig) -> None:
        self.config = config

    @abstractmethod
    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        """Return the joint decision for ``state``: int array of shape (N,) in [0, M+2)."""

    def observe(self, state: SlotState, actions: np.ndarray, outcome: SlotOutcome) -> None:
        """Feedback after the slot was committed; baselines ignore it."""


policies: Registry[type[OffloadPolicy]] = Registry("offloading policy")


def make_policy(name: str, config: OffloadConfig) -> OffloadPolicy:
    """Instantiate the policy registered as ``name`` for ``config``."""
    return policies.get(name)(config)
