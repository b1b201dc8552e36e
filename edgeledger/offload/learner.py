"""The offloading DQN behind the FL :class:`~edgeledger.fl.learner.Learner` interface.

ChainFL's federated DQN (Fig. 10; docs/offloading.md, "Federated DQN"): every device owns an
agent with its own MEC environment (its own task and channel stream, drawn from its seed),
its own replay buffer, target network and optimiser state. A round loads the global
Q-network, runs ``local_slots`` slots of epsilon-greedy acting and replay training, and
returns the flat Q-network weights with the number of transitions as FedAvg's weight; only
the weights travel, so the FL round protocol (signed uploads, digests on chain, verified
downloads) is the one the supervised learners use. The cloud's learner scores a global
Q-network greedily on held-out slots against the exact optimum.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
from torch import nn

from edgeledger.fl.learner import Learner, LocalResult
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.evaluate import env_stream, evaluate_policies, policy_stream
from edgeledger.offload.policies import ExactOptimum, make_policy
from edgeledger.offload.policies.dqn import DqnPolicy

__all__ = ["DqnLearner", "reference_costs", "td_loss"]

Transition = tuple[np.ndarray, int, float, np.ndarray, bool]


@lru_cache(maxsize=32)
def reference_costs(config: OffloadConfig, policy: str, n_slots: int, seed: int) -> tuple[float, ...]:
    """Per-slot total cost of a registered baseline (or ``"optimum"``) on the evaluation
    slots of ``seed``; cached because the optimum enumerates every joint decision."""
    chosen = {policy: ExactOptimum(config) if policy == "optimum" else make_policy(policy, config)}
    report = evaluate_policies(chosen, config, n_slots, seed, with_optimum=False)[policy]
    return tuple(s.total_cost for s in report.slots)


def td_loss(policy: DqnPolicy, transitions: list[Transition]) -> float:
    """Mean Huber TD error of the online network against itself as target:
    ``r + gamma (1 - done) max_a Q(s', a) - Q(s, a)`` (NaN without transitions)."""
    if not transitions:
        return math.nan
    obs, actions, rewards, next_obs, done = (np.asarray(x) for x in zip(*transitions))
    net, gamma = policy.agent.online, policy.agent.config.gamma
    with torch.no_grad():
        next_q = net(torch.from_numpy(next_obs.astype(np.float32))).max(dim=1).values
        target = torch.from_numpy(rewards.astype(np.float32)) + gamma * (
            1.0 - torch.from_numpy(done.astype(np.float32))
        ) * next_q
        q = net(torch.from_numpy(obs.astype(np.float32))).gather(1, torch.from_numpy(actions.astype(np.int64))[:, None])
        return float(nn.functional.smooth_l1_loss(q.squeeze(1), target))


class DqnLearner(Learner):
    """One device's (or the evaluating cloud's) offloading DQN.

    Parameters: ``config`` the MEC model and the agent's settings (``config.dqn``);
    ``seed`` the device's own stream (environment, replay sampling, network init);
    ``model_seed`` the seed of the round-0 global network (same on every node);
    ``local_slots`` slots trained per round (default ``dqn.local_episodes * episode_slots``);
    ``eval_slots``/``eval_seed`` the held-out slots :meth:`evaluate` scores on;
    ``initial`` a global Q-network to start from instead of ``model_seed``'s (a checkpoint).
    """

    def __init__(
        self,
        config: OffloadConfig,
        seed: int,
        model_seed: int = 0,
        local_slots: int | None = None,
        eval_slots: int = 20,
        eval_seed: int = 10_007,
        marginal_features: bool = False,
        order: Literal["index", "workload"] = "workload",
        initial: np.ndarray | None = None,
    ) -> None:
        self.config, self.seed = config, seed
        self.local_slots = local_slots or config.dqn.local_episodes * config.episode_slots
        self.eval_slots, self.eval_seed = eval_slots, eval_seed
        options = dict(order=order, marginal_features=marginal_features)
        self.policy = DqnPolicy(config, seed=seed, **options)  # type: ignore[arg-type]
        fresh = get_flat_params(DqnPolicy(config, seed=model_seed, **options).agent.online)  # type: ignore[arg-type]
        if initial is not None:
            set_flat_params(self.policy.agent.online, initial)  # checks the length against this network
        self._initial = fresh if initial is None else np.asarray(initial, np.float32).copy()
        self._env: OffloadEnv | None = None  # built on the first round: the cloud never needs one

    def initial_params(self) -> np.ndarray:
        return self._initial.copy()

    def train(self, global_params: np.ndarray, round_: int, seed: int) -> LocalResult:
        """Load ``global_params``, act and learn for ``local_slots`` slots; weight = transitions."""
        if self._env is None:
            self._env = OffloadEnv(self.config, env_stream(self.seed))
        agent = self.policy.agent
        set_flat_params(agent.online, global_params)
        rng = np.random.default_rng(seed)
        losses_before, steps_before = len(agent.losses), agent.steps
        self.policy.training = True
        for _ in range(self.local_slots):
            state = self._env.state
            actions = self.policy.decide(state, rng)
            self.policy.observe(state, actions, self._env.step(actions))
        self.policy.training = False
        losses = agent.losses[losses_before:]
        return LocalResult(
            params=get_flat_params(agent.online).copy(),
            weight=agent.steps - steps_before,
            loss=float(np.mean(losses)) if losses else math.nan,
        )

    def evaluate(self, params: np.ndarray) -> dict[str, float]:
        """Greedy play of ``params`` on the held-out slots: utility (mean ``-sum Q_i`` per
        slot), gain ratio ``sum Q_opt / sum Q``, mean TD loss, deadline-miss ratio."""
        set_flat_params(self.policy.agent.online, params)
        self.policy.training = False
        env = OffloadEnv(self.config, env_stream(self.eval_seed))
        rng = policy_stream(self.eval_seed, "dqn")
        costs, misses, tasks, transitions = [], 0, 0, []
        for _ in range(self.eval_slots):
            outcome = env.step(self.policy.decide(env.state, rng))
            transitions += self.policy.slot_transitions()
            costs.append(outcome.total_cost)
            misses, tasks = misses + int(outcome.misses.sum()), tasks + int(outcome.resolved.sum())
        optimum = sum(reference_costs(self.config, "optimum", self.eval_slots, self.eval_seed))
        total = float(np.sum(costs))
        return {
            "utility": -total / self.eval_slots,
            "gain_ratio": optimum / total if total > 0 else math.nan,
            "loss": td_loss(self.policy, transitions),
            "miss_ratio": misses / max(tasks, 1),
        }
