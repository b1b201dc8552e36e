from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.dag import DagJob, DagLinks, dag_cost, dag_optimum, draw_dag_job

LINKS = DagLinks(rate_up_bps=10e6, rate_down_bps=20e6)


def _chain() -> DagJob:
    """entry (0.5 G) -> middle (2 G) -> exit (0.5 G), 1 Mbit on each arc."""
    data = np.zeros((3, 3))
    data[0, 1] = data[1, 2] = 1e6
    return DagJob(workload_cycles=np.array([0.5e9, 2e9, 0.5e9]), data_bits=data)


def test_chain_delay_and_energy_match_hand_computation():
    config = OffloadConfig()
    edge = dag_cost(config, _chain(), LINKS, np.array([0, 1, 0]))
    assert np.isclose(edge.delay_s[0], 0.5 + 1e6 / 10e6 + 2e9 / 10e9 + 1e6 / 20e6 + 0.5)  # 1.35 s
    assert np.isclose(edge.energy_j[0], 1.0 + 0.1 * 0.1)
    cloud = dag_cost(config, _chain(), LINKS, np.array([0, 2, 0]))
    up, down = 1e6 / 10e6 + 1e6 / 50e6 + 0.1, 1e6 / 50e6 + 0.1 + 1e6 / 20e6  # device <-> AP <-> WAN <-> cloud
    assert np.isclose(cloud.delay_s[0], 0.5 + up + 2e9 / 40e9 + down + 0.5)
    expected_q = 0.5 * 1.35 / 3.0 + 0.5 * 1.01 / 3.0
    assert np.isclose(edge.cost[0], expected_q)


def test_all_local_dag_costs_the_weights():
    config = OffloadConfig()
    job = draw_dag_job(config, np.random.default_rng(0))
    local = dag_cost(config, job, LINKS, np.zeros(job.n_subtasks, dtype=int))
    assert np.isclose(local.cost[0], 1.0)


def test_dag_generation_respects_config_and_connects_entry_to_exit():
    config = OffloadConfig()
    for seed in range(20):
        job = draw_dag_job(config, np.random.default_rng(seed))
        n = job.n_subtasks
        assert 5 <= n <= 15 and np.all(np.tril(job.data_bits) == 0)
        assert np.all(job.data_bits[:, 1:].max(axis=0) > 0) and np.all(job.data_bits[:-1].max(axis=1) > 0)
        arcs = job.data_bits[job.data_bits > 0]
        assert arcs.min() >= 0.8e6 and arcs.max() <= 1.6e6
        assert job.workload_cycles.min() >= 0.2e9 and job.workload_cycles.max() <= 2e9


def test_dag_optimum_equals_brute_force():
    config = OffloadConfig(dag_subtasks_min=6, dag_subtasks_max=6)
    job = draw_dag_job(config, np.random.default_rng(4))
    placement, cost = dag_optimum(config, job, LINKS, chunk=7)
    inner = np.array(list(itertools.product(range(3), repeat=4)))
    full = np.zeros((inner.shape[0], 6), dtype=int)
    full[:, 1:-1] = inner
    brute = dag_cost(config, job, LINKS, full).cost
    assert np.isclose(cost, brute.min()) and np.isclose(dag_cost(config, job, LINKS, placement).cost[0], cost)


def test_dag_deadline_penalty_and_pinned_ends():
    config = OffloadConfig(dag_deadline_s=1.0)
    assert np.isclose(dag_cost(config, _chain(), LINKS, np.zeros(3, dtype=int)).cost[0], 2.0)
    with pytest.raises(ConfigError, match="entry and exit"):
        dag_cost(config, _chain(), LINKS, np.array([1, 0, 0]))
