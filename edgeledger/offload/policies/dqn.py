"""Deep Q-network offloading policy (docs/offloading.md, DQN section).

The agent of ChainFL's case study (after DMRO): an MLP ``[in, 120, 80, M+2]`` with ReLU,
Adam (lr 1e-3), gamma 0.9, replay of 1024, batches of 128, a training step every 10
decisions, target sync every 200 and epsilon from 1.0 to 0.01 over 4000 decisions (Mnih et
al., Nature 2015); double DQN (van Hasselt et al., AAAI 2016) and a dueling head (Wang et
al., ICML 2016) are optional. Decisions use the sequential formulation: devices decide one
after another within a slot, each seeing its DQN state plus the choices made so far, and
the slot's rewards sum to ``-sum_i Q_i``; a slot is one episode (slots are independent).
Weights can be read and written as numpy arrays so federated learning can average them.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from edgeledger.offload.config import DqnConfig, OffloadConfig
from edgeledger.offload.env import SlotOutcome, SlotState
from edgeledger.offload.observation import LOOKAHEAD_SIZE, sequential_observation_size
from edgeledger.offload.policies.base import OffloadPolicy, policies
from edgeledger.offload.sequential import SequentialSlot

__all__ = ["QNetwork", "ReplayBuffer", "DqnAgent", "DqnPolicy"]


class QNetwork(nn.Module):
    """MLP Q-function; with ``dueling`` the last layer splits into value and advantage."""

    def __init__(
        self, n_inputs: int, hidden: tuple[int, ...], n_actions: int, dueling: bool, generator: torch.Generator
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_actions)
        self.value = nn.Linear(width, 1) if dueling else None
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)  # PyTorch's default range, seeded locally
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        q = self.head(h)
        if self.value is None:
            return q
        return self.value(h) + q - q.mean(dim=-1, keepdim=True)


class ReplayBuffer:
    """Fixed-size ring buffer of transitions ``(s, a, r, s', done)``."""

    def __init__(self, capacity: int, n_inputs: int) -> None:
        self.obs = np.zeros((capacity, n_inputs), np.float32)
        self.next_obs = np.zeros((capacity, n_inputs), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.size, self._next = 0, 0

    def push(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, done: bool) -> None:
        i = self._next
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.done[i] = (
            obs,
            action,
            reward,
            next_obs,
            done,
        )
        self._next = (i + 1) % self.obs.shape[0]
        self.size = min(self.size + 1, self.obs.shape[0])

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, ...]:
        idx = rng.integers(0, self.size, size=batch)
        arrays = (self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.done[idx])
        return tuple(torch.from_numpy(a) for a in arrays)


class DqnAgent:
    """One Q-learner: epsilon-greedy acting, replay, periodic training and target sync."""

    def __init__(self, n_inputs: int, n_actions: int, config: DqnConfig, rng: np.random.Generator) -> None:
        self.config, self.n_actions, self.rng = config, n_actions, rng
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self.online = QNetwork(n_inputs, config.hidden_layers, n_actions, config.dueling, gen)
        self.target = QNetwork(n_inputs, config.hidden_layers, n_actions, config.dueling, gen)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.replay = ReplayBuffer(config.replay_size, n_inputs)
        self.steps = 0  # transitions seen
        self.losses: list[float] = []

    @property
    def epsilon(self) -> float:
        """Linear decay from ``epsilon_start`` to ``epsilon_end`` over ``epsilon_decay_steps``."""
        c = self.config
        frac = min(self.steps / c.epsilon_decay_steps, 1.0)
        return c.epsilon_start + frac * (c.epsilon_end - c.epsilon_start)

    def act(self, obs: np.ndarray, rng: np.random.Generator, explore: bool) -> int:
        """Greedy action for ``obs``; a uniform one with probability epsilon when exploring."""
        if explore and rng.random() < self.epsilon:
            return int(rng.integers(self.n_actions))
        with torch.no_grad():
            return int(self.online(torch.from_numpy(obs[None, :])).argmax(dim=1)[0])

    def remember(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, done: bool) -> None:
        """Store a transition; train every ``train_every_steps`` and sync the target."""
        self.replay.push(obs, action, reward, next_obs, done)
        self.steps += 1
        c = self.config
        if self.steps % c.train_every_steps == 0 and self.replay.size >= c.batch_size:
            self.losses.append(self.train_step())
        if self.steps % c.target_sync_steps == 0:
            self.target.load_state_dict(self.online.state_dict())

    def train_step(self) -> float:
        """One Adam step on the TD error ``r + gamma (1 - done) Q'(s', a*) - Q(s, a)`` (Huber)."""
        obs, actions, rewards, next_obs, done = self.replay.sample(self.rng, self.config.batch_size)
        with torch.no_grad():
            if self.config.double:
                best = self.online(next_obs).argmax(dim=1, keepdim=True)
                next_q = self.target(next_obs).gather(1, best).squeeze(1)
            else:
                next_q = self.target(next_obs).max(dim=1).values
            target = rewards + self.config.gamma * (1.0 - done) * next_q
        q = self.online(obs).gather(1, actions[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def get_weights(self) -> list[np.ndarray]:
        """Online network parameters as numpy arrays (for federated averaging)."""
        return [p.detach().numpy().copy() for p in self.online.state_dict().values()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load online parameters (e.g. the global model); the target network stays local."""
        keys = list(self.online.state_dict())
        self.online.load_state_dict({k: torch.from_numpy(np.asarray(w)) for k, w in zip(keys, weights, strict=True)})


@policies.register("dqn")
class DqnPolicy(OffloadPolicy):
    """A DQN deciding device by device; learns from :meth:`observe` while ``training``.

    With ``marginal_features`` the state also carries the immediate cost increase of each
    action (an extension beyond docs/offloading.md's state: it needs the slot's cost model); with
    ``config.dqn.lookahead_features`` a summary of the devices still to decide this slot
    (:func:`~edgeledger.offload.observation.lookahead_features`).
    """

    def __init__(
        self,
        config: OffloadConfig,
        order: Literal["index", "workload"] = "workload",
        training: bool = True,
        seed: int = 0,
        marginal_features: bool = False,
    ) -> None:
        super().__init__(config)
        self.order, self.training, self.marginal_features = order, training, marginal_features
        n_inputs = sequential_observation_size(config) + (config.n_actions if marginal_features else 0)
        n_inputs += LOOKAHEAD_SIZE if config.dqn.lookahead_features else 0
        self.agent = DqnAgent(n_inputs, config.n_actions, config.dqn, np.random.default_rng(seed))
        self._pending: list[tuple[np.ndarray, int, float]] = []

    def decide(self, state: SlotState, rng: np.random.Generator) -> np.ndarray:
        slot = SequentialSlot(self.config, state, self.order)
        self._pending = []
        while not slot.done:
            if not state.tasks.active[slot.device]:
                slot.decide(0)
                continue
            obs = slot.observation()
            if self.marginal_features:
                obs = np.concatenate([obs, slot.marginal_costs()])
            if self.config.dqn.lookahead_features:
                obs = np.concatenate([obs, slot.lookahead()])
            action = self.agent.act(obs, rng, explore=self.training)
            self._pending.append((obs, action, slot.decide(action)))
        return slot.actions

    def slot_transitions(self) -> list[tuple[np.ndarray, int, float, np.ndarray, bool]]:
        """The last decided slot as transitions ``(s, a, r, s', done)`` (one episode)."""
        out = []
        for j, (obs, action, reward) in enumerate(self._pending):
            last = j == len(self._pending) - 1
            next_obs = np.zeros_like(obs) if last else self._pending[j + 1][0]
            out.append((obs, action, reward, next_obs, last))
        return out

    def observe(self, state: SlotState, actions: np.ndarray, outcome: SlotOutcome) -> None:
        """Push the slot's transitions (one episode) to the replay buffer and train."""
        if not self.training:
            return
        for transition in self.slot_transitions():
            self.agent.remember(*transition)
        self._pending = []
