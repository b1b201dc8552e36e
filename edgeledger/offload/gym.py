"""Gymnasium wrappers of :class:`OffloadEnv`, so any RL library can drive it.

- :class:`MultiDeviceOffloadEnv`: one step per slot, ``MultiDiscrete([M+2] * N)`` action,
  observation ``(N, M+8)`` (every device's DQN state), reward ``-sum_i Q_i``.
- :class:`SequentialOffloadEnv`: one step per device decision; devices decide one after
  another inside a slot and the reward is minus the increase of the slot's total cost, so a
  slot's return telescopes to exactly ``-sum_i Q_i`` (OFFLOADING.md, DQN section).
Episodes last ``config.episode_slots`` slots and end by truncation.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium import spaces

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv, SlotCounts, SlotOutcome
from edgeledger.offload.observation import OBS_HIGH, device_observations, observation_size, progress_features

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

    def __init__(self, config: OffloadConfig | None = None, order: Literal["index", "workload"] = "index") -> None:
        self.config = config or OffloadConfig()
        if self.config.mode != "slot":
            raise ConfigError(f"mode={self.config.mode!r}; SequentialOffloadEnv expects mode='slot'")
        if order not in ("index", "workload"):
            raise ConfigError(f"order={order!r}; expected 'index' or 'workload'")
        self.order_rule = order
        width = observation_size(self.config) + self.config.n_edges + 3
        self.observation_space = spaces.Box(0.0, OBS_HIGH, shape=(width,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.config.n_actions)
        self._env: OffloadEnv | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self._env is None:
            self._env = OffloadEnv(self.config, self.np_random)
        else:
            self._env.reset(self.np_random)
        self._begin_slot()
        return self._observe(), {"slot": 0, "device": self.device}

    @property
    def device(self) -> int:
        """The device whose turn it is."""
        return int(self._order[self._position])

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._env is None:
            raise ConfigError("step() before reset(); expected reset() first")
        if not self.action_space.contains(action):
            raise ConfigError(f"action={action!r}; expected an integer in [0, {self.config.n_actions})")
        state = self._env.state
        self._actions[self.device] = int(action)
        self._decided[self.device] = True
        breakdown = state.model.evaluate(self._actions)  # undecided devices are local: no effect on others
        slot_cost = float(breakdown.cost[0][self._decided].sum())
        reward = -(slot_cost - self._slot_cost)
        self._slot_cost = slot_cost
        self._position += 1
        info: dict[str, Any] = {"slot": state.slot, "device": int(self._order[self._position - 1])}
        truncated = False
        if self._position == self.config.n_devices:
            outcome = self._env.step(self._actions)
            info.update(_outcome_info(outcome), slot_done=True)
            truncated = self._env.slot >= self.config.episode_slots
            self._begin_slot()
        return self._observe(), reward, False, truncated, info

    def _begin_slot(self) -> None:
        assert self._env is not None
        n = self.config.n_devices
        tasks = self._env.state.tasks
        self._order = np.arange(n) if self.order_rule == "index" else np.argsort(-tasks.cycles, kind="stable")
        self._actions = np.zeros(n, np.int64)
        self._decided = np.zeros(n, bool)
        self._position = 0
        self._slot_cost = 0.0

    def _observe(self) -> np.ndarray:
        assert self._env is not None
        state, i = self._env.state, self.device
        so_far = SlotCounts.of(self.config, state.topology.ap, self._actions, self._decided)
        base = device_observations(self.config, state)[i]
        return np.concatenate([base, progress_features(self.config, state, so_far, i, self._position)])
