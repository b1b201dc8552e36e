"""DAG jobs (DMRO-style variant of docs/offloading.md) and their exact optimum for small jobs.

A job of ``n ~ U{5..15}`` subtasks with workloads ``U[0.2, 2]`` Gcycles; each dependency
carries ``U[0.8, 1.6]`` Mbit. Subtask 0 (entry) and ``n - 1`` (exit) run on the device, as
in DAG offloading after Qu et al. (DMRO); the others go local (0), to the device's edge (1)
or to the cloud (2). The delay is the longest path of the placement-weighted DAG (node:
execution time where placed; arc: transfer time when its ends sit apart); the device's
energy is local execution ``kappa f_l^2 w`` plus ``P_tx`` while sending and ``P_rx`` while
receiving. ``Q = w_T T / T_loc + w_E E / E_loc (+ zeta 1[T > deadline])`` with all-local
normalisers, like independent tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.policies.optimum import all_joints

__all__ = [
    "DagJob",
    "DagCost",
    "DagLinks",
    "draw_dag_job",
    "dag_cost",
    "dag_all_local_delay",
    "dag_optimum",
    "LOCAL",
    "EDGE",
    "CLOUD",
]

LOCAL, EDGE, CLOUD = 0, 1, 2
MAX_DAG_JOINTS = 2_000_000


@dataclass(frozen=True)
class DagJob:
    """Subtasks in topological order: arcs only go from a lower to a higher index."""

    workload_cycles: np.ndarray  # (n,)
    data_bits: np.ndarray  # (n, n), data_bits[p, j] > 0 iff arc p -> j

    @property
    def n_subtasks(self) -> int:
        return int(self.workload_cycles.shape[0])

    def arcs(self) -> list[tuple[int, int]]:
        return [(int(p), int(j)) for p, j in zip(*np.nonzero(self.data_bits), strict=True)]


@dataclass(frozen=True)
class DagLinks:
    """The device's radio link this slot (no sharing: one job)."""

    rate_up_bps: float
    rate_down_bps: float


@dataclass(frozen=True)
class DagCost:
    """Per placement, shape (J,)."""

    delay_s: np.ndarray
    energy_j: np.ndarray
    cost: np.ndarray


def draw_dag_job(config: OffloadConfig, rng: np.random.Generator) -> DagJob:
    """Random layered DAG: each forward arc with probability ``dag_edge_prob``, then every
    node gets a predecessor and a successor so all paths run from entry to exit."""
    n = int(rng.integers(config.dag_subtasks_min, config.dag_subtasks_max + 1))
    work = rng.uniform(config.dag_workload_min_cycles, config.dag_workload_max_cycles, size=n)
    arcs = np.triu(rng.random((n, n)) < config.dag_edge_prob, k=1)
    for j in range(1, n):
        if not arcs[:j, j].any():
            arcs[int(rng.integers(0, j)), j] = True
    for p in range(n - 1):
        if not arcs[p, p + 1 :].any():
            arcs[p, int(rng.integers(p + 1, n))] = True
    data = np.where(arcs, rng.uniform(config.dag_data_min_bits, config.dag_data_max_bits, size=(n, n)), 0.0)
    return DagJob(workload_cycles=work, data_bits=data)


