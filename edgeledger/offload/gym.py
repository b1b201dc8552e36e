"""Gymnasium wrappers of :class:`OffloadEnv`, so any RL library can drive it.

- :class:`MultiDeviceOffloadEnv`: one step per slot, ``MultiDiscrete([M+2] * N)`` action,
  observation ``(N, M+8)`` (every device's DQN state), reward ``-sum_i Q_i`` (in queue mode,
  over the tasks resolved in the slot, so rewards arrive when tasks finish or drop).
- :class:`SequentialOffloadEnv`: one step per device decision; devices decide one after
  another inside a slot and the reward is minus the increase of the slot's total cost, so a
  slot's return telescopes to exactly ``-sum_i Q_i`` (docs/offloading.md, DQN section).
Episodes last ``config.episode_slots`` slots and end by truncation.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv, SlotOutcome
from edgeledger.offload.observation import (
    OBS_HIGH,
    device_observations,
    observation_size,
    sequential_observation_size,
)
from edgeledger.offload.sequential import Order, SequentialSlot

__all__ = ["MultiDeviceOffloadEnv", "SequentialOffloadEnv"]


def _outcome_info(outcome: SlotOutcome) -> dict[str, Any]:
    return {
        "slot": outcome.slot,
        "total_cost": outcome.total_cost,
        "delay_s": outcome.delay_s.copy(),
        "energy_j": outcome.energy_j.copy(),
        "misses": outcome.misses.copy(),
        "actions": outcome.actions.copy(),
    }


class MultiDeviceOffloadEnv(gymnasium.Env):
    """All devices act at once each slot; reward is the slot utility ``-sum_i Q_i``."""

    metadata = {"render_modes": []}

    def __init__(self, config: OffloadConfig | None = None) -> None:
        self.config = config or OffloadConfig()
        n, width = self.config.n_devices, observation_size(self.config)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, shape=(n, width), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete(np.full(n, self.config.n_actions))
        self._env: OffloadEnv | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self._env is None:
            self._env = OffloadEnv(self.config, self.np_random)
        else:
            self._env.reset(self.np_random)
        return device_observations(self.config, self._env.state), {"slot": 0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._env is None:
            raise ConfigError("step() before reset(); expected reset() first")
        outcome = self._env.step(np.asarray(action))
        obs = device_observations(self.config, self._env.state)
        truncated = self._env.slot >= self.config.episode_slots
        return obs, outcome.utility, False, truncated, _outcome_info(outcome)

    @property
    def offload_env(self) -> OffloadEnv:
        """The wrapped environment (after :meth:`reset`)."""
        if self._env is None:
            raise ConfigError("offload_env before reset(); expected reset() first")
        return self._env


class SequentialOffloadEnv(gymnasium.Env):
    """One device decides per step (slot mode only). Observation: the device's DQN state
    plus the in-slot choices so far (``2M + 11`` features); ``Discrete(M + 2)`` action.

    ``order="index"`` visits devices 0..N-1; ``"workload"`` visits them in decreasing ``c``.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: OffloadConfig | None = None, order: Order = "index") -> None:
        self.config = config or OffloadConfig()
        if self.config.mode != "slot":
            raise ConfigError(f"mode={self.config.mode!r}; SequentialOffloadEnv expects mode='slot'")
        if order not in ("index", "workload"):
            raise ConfigError(f"order={order!r}; expected 'index' or 'workload'")
        self.order_rule: Order = order
        width = sequential_observation_size(self.config)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, shape=(width,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.config.n_actions)
        self._env: OffloadEnv | None = None
        self._slot: SequentialSlot | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self._env is None:
            self._env = OffloadEnv(self.config, self.np_random)
        else:
            self._env.reset(self.np_random)
        self._slot = SequentialSlot(self.config, self._env.state, self.order_rule)
        return self._slot.observation(), {"slot": 0, "device": self._slot.device}

    @property
    def offload_env(self) -> OffloadEnv:
        """The wrapped environment (after :meth:`reset`)."""
        if self._env is None:
            raise ConfigError("offload_env before reset(); expected reset() first")
        return self._env

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._env is None or self._slot is None:
            raise ConfigError("step() before reset(); expected reset() first")
        if not self.action_space.contains(action):
            raise ConfigError(f"action={action!r}; expected an integer in [0, {self.config.n_actions})")
        info: dict[str, Any] = {"slot": self._env.slot, "device": self._slot.device}
        reward = self._slot.decide(int(action))
        truncated = False
        if self._slot.done:
            outcome = self._env.step(self._slot.actions)
            info.update(_outcome_info(outcome), slot_done=True)
            truncated = self._env.slot >= self.config.episode_slots
            self._slot = SequentialSlot(self.config, self._env.state, self.order_rule)
        return self._slot.observation(), reward, False, truncated, info
