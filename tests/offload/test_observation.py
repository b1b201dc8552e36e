from __future__ import annotations

import numpy as np

from edgeledger.offload.config import DqnConfig, OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.observation import (
    LOOKAHEAD_SIZE,
    sequential_observation_size,
    solo_savings,
)
from edgeledger.offload.policies.dqn import DqnPolicy
from edgeledger.offload.sequential import SequentialSlot


def test_solo_savings_price_each_device_offloading_alone(tiny_config, tiny_model):
    from edgeledger.offload.env import SlotCounts, SlotState

    state = SlotState(0, 0.0, None, None, None, tiny_model, SlotCounts.idle(1))  # type: ignore[arg-type]
    savings = solo_savings(state)
    local = tiny_model.evaluate(np.zeros(3, dtype=np.int64)).cost[0]  # 1 (w_T + w_E), plus a miss past 1 s
    assert np.allclose(local, [1.0, 2.0, 2.0])
    for j in range(3):
        best = np.inf
        for action in (1, 2):
            joint = np.zeros(3, dtype=np.int64)
            joint[j] = action
            best = min(best, tiny_model.evaluate(joint).cost[0, j])
        assert np.isclose(savings[j], max(0.0, local[j] - best))
    assert savings.max() > 0  # a 2.4 Gcycle task on a 40 Mbit/s uplink gains from the edge


def test_lookahead_summarises_the_devices_still_to_decide():
    config = OffloadConfig(n_devices=5)
    state = OffloadEnv(config, np.random.default_rng(3)).state
    slot = SequentialSlot(config, state, order="workload")
    savings = solo_savings(state)
    seen = []
    while not slot.done:
        later = slot.order[slot.position + 1:]
        features = slot.lookahead()
        assert features.shape == (LOOKAHEAD_SIZE,)
        assert np.isclose(features[0], len(later) / 5)
        assert np.isclose(features[1], state.tasks.cycles[later].sum() / (5 * config.obs_cycles_scale))
        assert np.isclose(features[2], savings[later].sum() / 5, atol=1e-6)
        assert np.isclose(features[3], np.sum(savings[later] > 0) / 5)
        seen.append(features[0])
        slot.decide(1)
    assert seen == sorted(seen, reverse=True) and seen[-1] == 0.0  # the last device sees nobody after it


def test_dqn_with_lookahead_widens_its_state_and_keeps_the_slot_return():
    config = OffloadConfig(n_devices=4, dqn=DqnConfig(lookahead_features=True, hidden_layers=(8,)))
    policy = DqnPolicy(config, marginal_features=True)
    env = OffloadEnv(config, np.random.default_rng(0))
    actions = policy.decide(env.state, np.random.default_rng(0))
    width = sequential_observation_size(config) + config.n_actions + LOOKAHEAD_SIZE
    assert policy.agent.online.body[0].in_features == width
    assert all(obs.size == width for obs, _, _ in policy._pending)
    assert np.isclose(sum(r for _, _, r in policy._pending), -env.step(actions).total_cost)