def _transfer_tables(config: OffloadConfig, links: DagLinks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds per bit and fixed latency between locations (3x3), and device seconds
    transmitting / receiving per bit (3x3 each, stacked)."""
    up, down, wan = 1.0 / links.rate_up_bps, 1.0 / links.rate_down_bps, 1.0 / config.wan_rate_bps
    per_bit = np.array([[0.0, up, up + wan], [down, 0.0, wan], [down + wan, wan, 0.0]])
    delta = config.wan_delay_s
    latency = np.array([[0.0, 0.0, delta], [0.0, 0.0, delta], [delta, delta, 0.0]])
    tx_rx = np.zeros((2, 3, 3))
    tx_rx[0, LOCAL, EDGE] = tx_rx[0, LOCAL, CLOUD] = up
    tx_rx[1, EDGE, LOCAL] = tx_rx[1, CLOUD, LOCAL] = down
    return per_bit, latency, tx_rx


def dag_cost(config: OffloadConfig, job: DagJob, links: DagLinks, placements: np.ndarray) -> DagCost:
    """Delay (longest path), device energy and ``Q`` for placements of shape (J, n) or (n,)."""
    place = np.atleast_2d(np.asarray(placements, dtype=np.int64))
    n = job.n_subtasks
    if place.shape[1] != n or place.min() < 0 or place.max() > CLOUD:
        raise ConfigError(f"placements: shape {place.shape}; expected (J, {n}) with values in 0..2")
    if np.any(place[:, [0, n - 1]] != LOCAL):
        raise ConfigError("placements: entry and exit subtasks must be 0 (local)")
    speed = np.array([config.local_cpu_hz, config.edge_cpu_hz, config.cloud_cpu_hz])
    execution = job.workload_cycles / speed[place]  # (J, n)
    per_bit, latency, tx_rx = _transfer_tables(config, links)
    finish = np.zeros(place.shape, dtype=float)
    tx = np.zeros(place.shape[0])
    rx = np.zeros(place.shape[0])
    preds: list[list[int]] = [[] for _ in range(n)]
    for p, j in job.arcs():
        preds[j].append(p)
    for j in range(n):
        ready = np.zeros(place.shape[0])
        for p in preds[j]:
            src, dst, bits = place[:, p], place[:, j], job.data_bits[p, j]
            ready = np.maximum(ready, finish[:, p] + bits * per_bit[src, dst] + latency[src, dst])
            tx += bits * tx_rx[0, src, dst]
            rx += bits * tx_rx[1, src, dst]
        finish[:, j] = ready + execution[:, j]
    delay = finish[:, n - 1]
    local_cycles = np.where(place == LOCAL, job.workload_cycles, 0.0).sum(axis=1)
    kf2 = config.kappa * config.local_cpu_hz**2
    energy = kf2 * local_cycles + config.tx_power_w * tx + config.rx_power_w * rx
    t_loc = float(dag_all_local_delay(config, job))
    e_loc = kf2 * float(job.workload_cycles.sum())
    cost = config.weight_delay * delay / t_loc + config.weight_energy * energy / e_loc
    if config.dag_deadline_s is not None:
        cost = cost + config.miss_penalty * (delay > config.dag_deadline_s)
    return DagCost(delay_s=delay, energy_j=energy, cost=cost)


def dag_all_local_delay(config: OffloadConfig, job: DagJob) -> float:
    """Longest path with every subtask on the device (no transfers): the delay normaliser."""
    finish = np.zeros(job.n_subtasks)
    for j in range(job.n_subtasks):
        preds = np.flatnonzero(job.data_bits[:, j])
        finish[j] = (finish[preds].max() if preds.size else 0.0) + job.workload_cycles[j] / config.local_cpu_hz
    return float(finish[-1])


def dag_optimum(
    config: OffloadConfig, job: DagJob, links: DagLinks, chunk: int = 65536
) -> tuple[np.ndarray, float]:
    """Cheapest placement by enumerating the ``3^(n-2)`` placements of the inner subtasks."""
    inner = job.n_subtasks - 2
    if 3**inner > MAX_DAG_JOINTS:
        raise ConfigError(
            f"DAG with {job.n_subtasks} subtasks: 3^{inner} placements; expected at most {MAX_DAG_JOINTS}"
        )
    joints = all_joints(inner, 3)
    best_cost, best = np.inf, np.zeros(job.n_subtasks, dtype=np.int64)
    for start in range(0, joints.shape[0], chunk):
        block = np.zeros((min(chunk, joints.shape[0] - start), job.n_subtasks), dtype=np.int64)
        block[:, 1:-1] = joints[start : start + block.shape[0]]
        costs = dag_cost(config, job, links, block).cost
        row = int(np.argmin(costs))
        if costs[row] < best_cost:
            best_cost, best = float(costs[row]), block[row].copy()
    return best, best_cost
