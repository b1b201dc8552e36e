from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.offload.channel import SlotChannel, Topology
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.queueing import QueueNetwork, task_outcome
from edgeledger.offload.tasks import TaskBatch, TraceWorkload, read_trace


def _task(n: int, device: int, size: float, cycles: float, deadline: float = 1.0) -> TaskBatch:
    batch = TaskBatch.empty(n)
    batch.active[device] = True
    batch.size_bits[device], batch.cycles[device] = size, cycles
    batch.cycles_per_bit[device] = cycles / size
    batch.output_bits[device] = 0.05 * size
    batch.deadline_s[device] = deadline
    return batch


class ScriptedWorkload:
    """Fixed tasks per slot, for hand-checked queue runs."""

    def __init__(self, n: int, script: dict[int, TaskBatch]) -> None:
        self.n, self.script = n, script

    def tasks(self, slot: int, rng: np.random.Generator) -> TaskBatch:
        return self.script.get(slot, TaskBatch.empty(self.n))


def _run(config: OffloadConfig, seed: int, slots: int, actions: int = 0) -> list:
    env = OffloadEnv(config, np.random.default_rng(seed))
    return [env.step(np.full(config.n_devices, actions)) for _ in range(slots)]


def test_same_seed_gives_identical_slots():
    a, b = _run(OffloadConfig(), 5, 4, 1), _run(OffloadConfig(), 5, 4, 1)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.cost, y.cost) and np.array_equal(x.delay_s, y.delay_s)
    c = _run(OffloadConfig(), 6, 1, 1)[0]
    assert not np.array_equal(a[0].cost, c.cost)


def test_evaluate_is_pure_and_matches_step():
    env = OffloadEnv(OffloadConfig(), np.random.default_rng(0))
    actions = np.array([0, 1, 2] * 3 + [1])
    first, again = env.evaluate(actions), env.evaluate(actions)
    assert env.slot == 0 and np.array_equal(first.cost, again.cost)
    stepped = env.step(actions)
    assert env.slot == 1 and np.array_equal(stepped.cost, first.cost)
    assert np.isclose(stepped.utility, -stepped.cost.sum())


def test_outcome_reports_counts_and_server_energy():
    env = OffloadEnv(OffloadConfig(), np.random.default_rng(0))
    out = env.step(np.array([0, 1, 2, 1, 1, 0, 0, 2, 0, 0]))
    assert out.counts.ap_users.tolist() == [5] and out.counts.edge_tasks.tolist() == [3] and out.counts.cloud_tasks == 2
    assert env.state.last_counts is out.counts
    assert 100.0 <= out.server_energy_j[0] <= 200.0


def test_step_rejects_a_wrong_action_vector():
    env = OffloadEnv(OffloadConfig(), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="actions"):
        env.step(np.zeros(3, dtype=int))


def test_queue_mode_arrivals_follow_p_arr():
    env = OffloadEnv(OffloadConfig(mode="queue", n_devices=20), np.random.default_rng(3))
    active = [env.step(np.zeros(20, dtype=int)) and env.state.tasks.active.mean() for _ in range(200)]
    assert 0.25 < float(np.mean(active)) < 0.35


def test_queue_single_edge_task_matches_slot_formula():
    config = OffloadConfig(n_devices=1, mode="queue")
    topo = Topology(np.array([[150.0]]), np.array([0]), np.array([1e-11]))
    channel = SlotChannel(np.array([1e-11]), np.array([10e6]), np.array([50e6]))
    net = QueueNetwork(config, topo)
    done = net.advance(0.0, _task(1, 0, 2e6, 1e9), np.array([1]), channel)
    (task,) = done
    delay, energy, cost = task_outcome(config, task)
    assert np.isclose(delay, 2e6 / 10e6 + 1e9 / 10e9 + 1e5 / 50e6)  # 0.302 s, as in slot mode
    assert np.isclose(energy, 0.1 * 0.2) and not task.dropped
    assert np.isclose(cost, 0.5 * delay / 1.0 + 0.5 * energy / 1.0)


