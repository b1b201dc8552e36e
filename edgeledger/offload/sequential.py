"""The sequential formulation of a slot (docs/offloading.md, DQN section).

Devices decide one after another inside a slot; each decision is rewarded with minus the
increase of the slot's total cost over the devices decided so far (undecided devices count
as absent: a local task changes nobody else's cost). The rewards of a slot therefore sum to
exactly ``-sum_i Q_i``. Shared by :class:`~edgeledger.offload.gym.SequentialOffloadEnv` and
the DQN policy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import SlotState
from edgeledger.offload.observation import (
    device_observations,
    lookahead_features,
    sequential_observation,
    solo_savings,
)

__all__ = ["SequentialSlot", "decision_order"]

Order = Literal["index", "workload"]


def decision_order(state: SlotState, order: Order) -> np.ndarray:
    """Devices 0..N-1 (``"index"``) or by decreasing workload ``c`` (``"workload"``)."""
    if order == "index":
        return np.arange(state.tasks.active.size)
    return np.argsort(-state.tasks.cycles, kind="stable")


class SequentialSlot:
    """One slot decided device by device; :meth:`decide` returns the step reward."""

    def __init__(self, config: OffloadConfig, state: SlotState, order: Order = "index") -> None:
        self.config, self.state = config, state
        self.order = decision_order(state, order)
        self.actions = np.zeros(config.n_devices, dtype=np.int64)
        self.decided = np.zeros(config.n_devices, dtype=bool)
        self.position = 0
        self.slot_cost = 0.0
        self._slot_obs = device_observations(config, state)
        self._savings: np.ndarray | None = None  # solo offloading savings, on first use

    @property
    def done(self) -> bool:
        return self.position == self.config.n_devices

    @property
    def device(self) -> int:
        """The device whose turn it is."""
        return int(self.order[self.position])

    def observation(self) -> np.ndarray:
        """The current device's DQN state plus the in-slot choices so far (float32)."""
        return sequential_observation(
            self.config, self.state, self._slot_obs, self.actions, self.decided, self.device, self.position
        )

    def lookahead(self) -> np.ndarray:
        """Summary of the devices that decide after the current one (``LOOKAHEAD_SIZE``)."""
        if self._savings is None:
            self._savings = solo_savings(self.state)
        waiting = ~self.decided
        waiting[self.device] = False
        return lookahead_features(self.config, self.state, self._savings, waiting)

    def marginal_costs(self) -> np.ndarray:
        """Increase of the slot cost for each action of the current device, shape (M+2,)."""
        i = self.device
        options = np.tile(self.actions, (self.config.n_actions, 1))
        options[:, i] = np.arange(self.config.n_actions)
        counted = self.decided.copy()
        counted[i] = True
        return (self.state.model.evaluate(options).cost[:, counted].sum(axis=1) - self.slot_cost).astype(np.float32)

    def decide(self, action: int) -> float:
        """Fix the current device's action; return ``-(increase of the slot cost)``."""
        i = self.device
        self.actions[i] = int(action)
        self.decided[i] = True
        cost = float(self.state.model.evaluate(self.actions).cost[0][self.decided].sum())
        reward = -(cost - self.slot_cost)
        self.slot_cost = cost
        self.position += 1
        return reward
