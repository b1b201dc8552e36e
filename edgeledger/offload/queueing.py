"""Queue mode: FIFO queues (local, uplink, per edge) with deadline drops (after QECO).

A task waits in its device's local queue (served at ``f_l``) or uplink queue (served at
``r_up / k``, ``k`` = devices of the AP with a non-empty uplink queue this slot, TDMA); an
uploaded edge task joins edge m's FIFO queue (served at ``f_e``), a cloud task crosses the
WAN shared by the ``n_c`` cloud uploads of the slot, then runs at ``f_cloud``; results come
back at ``r_dl / k``. A task still unfinished at its deadline is dropped there (QECO,
Rahmati et al.): its delay is its deadline budget and it counts as a miss. Each slot is
advanced as a fluid: service stops at the slot end and resumes with the next slot's rates.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edgeledger.offload.channel import SlotChannel, Topology
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.cost import normalised_cost
from edgeledger.offload.tasks import TaskBatch

__all__ = ["QueuedTask", "QueueNetwork", "task_outcome"]

_EPS = 1e-12


@dataclass
class QueuedTask:
    """A task in flight; ``finish_s`` is set once its fate (done or dropped) is known."""

    device: int
    action: int
    arrival_s: float
    deadline_abs_s: float
    size_bits: float
    cycles: float
    output_bits: float
    bits_left: float
    cycles_left: float
    ready_s: float = 0.0  # when it reached its current queue
    tx_s: float = 0.0  # time spent transmitting (device energy)
    rx_s: float = 0.0  # time spent receiving
    cpu_j: float = 0.0  # local execution energy
    finish_s: float = float("nan")
    dropped: bool = False


class QueueNetwork:
    """The queues of every device and edge; :meth:`advance` runs one slot."""

    def __init__(self, config: OffloadConfig, topology: Topology) -> None:
        self.config = config
        self.topology = topology
        n = config.n_devices
        self.local: list[deque[QueuedTask]] = [deque() for _ in range(n)]
        self.uplink: list[deque[QueuedTask]] = [deque() for _ in range(n)]
        self.edge: list[deque[QueuedTask]] = [deque() for _ in range(config.n_edges)]
        self.edge_busy_s = np.zeros(config.n_edges)  # busy time of each edge in the last slot

    def waits(self, channel: SlotChannel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backlog delays seen by a new task: local (N,), uplink (N,), edge (M,) seconds."""
        cfg = self.config
        local = np.array([sum(t.cycles_left for t in q) for q in self.local]) / cfg.local_cpu_hz
        share = self._uplink_share()
        uplink = np.array([sum(t.bits_left for t in q) for q in self.uplink]) * share / channel.rate_up_bps
        edge = np.array([sum(t.cycles_left for t in q) for q in self.edge]) / cfg.edge_cpu_hz
        return local, uplink, edge

    def advance(
        self, start_s: float, tasks: TaskBatch, actions: np.ndarray, channel: SlotChannel
    ) -> list[QueuedTask]:
        """Enqueue this slot's tasks with their actions, serve every queue for one slot and
        return the tasks resolved (finished or dropped) in it."""
        end_s = start_s + self.config.slot_s
        done: list[QueuedTask] = []
        for i in np.flatnonzero(tasks.active):
            task = QueuedTask(
                device=int(i),
                action=int(actions[i]),
                arrival_s=start_s,
                deadline_abs_s=start_s + float(tasks.deadline_s[i]),
                size_bits=float(tasks.size_bits[i]),
                cycles=float(tasks.cycles[i]),
                output_bits=float(tasks.output_bits[i]),
                bits_left=float(tasks.size_bits[i]),
                cycles_left=float(tasks.cycles[i]),
                ready_s=start_s,
            )
            (self.local if task.action == 0 else self.uplink)[i].append(task)
        share = self._uplink_share()
        for queue in self.local:
            done += _serve_local(queue, self.config, start_s, end_s)
        uploaded: list[QueuedTask] = []
        for i, queue in enumerate(self.uplink):
            rate = float(channel.rate_up_bps[i] / share[i])
            done += _serve_uplink(queue, rate, start_s, end_s, uploaded)
        uploaded.sort(key=lambda t: (t.ready_s, t.device))
        cloud = [t for t in uploaded if t.action == self.config.cloud_action]
        for task in uploaded:
            if task.action != self.config.cloud_action:
                self.edge[task.action - 1].append(task)
        done += self._finish_cloud(cloud, share, channel)
        self.edge_busy_s = np.zeros(self.config.n_edges)
        for m, queue in enumerate(self.edge):
            done += self._serve_edge(m, queue, share, channel, start_s, end_s)
        done += self._drop_expired(end_s)
        return done

    def _uplink_share(self) -> np.ndarray:
        """k_i: devices of i's AP with a non-empty uplink queue (at least 1)."""
        busy = np.array([len(q) > 0 for q in self.uplink], dtype=float)
        per_ap = np.bincount(self.topology.ap, weights=busy, minlength=self.config.n_edges)
        return np.maximum(per_ap[self.topology.ap], 1.0)

    def _download(self, task: QueuedTask, share: np.ndarray, channel: SlotChannel, at_s: float) -> QueuedTask:
        rx = task.output_bits * share[task.device] / channel.rate_down_bps[task.device]
        return _settle(task, at_s + rx, rx)

    def _finish_cloud(self, cloud: list[QueuedTask], share: np.ndarray, channel: SlotChannel) -> list[QueuedTask]:
        cfg, n_c = self.config, len(cloud)
        out = []
        for task in cloud:
            wan = (task.size_bits + task.output_bits) * n_c / cfg.wan_rate_bps
            at = task.ready_s + wan + 2.0 * cfg.wan_delay_s + task.cycles / cfg.cloud_cpu_hz
            out.append(self._download(task, share, channel, at))
        return out

    def _serve_edge(
        self, m: int, queue: deque[QueuedTask], share: np.ndarray, channel: SlotChannel, start_s: float, end_s: float
    ) -> list[QueuedTask]:
        out, now, f_e = [], start_s, self.config.edge_cpu_hz
        while queue:
            task = queue[0]
            now = max(now, task.ready_s)
            if now >= end_s:
                break
            if now >= task.deadline_abs_s:
                out.append(_drop(queue.popleft()))
                continue
            run = min(task.cycles_left / f_e, end_s - now, task.deadline_abs_s - now)
            task.cycles_left -= run * f_e
            self.edge_busy_s[m] += run
            now += run
            if task.cycles_left <= _EPS * task.cycles:
                out.append(self._download(queue.popleft(), share, channel, now))
            elif now >= task.deadline_abs_s:
                out.append(_drop(queue.popleft()))
        return out

    def _drop_expired(self, end_s: float) -> list[QueuedTask]:
        out = []
        for queue in [*self.local, *self.uplink, *self.edge]:
            keep = [t for t in queue if t.deadline_abs_s > end_s]
            out += [_drop(t) for t in queue if t.deadline_abs_s <= end_s]
            queue.clear()
            queue.extend(keep)
        return out