def test_queue_local_fifo_waits_and_drops_at_deadline():
    config = OffloadConfig(n_devices=1, mode="queue")
    script = {0: _task(1, 0, 5e6, 1.5e9, deadline=2.0), 1: _task(1, 0, 2e6, 0.8e9, deadline=1.0)}
    env = OffloadEnv(config, np.random.default_rng(0), workload=ScriptedWorkload(1, script))
    first = env.step(np.array([0]))
    assert first.resolved.tolist() == [0]  # 1 of 1.5 Gcycles done
    assert np.isclose(env.state.model.wait_local_s[0], 0.5)  # backlog seen by the next task
    second = env.step(np.array([0]))
    # A finishes at 1.5 s; B starts then, runs 0.5 Gcycles and is dropped at its deadline 2.0 s.
    assert second.resolved.tolist() == [2] and second.misses.tolist() == [1]
    assert np.isclose(second.delay_s[0], 1.5 + 1.0)
    assert np.isclose(second.energy_j[0], 1.5 + 0.5)  # kappa f_l^2 = 1e-9 J per cycle
    q_a = 0.5 * 1.5 / 1.5 + 0.5 * 1.5 / 1.5
    q_b = 0.5 * 1.0 / 0.8 + 0.5 * 0.5 / 0.8 + 1.0
    assert np.isclose(second.cost[0], q_a + q_b)


def test_queue_mode_shares_the_uplink_between_busy_devices():
    config = OffloadConfig(n_devices=2, mode="queue")
    topo = Topology(np.array([[150.0], [150.0]]), np.array([0, 0]), np.full(2, 1e-11))
    channel = SlotChannel(np.full(2, 1e-11), np.full(2, 10e6), np.full(2, 50e6))
    net = QueueNetwork(config, topo)
    batch = _task(2, 0, 2e6, 0.5e9)
    batch.active[1], batch.size_bits[1], batch.cycles[1], batch.output_bits[1] = True, 2e6, 0.5e9, 1e5
    done = net.advance(0.0, batch, np.array([2, 2]), channel)
    delays = sorted(task_outcome(config, t)[0] for t in done)
    expected = 2e6 * 2 / 10e6 + 2.1e6 * 2 / 50e6 + 0.2 + 0.5e9 / 40e9 + 1e5 * 2 / 50e6
    assert np.allclose(delays, [expected, expected])


def test_trace_workload_replays_rows(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("arrival_s,device,size_bits,cycles,deadline_s\n0,0,2e6,0.6e9,1.0\n1.5,2,3e6,1.2e9,1.0\n")
    config = OffloadConfig(n_devices=3, trace_path=str(path))
    env = OffloadEnv(config, np.random.default_rng(0))
    assert env.state.tasks.active.tolist() == [True, False, False]
    out = env.step(np.zeros(3, dtype=int))
    assert np.isclose(out.delay_s[0], 0.6) and out.cost[1] == 0 and out.cost[2] == 0
    assert env.state.tasks.active.tolist() == [False, False, False]
    env.step(np.zeros(3, dtype=int))
    tasks = env.state.tasks  # slot 2 starts at 2.0 s; the task arrived at 1.5 s
    assert tasks.active.tolist() == [False, False, True] and np.isclose(tasks.deadline_s[2], 0.5)
    assert np.isclose(tasks.cycles_per_bit[2], 400.0)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("0,5,2e6,1e9,1\n", "device"),
        ("0,0,abc,1e9,1\n", "size_bits"),
        ("0,0,2e6,-1,1\n", "cycles"),
        ("0.5,0,2e6,1e9,1\n0.8,0,2e6,1e9,1\n", "two tasks"),
    ],
)
def test_bad_trace_raises_config_error(tmp_path, rows, match):
    path = tmp_path / "bad.csv"
    path.write_text("arrival_s,device,size_bits,cycles,deadline_s\n" + rows)
    config = OffloadConfig(n_devices=2)
    with pytest.raises(ConfigError, match=match):
        TraceWorkload(config, read_trace(path, 2))


def test_trace_without_header_columns_is_rejected(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,device\n0,0\n")
    with pytest.raises(ConfigError, match="missing columns"):
        read_trace(path, 2)
