"""The MEC offloading environment: slots of tasks, channels and queues (docs/offloading.md).

One :class:`OffloadEnv` holds the topology, draws each slot's fading (DROO/LyDROO) and tasks
(QECO or a trace) from the generator it was given, tells policies the slot's state and
prices their joint decisions. In slot mode slots are independent and a decision's cost is
known at once; in queue mode tasks wait in FIFO queues and a slot's outcome lists the tasks
whose fate was settled in it. Utility (what ChainFL plots) is ``-sum_i Q_i`` per slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.offload.channel import SlotChannel, Topology, draw_slot_channel, draw_topology
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.cost import CostBreakdown, SlotModel, build_slot_model
from edgeledger.offload.queueing import QueueNetwork, task_outcome
from edgeledger.offload.tasks import TaskBatch, Workload, make_workload

__all__ = ["OffloadEnv", "SlotState", "SlotOutcome", "SlotCounts", "server_energy_j"]


@dataclass(frozen=True)
class SlotCounts:
    """Resource use of a slot: the DQN state's "last slot" features."""

    ap_users: np.ndarray  # (M,) k: devices offloading through each AP
    edge_tasks: np.ndarray  # (M,) n_m
    cloud_tasks: int  # n_c

    @staticmethod
    def idle(n_edges: int) -> SlotCounts:
        return SlotCounts(np.zeros(n_edges, np.int64), np.zeros(n_edges, np.int64), 0)

    @staticmethod
    def of(config: OffloadConfig, ap: np.ndarray, actions: np.ndarray, active: np.ndarray) -> SlotCounts:
        """Count the resources used by one joint decision ``actions`` (N,)."""
        a = np.where(active, actions, 0)
        m = config.n_edges
        return SlotCounts(
            ap_users=np.bincount(ap[a > 0], minlength=m),
            edge_tasks=np.bincount(a[(a > 0) & (a <= m)] - 1, minlength=m),
            cloud_tasks=int(np.sum(a == config.cloud_action)),
        )


@dataclass(frozen=True)
class SlotState:
    """What a policy may look at when deciding slot ``slot``; ``model`` prices any joint."""

    slot: int
    start_s: float
    topology: Topology
    channel: SlotChannel
    tasks: TaskBatch
    model: SlotModel
    last_counts: SlotCounts


@dataclass(frozen=True)
class SlotOutcome:
    """Per-device results of one slot; arrays have shape (N,).

    In slot mode every device with a task has exactly one resolved task; in queue mode the
    arrays sum over the tasks resolved (finished or dropped) in this slot.
    """

    slot: int
    actions: np.ndarray  # int, the decisions taken (0 for devices without a task)
    resolved: np.ndarray  # int, tasks resolved per device
    delay_s: np.ndarray
    energy_j: np.ndarray
    cost: np.ndarray  # Q_i
    misses: np.ndarray  # int, deadline misses (drops in queue mode)
    server_energy_j: np.ndarray  # (M,) edge servers, linear power model, reported only
    counts: SlotCounts

    @property
    def miss(self) -> np.ndarray:
        """Per-device miss flags."""
        return self.misses > 0

    @property
    def total_cost(self) -> float:
        return float(self.cost.sum())

    @property
    def utility(self) -> float:
        """``-sum_i Q_i``: ChainFL's plotted utility (higher is better)."""
        return -self.total_cost


def server_energy_j(config: OffloadConfig, utilisation: np.ndarray) -> np.ndarray:
    """Edge energy over a slot, ``(P_idle + (P_max - P_idle) u) dt`` (linear power model)."""
    u = np.clip(utilisation, 0.0, 1.0)
    return (config.edge_idle_power_w + (config.edge_max_power_w - config.edge_idle_power_w) * u) * config.slot_s


