from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig

# Hand computation for actions (local, edge, cloud) on the tiny slot (see conftest):
# k = 2 devices share the AP, n_m = 1, n_c = 1.
EDGE_T = 4e6 * 2 / 10e6 + 1.2e9 / 10e9 + 2e5 * 2 / 40e6  # 0.8 + 0.12 + 0.01
CLOUD_T = 6e6 * 2 / 40e6 + 6.3e6 / 50e6 + 0.2 + 2.4e9 / 40e9 + 3e5 * 2 / 100e6  # 0.3+0.126+0.2+0.06+0.006
EDGE_E = 0.1 * 0.8
CLOUD_E = 0.1 * 0.3


def test_delay_energy_cost_match_hand_computation(tiny_model):
    b = tiny_model.evaluate(np.array([0, 1, 2]))
    assert np.allclose(b.delay_s[0], [0.4, EDGE_T, CLOUD_T])
    assert np.allclose(b.energy_j[0], [0.4, EDGE_E, CLOUD_E])
    expected_q = [
        1.0,
        0.5 * EDGE_T / 1.2 + 0.5 * EDGE_E / 1.2,
        0.5 * CLOUD_T / 2.4 + 0.5 * CLOUD_E / 2.4,
    ]
    assert np.allclose(b.cost[0], expected_q)
    assert not b.miss.any()


def test_processor_sharing_and_tdma_scale_with_users(tiny_model):
    b = tiny_model.evaluate(np.array([1, 1, 1]))  # k = 3, n_m = 3 for all
    d, c, out = np.array([2e6, 4e6, 6e6]), np.array([0.4e9, 1.2e9, 2.4e9]), np.array([1e5, 2e5, 3e5])
    up, down = np.array([20e6, 10e6, 40e6]), np.array([50e6, 40e6, 100e6])
    assert np.allclose(b.delay_s[0], d * 3 / up + c * 3 / 10e9 + out * 3 / down)
    assert np.allclose(b.energy_j[0], 0.1 * d * 3 / up)


def test_wan_is_shared_by_cloud_tasks(tiny_model):
    b = tiny_model.evaluate(np.array([2, 2, 2]))
    d, c, out = np.array([2e6, 4e6, 6e6]), np.array([0.4e9, 1.2e9, 2.4e9]), np.array([1e5, 2e5, 3e5])
    up, down = np.array([20e6, 10e6, 40e6]), np.array([50e6, 40e6, 100e6])
    expected = d * 3 / up + (d + out) * 3 / 50e6 + 0.2 + c / 40e9 + out * 3 / down
    assert np.allclose(b.delay_s[0], expected)


def test_all_local_costs_weights_plus_misses_per_device(tiny_model):
    b = tiny_model.evaluate(np.zeros(3, dtype=int))
    assert b.miss[0].tolist() == [False, True, True]  # 1.2 s and 2.4 s exceed tau = 1 s
    assert b.cost[0].tolist() == [1.0, 2.0, 2.0]
    assert tiny_model.all_local_cost() == 5.0


def test_all_local_cost_is_exact_on_random_slots():
    from edgeledger.offload.env import OffloadEnv

    env = OffloadEnv(OffloadConfig(), np.random.default_rng(11))
    for _ in range(5):
        out = env.step(np.zeros(10, dtype=int))
        assert np.array_equal(out.cost, 1.0 + out.misses)  # w_T + w_E = 1 exactly


def test_batched_evaluation_equals_row_by_row(tiny_model):
    joints = np.array(list(itertools.product(range(3), repeat=3)))
    batch = tiny_model.evaluate(joints)
    for row, joint in enumerate(joints):
        single = tiny_model.evaluate(joint)
        assert np.array_equal(batch.cost[row], single.cost[0])
        assert np.array_equal(batch.delay_s[row], single.delay_s[0])
    assert np.allclose(tiny_model.total_cost(joints, chunk=5), batch.total)


def test_devices_without_task_cost_nothing_and_take_no_share(tiny_config, model_factory):
    model = model_factory(tiny_config, active=np.array([True, False, True]))
    b = model.evaluate(np.array([1, 1, 1]))
    assert b.cost[0, 1] == 0 and b.delay_s[0, 1] == 0 and b.actions[0, 1] == 0
    assert np.isclose(b.delay_s[0, 0], 2e6 * 2 / 20e6 + 0.4e9 * 2 / 10e9 + 1e5 * 2 / 50e6)  # k = n_m = 2


def test_optional_receive_and_idle_power_enter_offload_energy(model_factory):
    config = OffloadConfig(n_devices=3, rx_power_w=0.2, idle_power_w=0.01)
    b = model_factory(config).evaluate(np.array([0, 1, 2]))
    t_up, t_dl = 4e6 * 2 / 10e6, 2e5 * 2 / 40e6
    expected = 0.1 * t_up + 0.2 * t_dl + 0.01 * (EDGE_T - t_up - t_dl)
    assert np.isclose(b.energy_j[0, 1], expected)


def test_deadline_miss_adds_zeta(tiny_config, model_factory):
    model = model_factory(tiny_config, deadline_s=np.array([0.3, 1.0, 1.0]))
    b = model.evaluate(np.array([0, 1, 2]))
    assert b.miss[0].tolist() == [True, False, False]
    assert np.isclose(b.cost[0, 0], 2.0)


def test_queue_waits_add_to_delay(tiny_config, model_factory):
    model = model_factory(
        tiny_config,
        wait_local_s=np.array([0.5, 0, 0]),
        wait_uplink_s=np.array([0, 0.2, 0.1]),
        wait_edge_s=np.array([0.3]),
    )
    b = model.evaluate(np.array([0, 1, 2]))
    assert np.allclose(b.delay_s[0], [0.9, EDGE_T + 0.5, CLOUD_T + 0.1])


def test_latency_objective_ignores_energy(model_factory):
    config = OffloadConfig(n_devices=3, objective="latency")
    b = model_factory(config).evaluate(np.array([0, 1, 2]))
    assert np.allclose(b.cost[0], [1.0, EDGE_T / 1.2, CLOUD_T / 2.4])


@pytest.mark.parametrize("bad", [np.array([0, 1, 3]), np.array([-1, 0, 0]), np.zeros(4, dtype=int)])
def test_bad_actions_raise_config_error(tiny_model, bad):
    with pytest.raises(ConfigError, match="actions"):
        tiny_model.evaluate(bad)
