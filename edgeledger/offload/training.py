"""Train a learning policy online in the environment, on slots held out from evaluation.

Training slots come from a stream derived from ``(seed, "train")``, disjoint from the
evaluation stream of :mod:`edgeledger.offload.evaluate`, so a trained policy is scored on
slots it never saw. Used for the (centralised) DQN baseline; the federated variant reuses
the FL round protocol and only needs the agent's ``get_weights``/``set_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.evaluate import policy_stream
from edgeledger.offload.policies.dqn import DqnPolicy

__all__ = ["TrainingHistory", "train_online", "train_dqn"]


@dataclass(frozen=True)
class TrainingHistory:
    """Per training slot: the utility ``-sum_i Q_i`` and the exploration rate afterwards."""

    utility: list[float]
    epsilon: list[float]


def train_online(policy: DqnPolicy, config: OffloadConfig, n_slots: int, seed: int) -> TrainingHistory:
    """Run ``policy`` with learning on for ``n_slots`` training slots; returns its history."""
    env = OffloadEnv(config, np.random.default_rng(np.random.SeedSequence([seed, 1]).spawn(1)[0]))
    rng = policy_stream(seed, "train")
    policy.training = True
    utility, epsilon = [], []
    for _ in range(n_slots):
        state = env.state
        actions = policy.decide(state, rng)
        outcome = env.step(actions)
        policy.observe(state, actions, outcome)
        utility.append(outcome.utility)
        epsilon.append(policy.agent.epsilon)
    policy.training = False
    return TrainingHistory(utility, epsilon)


def train_dqn(
    config: OffloadConfig, n_slots: int, seed: int, **policy_options: object
) -> tuple[DqnPolicy, TrainingHistory]:
    """A fresh :class:`DqnPolicy` trained for ``n_slots`` slots (greedy afterwards)."""
    policy = DqnPolicy(config, seed=seed, **policy_options)  # type: ignore[arg-type]
    return policy, train_online(policy, config, n_slots, seed)
