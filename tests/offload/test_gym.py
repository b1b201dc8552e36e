from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.gym import MultiDeviceOffloadEnv, SequentialOffloadEnv
from edgeledger.offload.observation import observation_size


@pytest.mark.parametrize(
    "make",
    [
        lambda: MultiDeviceOffloadEnv(),
        lambda: MultiDeviceOffloadEnv(OffloadConfig(mode="queue", n_edges=2)),
        lambda: SequentialOffloadEnv(),
        lambda: SequentialOffloadEnv(OffloadConfig(n_devices=4, n_edges=2), order="workload"),
    ],
)
def test_gymnasium_env_checker_passes(make):
    check_env(make(), skip_render_check=True)


def test_multi_device_spaces_follow_the_dqn_state():
    env = MultiDeviceOffloadEnv(OffloadConfig(n_edges=2))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (10, observation_size(env.config)) == (10, 10)
    assert env.action_space.nvec.tolist() == [4] * 10
    state = env.offload_env.state
    assert np.allclose(obs[:, 0], state.tasks.size_bits / 7e6, rtol=1e-6)
    assert np.allclose(obs[:, 4], state.channel.rate_up_bps / 30e6, rtol=1e-6)
    obs, reward, terminated, truncated, info = env.step(np.full(10, 3))
    assert np.isclose(reward, -info["total_cost"]) and not terminated and not truncated
    ap = state.topology.ap
    assert np.allclose(obs[:, -1], 1.0)  # last slot: all ten at the cloud (n_c / N)
    assert np.allclose(obs[:, 6], np.bincount(ap, minlength=2)[ap] / 10)  # k of my AP / N


def test_episode_truncates_after_episode_slots():
    env = MultiDeviceOffloadEnv(OffloadConfig(episode_slots=3))
    env.reset(seed=1)
    flags = [env.step(env.action_space.sample())[3] for _ in range(3)]
    assert flags == [False, False, True]


@pytest.mark.parametrize("order", ["index", "workload"])
def test_sequential_slot_return_equals_minus_total_cost(order):
    env = SequentialOffloadEnv(OffloadConfig(n_devices=6, n_edges=2), order=order)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(4):
        slot_return, info = 0.0, {}
        while not info.get("slot_done"):
            _, reward, _, _, info = env.step(int(rng.integers(4)))
            slot_return += reward
        assert np.isclose(slot_return, -info["total_cost"], rtol=1e-12, atol=1e-12)


def test_sequential_reward_is_minus_the_cost_increase():
    env = SequentialOffloadEnv(OffloadConfig(n_devices=3))
    env.reset(seed=0)
    model = env.offload_env.state.model
    _, r0, _, _, _ = env.step(1)
    _, r1, _, _, _ = env.step(1)
    both = model.evaluate(np.array([1, 1, 0])).cost[0][:2].sum()
    assert np.isclose(r0, -model.evaluate(np.array([1, 0, 0])).cost[0][0])
    assert np.isclose(r0 + r1, -both)


def test_sequential_env_requires_slot_mode():
    with pytest.raises(ConfigError, match="mode"):
        SequentialOffloadEnv(OffloadConfig(mode="queue"))


def test_reset_with_the_same_seed_is_deterministic():
    env = MultiDeviceOffloadEnv()
    a, _ = env.reset(seed=42)
    r_a = env.step(np.ones(10, dtype=int))[1]
    b, _ = env.reset(seed=42)
    r_b = env.step(np.ones(10, dtype=int))[1]
    assert np.array_equal(a, b) and r_a == r_b


def test_marginal_costs_predict_the_step_reward():
    from edgeledger.offload.env import OffloadEnv
    from edgeledger.offload.sequential import SequentialSlot

    config = OffloadConfig(n_devices=5)
    slot = SequentialSlot(config, OffloadEnv(config, np.random.default_rng(2)).state, order="workload")
    assert slot.device == int(np.argmax(slot.state.tasks.cycles))
    for action in [1, 2, 1, 0, 2]:
        predicted = slot.marginal_costs()[action]
        assert np.isclose(slot.decide(action), -predicted, rtol=1e-6)
    assert slot.done
