"""The offloading agent on the network: learns online from measured outcomes, federated by FL rounds.

On the network a device cannot see the other devices' choices of the slot (the sequential
formulation's in-slot features, the slot's cost model): its state is docs/offloading.md's
per-device DQN state built from its task, its channel and the servers' last reports
(:func:`~.device.network_observation`), and its reward is ``-Q_i`` of its own task as it
measured it. The agent acts every slot and trains from its replay as outcomes come in
(``DqnAgent.remember``); an FL round loads the global Q-network into it, and ``local_slots``
slots later the round's "training" result is the network as the agent has learnt it since,
weighted by the transitions it saw. The cloud scores a global network on the analytical
model's held-out slots, every device acting on its own state at once (no in-slot features),
against the exact optimum.
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.crypto.hashing import derive_seed
from edgeledger.fl.learner import Learner, LocalResult
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.evaluate import env_stream
from edgeledger.offload.learner import reference_costs
from edgeledger.offload.observation import device_observations, observation_size
from edgeledger.offload.policies.dqn import DqnAgent
from edgeledger.offload.traffic.device import Outcome

__all__ = ["NetworkDqnLearner", "NetworkRound"]


class NetworkRound:
    """A round's local training on the network: its result is read when the round's time is up."""

    def __init__(self, learner: NetworkDqnLearner) -> None:
        self.learner = learner
        self.steps, self.losses = learner.agent.steps, len(learner.agent.losses)

    def result(self) -> LocalResult:
        agent = self.learner.agent
        losses = agent.losses[self.losses:]
        return LocalResult(params=get_flat_params(agent.online).copy(), weight=max(1, agent.steps - self.steps),
                           loss=float(np.mean(losses)) if losses else math.nan)


class NetworkDqnLearner(Learner):
    """One device's online agent (or the cloud's evaluator): see the module docstring."""

    def __init__(self, config: OffloadConfig, seed: int, model_seed: int = 0, eval_slots: int = 20,
                 eval_seed: int = 10_007, initial: np.ndarray | None = None) -> None:
        self.config, self.eval_slots, self.eval_seed = config, eval_slots, eval_seed
        n_inputs = observation_size(config)
        self.agent = DqnAgent(n_inputs, config.n_actions, config.dqn, np.random.default_rng(seed))
        self.rng = np.random.default_rng(derive_seed(seed, "act"))
        fresh = DqnAgent(n_inputs, config.n_actions, config.dqn, np.random.default_rng(model_seed))
        self._initial = get_flat_params(fresh.online).copy() if initial is None else np.asarray(initial, np.float32)
        set_flat_params(self.agent.online, self._initial)
        self.agent.target.load_state_dict(self.agent.online.state_dict())
        self.training = True

    # -- acting on the network ---------------------------------------------------------------------
    def decide(self, state: np.ndarray, slot: int) -> int:
        """Epsilon-greedy while training (epsilon decays with the transitions seen), else greedy."""
        return self.agent.act(state, self.rng, explore=self.training)

    def observe(self, state: np.ndarray, action: int, reward: float, outcome: Outcome) -> None:
        """A measured outcome: a one-step transition (slots are independent episodes)."""
        self.agent.remember(state, action, reward, state, True)

    # -- the FL round ------------------------------------------------------------------------------
    def initial_params(self) -> np.ndarray:
        return self._initial.copy()

    def train(self, global_params: np.ndarray, round_: int, seed: int) -> NetworkRound:  # type: ignore[override]
        set_flat_params(self.agent.online, global_params)
        return NetworkRound(self)

    def evaluate(self, params: np.ndarray) -> dict[str, float]:
        """Greedy decentralised play of ``params`` on the held-out slots of the analytical model:
        utility (mean ``-sum Q_i``), gain ratio against the exact optimum, deadline-miss ratio."""
        import torch

        set_flat_params(self.agent.online, params)
        env = OffloadEnv(self.config, env_stream(self.eval_seed))
        costs, misses, tasks = [], 0, 0
        for _ in range(self.eval_slots):
            obs = device_observations(self.config, env.state)  # (N, M + 8)
            with torch.no_grad():
                actions = self.agent.online(torch.from_numpy(obs)).argmax(dim=1).numpy()
            outcome = env.step(actions)
            costs.append(outcome.total_cost)
            misses, tasks = misses + int(outcome.misses.sum()), tasks + int(outcome.resolved.sum())
        optimum = sum(reference_costs(self.config, "optimum", self.eval_slots, self.eval_seed))
        total = float(np.sum(costs))
        return {"utility": -total / self.eval_slots, "gain_ratio": optimum / total if total > 0 else math.nan,
                "miss_ratio": misses / max(tasks, 1)}
