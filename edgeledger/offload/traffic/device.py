"""A device that offloads over the network (sans-IO): decide, upload, wait, learn from what it measured.

Every ``slot_s`` the device draws its task and channel (:class:`~.stream.DeviceStream`),
builds the DQN state of docs/offloading.md from them and the servers' last reports (last
slot's users of its AP, tasks per edge, cloud tasks), and asks its policy for an action:

- local (0): its own processor runs the task (``"slot"`` sharing: alone, as the model's slots
  are independent; ``"network"``: one task after another, FIFO);
- edge m (1..M) or cloud (M+1): it asks its AP for a radio share (:class:`AccessRequest`), gets
  the grant (k users, n tasks at the target), sends the task with its input bytes at ``r_up / k``
  (``TaskUpload``) and waits for the output (``TaskResult``), which comes back at ``r_dl / k``.

Delay is measured from the slot start to the result; device energy is ``P_tx`` for its radio
time up, ``P_rx`` down and ``P_idle`` for the rest (``kappa f_l^2 c`` locally); the cost is
:func:`~edgeledger.offload.cost.normalised_cost`. A result that never comes (a lost message,
a cut link) counts after ``result_timeout_s`` as a miss with that delay. Each outcome becomes
a one-step transition ``(state, action, -Q_i)`` for the learning agent (``observe``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeledger.effects import CancelTimer, Effect, Metric, Send, SetTimer
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.cost import normalised_cost
from edgeledger.offload.traffic.cpu import Processor
from edgeledger.offload.traffic.messages import AccessGrant, AccessRequest, ResourceReport, TaskResult, TaskUpload
from edgeledger.offload.traffic.stream import DeviceStream, SlotDraw

__all__ = ["OffloadDeviceCore", "Outcome", "network_observation", "SLOT_TIMER", "LOCAL_TIMER", "TIMEOUT_TIMER"]

SLOT_TIMER = "offload.slot"
LOCAL_TIMER = "offload.local"
TIMEOUT_TIMER = "offload.timeout:"

#: ``(state, action, reward, outcome)`` -> None: what the learning agent is told of each task
Observer = Callable[[np.ndarray, int, float, "Outcome"], None]


@dataclass(frozen=True)
class Outcome:
    """A task's fate as the device measured it."""

    slot: int
    action: int
    delay_s: float
    energy_j: float
    cost: float
    miss: bool
    lost: bool = False  # no result came back in time


@dataclass
class _Task:
    draw: SlotDraw
    action: int
    state: np.ndarray
    start_s: float
    target: str = ""
    up_s: float = 0.0
    down_s: float = 0.0


@dataclass
class _Reports:
    """The servers' last reports: per AP its users and cloud relays, per edge its tasks."""

    users: dict[str, int] = field(default_factory=dict)
    edge_tasks: dict[str, int] = field(default_factory=dict)
    cloud_tasks: dict[str, int] = field(default_factory=dict)


def network_observation(config: OffloadConfig, draw: SlotDraw, users: int, edge_tasks: Sequence[int],
                        cloud_tasks: int) -> np.ndarray:
    """docs/offloading.md's per-device DQN state from what a device knows on the network:
    ``[d/7 Mbit, phi/397, c/2.8e9, tau, r_up/30 Mbit/s, f_l/1 GHz, k/N, n_m/N (each m), n_c/N]``
    (the same normalisers as :func:`~edgeledger.offload.observation.device_observations`)."""
    n = config.n_devices
    obs = [draw.size_bits / config.obs_size_scale_bits, draw.cycles_per_bit / config.obs_cycles_per_bit_scale,
           draw.cycles / config.obs_cycles_scale, draw.deadline_s, draw.rate_up_bps / config.obs_rate_scale_bps,
           config.local_cpu_hz / config.obs_cpu_scale_hz, users / n, *(t / n for t in edge_tasks), cloud_tasks / n]
    return np.clip(np.asarray(obs, dtype=np.float64), 0.0, 1e6).astype(np.float32)