def _serve_local(queue: deque[QueuedTask], cfg: OffloadConfig, start_s: float, end_s: float) -> list[QueuedTask]:
    out, now, f_l = [], start_s, cfg.local_cpu_hz
    while queue and now < end_s:
        task = queue[0]
        if now >= task.deadline_abs_s:
            out.append(_drop(queue.popleft()))
            continue
        run = min(task.cycles_left / f_l, end_s - now, task.deadline_abs_s - now)
        task.cycles_left -= run * f_l
        task.cpu_j += cfg.kappa * f_l**2 * run * f_l
        now += run
        if task.cycles_left <= _EPS * task.cycles:
            out.append(_settle(queue.popleft(), now, 0.0))
        elif now >= task.deadline_abs_s:
            out.append(_drop(queue.popleft()))
    return out


def _serve_uplink(
    queue: deque[QueuedTask], rate_bps: float, start_s: float, end_s: float, uploaded: list[QueuedTask]
) -> list[QueuedTask]:
    out, now = [], start_s
    while queue and now < end_s:
        task = queue[0]
        if now >= task.deadline_abs_s:
            out.append(_drop(queue.popleft()))
            continue
        run = min(task.bits_left / rate_bps, end_s - now, task.deadline_abs_s - now)
        task.bits_left -= run * rate_bps
        task.tx_s += run
        now += run
        if task.bits_left <= _EPS * task.size_bits:
            task.ready_s = now
            uploaded.append(queue.popleft())
        elif now >= task.deadline_abs_s:
            out.append(_drop(queue.popleft()))
    return out


def _settle(task: QueuedTask, finish_s: float, rx_s: float) -> QueuedTask:
    """Record the finish time; a result later than the deadline is a drop at the deadline."""
    if finish_s > task.deadline_abs_s + _EPS:
        return _drop(task)
    task.rx_s = rx_s
    task.finish_s = finish_s
    return task


def _drop(task: QueuedTask) -> QueuedTask:
    task.dropped = True
    task.finish_s = task.deadline_abs_s
    return task


def task_outcome(config: OffloadConfig, task: QueuedTask) -> tuple[float, float, float]:
    """Delay, device energy and cost ``Q`` of a resolved task (same formulas as slot mode)."""
    delay = task.finish_s - task.arrival_s
    if task.action == 0:
        energy = task.cpu_j
    else:
        idle = max(delay - task.tx_s - task.rx_s, 0.0)
        energy = config.tx_power_w * task.tx_s + config.rx_power_w * task.rx_s + config.idle_power_w * idle
    cost = normalised_cost(config, np.float64(delay), np.float64(energy), np.float64(task.cycles), task.dropped)
    return delay, energy, float(cost)