class OffloadEnv:
    """The three-tier MEC environment driven slot by slot from one seeded generator."""

    def __init__(self, config: OffloadConfig, rng: np.random.Generator, workload: Workload | None = None) -> None:
        self.config = config
        self.workload = make_workload(config) if workload is None else workload
        self._rng = rng
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> SlotState:
        """Draw a new topology and slot 0; ``rng`` replaces the generator when given."""
        if rng is not None:
            self._rng = rng
        self.topology = draw_topology(self.config, self._rng)
        self.queues = QueueNetwork(self.config, self.topology) if self.config.mode == "queue" else None
        self.slot = 0
        self._last_counts = SlotCounts.idle(self.config.n_edges)
        self._state = self._draw_slot()
        return self._state

    @property
    def state(self) -> SlotState:
        return self._state

    def evaluate(self, actions: np.ndarray) -> SlotOutcome:
        """Price ``actions`` (N,) for the current slot without advancing; exact in slot mode,
        the backlog-aware estimate in queue mode."""
        return self._outcome_from_breakdown(self._state.model.evaluate(check_actions(self.config, actions)))

    def step(self, actions: np.ndarray) -> SlotOutcome:
        """Commit ``actions`` (N,) for the current slot, then draw the next slot."""
        actions = check_actions(self.config, actions)
        if self.queues is None:
            outcome = self._outcome_from_breakdown(self._state.model.evaluate(actions))
        else:
            outcome = self._run_queues(actions)
        self._last_counts = outcome.counts
        self.slot += 1
        self._state = self._draw_slot()
        return outcome

    def _draw_slot(self) -> SlotState:
        channel = draw_slot_channel(self.config, self.topology, self._rng)
        tasks = self.workload.tasks(self.slot, self._rng)
        waits = self.queues.waits(channel) if self.queues is not None else (None, None, None)
        model = build_slot_model(self.config, self.topology, channel, tasks, *waits)
        start = self.slot * self.config.slot_s
        return SlotState(self.slot, start, self.topology, channel, tasks, model, self._last_counts)

    def _outcome_from_breakdown(self, b: CostBreakdown) -> SlotOutcome:
        cfg, state = self.config, self._state
        actions = b.actions[0]
        at_edge = (actions > 0) & (actions <= cfg.n_edges)
        edge_cycles = np.bincount(actions[at_edge] - 1, weights=state.tasks.cycles[at_edge], minlength=cfg.n_edges)
        return SlotOutcome(
            slot=state.slot,
            actions=actions,
            resolved=state.tasks.active.astype(np.int64),
            delay_s=b.delay_s[0],
            energy_j=b.energy_j[0],
            cost=b.cost[0],
            misses=b.miss[0].astype(np.int64),
            server_energy_j=server_energy_j(cfg, edge_cycles / (cfg.edge_cpu_hz * cfg.slot_s)),
            counts=SlotCounts.of(cfg, state.topology.ap, actions, state.tasks.active),
        )

    def _run_queues(self, actions: np.ndarray) -> SlotOutcome:
        cfg, state, n = self.config, self._state, self.config.n_devices
        assert self.queues is not None
        done = self.queues.advance(state.start_s, state.tasks, actions, state.channel)
        sums = np.zeros((4, n))  # resolved, delay, energy, cost
        misses = np.zeros(n, np.int64)
        for task in done:
            delay, energy, cost = task_outcome(cfg, task)
            sums[:, task.device] += (1.0, delay, energy, cost)
            misses[task.device] += task.dropped
        return SlotOutcome(
            slot=state.slot,
            actions=np.where(state.tasks.active, actions, 0),
            resolved=sums[0].astype(np.int64),
            delay_s=sums[1],
            energy_j=sums[2],
            cost=sums[3],
            misses=misses,
            server_energy_j=server_energy_j(cfg, self.queues.edge_busy_s / cfg.slot_s),
            counts=SlotCounts.of(cfg, state.topology.ap, actions, state.tasks.active),
        )


def check_actions(config: OffloadConfig, actions: np.ndarray) -> np.ndarray:
    """Validate one joint decision of shape (N,) with values in [0, M+2)."""
    a = np.asarray(actions)
    bad_range = a.min(initial=0) < 0 or a.max(initial=0) >= config.n_actions
    if a.shape != (config.n_devices,) or bad_range or not np.array_equal(a, np.round(a)):
        raise ConfigError(
            f"actions: shape {a.shape}, values {a.tolist()}; "
            f"expected ({config.n_devices},) integers in [0, {config.n_actions})"
        )
    return a.astype(np.int64)