class OffloadDeviceCore:
    """One device's offloading on the network; see the module docstring.

    ``ap``: its access point (its edge); ``edges``: edge m of action m is ``edges[m - 1]``;
    ``decide(state, slot)`` the policy; ``observe`` hears every outcome; ``sharing``:
    ``"slot"`` (the analytical model's resource sharing) or ``"network"``; ``slots``: stop
    after this many slots (None: run on)."""

    def __init__(self, node_id: str, config: OffloadConfig, stream: DeviceStream, ap: str, edges: Sequence[str],
                 cloud: str, decide: Callable[[np.ndarray, int], int], observe: Observer | None = None,
                 sharing: str = "network", slots: int | None = None, result_timeout_s: float = 10.0) -> None:
        self.node_id, self.config, self.stream, self.ap, self.cloud = node_id, config, stream, ap, cloud
        self.edges, self.decide, self.observe, self.slots = list(edges), decide, observe, slots
        self.result_timeout_s = result_timeout_s
        self.cpu = Processor(config.local_cpu_hz, "slot" if sharing == "slot" else "fifo")
        self.tasks: dict[str, _Task] = {}
        self.reports = _Reports()
        self.outcomes: list[Outcome] = []
        self.slot = 0

    def start(self, now: float) -> list[Effect]:
        return [SetTimer(SLOT_TIMER, 0.0)]

    # -- deciding -------------------------------------------------------------------------------
    def _counts(self) -> tuple[int, list[int], int]:
        r = self.reports
        return (r.users.get(self.ap, 0), [r.edge_tasks.get(e, 0) for e in self.edges], sum(r.cloud_tasks.values()))

    def on_slot(self, now: float) -> list[Effect]:
        if self.slots is not None and self.slot >= self.slots:
            return []
        draw = self.stream.draw(self.slot)
        state = network_observation(self.config, draw, *self._counts())
        action = int(self.decide(state, self.slot))
        if not 0 <= action < self.config.n_actions:
            action = 0
        task_id = f"{self.node_id}/{self.slot}"
        task = self.tasks[task_id] = _Task(draw, action, state, now)
        self.slot += 1
        effects: list[Effect] = [SetTimer(SLOT_TIMER, self.config.slot_s)]
        if action == 0:
            self.cpu.admit(task_id, draw.cycles, now)
            return effects + self._local_timer()
        task.target = self.cloud if action == self.config.cloud_action else self.edges[action - 1]
        effects.append(Send(self.ap, AccessRequest(slot=draw.slot, target=task.target, rate_up_bps=draw.rate_up_bps,
                                                   rate_down_bps=draw.rate_down_bps)))
        return effects + [SetTimer(f"{TIMEOUT_TIMER}{task_id}", self.result_timeout_s)]

    def _local_timer(self) -> list[Effect]:
        nxt = self.cpu.next_finish()
        return [SetTimer(LOCAL_TIMER, max(0.0, nxt[0] - self.cpu.last_s))] if nxt is not None else []

    # -- inputs ---------------------------------------------------------------------------------
    def on_grant(self, sender: str, grant: AccessGrant, now: float) -> list[Effect]:
        task_id = f"{self.node_id}/{grant.slot}"
        task = self.tasks.get(task_id)
        if sender != self.ap or task is None or not task.target or task.up_s or grant.users < 1:
            return []
        d = task.draw
        n_server = grant.cloud_tasks if task.target == self.cloud else grant.edge_tasks
        rate = d.rate_up_bps / grant.users
        task.up_s = d.size_bits / rate
        task.down_s = d.output_bits / (d.rate_down_bps / grant.users)
        upload = TaskUpload(task_id=task_id, device=self.node_id, slot=d.slot, target=task.target,
                            size_bits=int(round(d.size_bits)), cycles=d.cycles, output_bits=int(round(d.output_bits)),
                            deadline_s=d.deadline_s, share=grant.users, rate_down_bps=d.rate_down_bps,
                            n_server=max(1, n_server), payload=bytes(int(round(d.size_bits)) // 8))
        return [Send(self.ap, upload, rate_bps=rate)]

    def on_result(self, sender: str, result: TaskResult, now: float) -> list[Effect]:
        task = self.tasks.get(result.task_id)
        if sender != self.ap or task is None or not task.up_s:
            return []
        del self.tasks[result.task_id]
        cfg = self.config
        delay = now - task.start_s
        energy = cfg.tx_power_w * task.up_s + cfg.rx_power_w * task.down_s + cfg.idle_power_w * max(
            0.0, delay - task.up_s - task.down_s)
        return [CancelTimer(f"{TIMEOUT_TIMER}{result.task_id}"), *self._finish(result.task_id, task, delay, energy)]

    def on_report(self, sender: str, report: ResourceReport, now: float) -> list[Effect]:
        if sender == self.cloud or report.server != sender:
            return []
        self.reports.users[sender] = report.users
        self.reports.edge_tasks[sender] = report.edge_tasks
        self.reports.cloud_tasks[sender] = report.cloud_tasks
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name == SLOT_TIMER:
            return self.on_slot(now)
        if name == LOCAL_TIMER:
            nxt = self.cpu.next_finish()
            if nxt is None:
                return []
            task_id = nxt[1]
            self.cpu.finish(task_id, now)
            task = self.tasks.pop(task_id)
            cfg = self.config
            out = self._finish(task_id, task, now - task.start_s, cfg.kappa * cfg.local_cpu_hz ** 2 * task.draw.cycles)
            return out + self._local_timer()
        if name.startswith(TIMEOUT_TIMER):
            task_id = name.removeprefix(TIMEOUT_TIMER)
            if task_id not in self.tasks:
                return []
            task = self.tasks.pop(task_id)
            up = task.up_s
            energy = self.config.tx_power_w * up + self.config.idle_power_w * max(0.0, now - task.start_s - up)
            return self._finish(task_id, task, now - task.start_s, energy, lost=True)
        return []

    def _finish(self, task_id: str, task: _Task, delay: float, energy: float, lost: bool = False) -> list[Effect]:
        d, cfg = task.draw, self.config
        miss = lost or delay > d.deadline_s
        cost = float(normalised_cost(cfg, np.asarray(delay), np.asarray(energy), np.asarray(d.cycles),
                                     np.asarray(miss)))
        outcome = Outcome(d.slot, task.action, delay, energy, cost, miss, lost)
        self.outcomes.append(outcome)
        if self.observe is not None:
            self.observe(task.state, task.action, -cost, outcome)
        return [Metric("offload.delay_s", delay, d.slot), Metric("offload.energy_j", energy, d.slot),
                Metric("offload.cost", cost, d.slot), Metric("offload.miss", float(miss), d.slot),
                Metric("offload.action", float(task.action), d.slot)]
