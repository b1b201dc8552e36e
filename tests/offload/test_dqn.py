from __future__ import annotations

import numpy as np
import torch

from edgeledger.offload.config import DqnConfig, OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.observation import sequential_observation_size
from edgeledger.offload.policies.dqn import DqnAgent, DqnPolicy, QNetwork
from edgeledger.offload.training import train_dqn

SMALL = OffloadConfig(
    n_devices=4,
    dqn=DqnConfig(hidden_layers=(16,), batch_size=8, replay_size=64, train_every_steps=2, target_sync_steps=10,
                  epsilon_decay_steps=40),
)


def test_network_shape_follows_the_config():
    net = QNetwork(13, (120, 80), 3, dueling=False, generator=torch.Generator().manual_seed(0))
    sizes = [tuple(p.shape) for p in net.parameters()]
    assert sizes == [(120, 13), (120,), (80, 120), (80,), (3, 80), (3,)]
    dueling = QNetwork(13, (120, 80), 3, dueling=True, generator=torch.Generator().manual_seed(0))
    assert dueling(torch.zeros(5, 13)).shape == (5, 3)


def test_epsilon_decays_linearly_to_its_floor():
    agent = DqnAgent(5, 3, DqnConfig(), np.random.default_rng(0))
    assert agent.epsilon == 1.0
    agent.steps = 2000
    assert np.isclose(agent.epsilon, 1.0 - 0.5 * 0.99)
    agent.steps = 10_000
    assert np.isclose(agent.epsilon, 0.01)


def test_agent_trains_and_syncs_its_target():
    agent = DqnAgent(3, 2, SMALL.dqn, np.random.default_rng(1))
    obs = np.ones(3, np.float32)
    for step in range(20):
        agent.remember(obs, step % 2, -1.0, obs, True)
    assert len(agent.losses) == 7  # every 2 steps once the buffer holds a batch of 8
    online, target = agent.online.state_dict(), agent.target.state_dict()
    assert all(torch.equal(online[k], target[k]) for k in online)  # synced at step 20


def test_weights_round_trip_for_federated_averaging():
    a = DqnAgent(4, 3, DqnConfig(), np.random.default_rng(0))
    b = DqnAgent(4, 3, DqnConfig(), np.random.default_rng(1))
    b.set_weights(a.get_weights())
    x = torch.ones(2, 4)
    assert torch.equal(a.online(x), b.online(x))


def test_dqn_policy_learns_from_observe_and_is_deterministic():
    def run() -> tuple[list[float], list[int]]:
        policy, history = train_dqn(SMALL, n_slots=30, seed=4)
        env = OffloadEnv(SMALL, np.random.default_rng(9))
        return history.utility, policy.decide(env.state, np.random.default_rng(0)).tolist()

    first, second = run(), run()
    assert first == second
    policy = DqnPolicy(SMALL, marginal_features=True)
    env = OffloadEnv(SMALL, np.random.default_rng(0))
    state = env.state
    actions = policy.decide(state, np.random.default_rng(0))
    assert len(policy._pending) == 4 and policy._pending[0][0].size == sequential_observation_size(SMALL) + 3
    outcome = env.step(actions)
    assert np.isclose(sum(r for _, _, r in policy._pending), -outcome.total_cost)  # sequential rewards
    policy.observe(state, actions, outcome)
    assert policy.agent.steps == 4 and policy._pending == []
