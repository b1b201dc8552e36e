from __future__ import annotations

import pytest

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig


def test_defaults_are_offloading_md_values():
    c = OffloadConfig()
    assert (c.n_devices, c.n_edges, c.slot_s, c.mode, c.arrival_prob) == (10, 1, 1.0, "slot", 0.3)
    assert (c.antenna_gain, c.carrier_hz, c.path_loss_exponent, c.light_speed_m_s) == (3.0, 915e6, 3.0, 3e8)
    assert (c.distance_min_m, c.distance_max_m, c.rician_k, c.noise_dbm_per_hz) == (120.0, 255.0, 0.3, -174.0)
    assert (c.bandwidth_hz, c.rate_overhead, c.tx_power_w, c.ap_power_w) == (10e6, 1.1, 0.1, 1.0)
    assert (c.wan_rate_bps, c.wan_delay_s) == (50e6, 0.1)
    assert (c.task_size_min_bits, c.task_size_max_bits, c.cycles_per_bit) == (1e6, 7e6, (197, 297, 397))
    assert (c.output_ratio, c.deadline_s) == (0.05, 1.0)
    assert (c.local_cpu_hz, c.edge_cpu_hz, c.cloud_cpu_hz, c.kappa) == (1e9, 10e9, 40e9, 1e-27)
    assert (c.weight_delay, c.weight_energy, c.miss_penalty) == (0.5, 0.5, 1.0)
    assert (c.dag_subtasks_min, c.dag_subtasks_max) == (5, 15)
    assert (c.dag_workload_min_cycles, c.dag_workload_max_cycles) == (0.2e9, 2e9)
    assert (c.dag_data_min_bits, c.dag_data_max_bits) == (0.8e6, 1.6e6)
    d = c.dqn
    assert (d.hidden_layers, d.learning_rate, d.gamma, d.replay_size, d.batch_size) == ((120, 80), 1e-3, 0.9, 1024, 128)
    assert (d.train_every_steps, d.target_sync_steps, d.epsilon_start, d.epsilon_end, d.epsilon_decay_steps) == (
        10,
        200,
        1.0,
        0.01,
        4000,
    )
    assert c.n_actions == 3 and c.cloud_action == 2


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"n_devices": 0}, "n_devices"),
        ({"mode": "batch"}, "mode"),
        ({"rician_k": 1.5}, "rician_k"),
        ({"bandwidth_hz": -1}, "bandwidth_hz"),
        ({"distance_min_m": 300.0}, "distance_min_m"),
        ({"task_size_min_bits": 8e6}, "task_size_min_bits"),
        ({"cycles_per_bit": ()}, "cycles_per_bit"),
        ({"unknown_knob": 1}, "unknown_knob"),
        ({"dqn": {"gamma": 2}}, "dqn.gamma"),
        ({"objective": "energy", "weight_delay": 0.3}, "weight_delay"),
        ({"kappa": 0.0}, "kappa"),
    ],
)
def test_bad_config_raises_config_error_naming_the_field(values, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        OffloadConfig(**values)


def test_bad_value_message_shows_the_value_given():
    with pytest.raises(ConfigError, match="got -5"):
        OffloadConfig(n_edges=-5)


@pytest.mark.parametrize(
    ("objective", "weights"), [("latency", (1.0, 0.0)), ("energy", (0.0, 1.0)), ("balanced", (0.5, 0.5))]
)
def test_objective_mode_sets_the_weights(objective, weights):
    c = OffloadConfig(objective=objective)
    assert (c.weight_delay, c.weight_energy) == weights


def test_from_mapping_applies_overrides():
    c = OffloadConfig.from_mapping({"n_devices": 4}, n_edges=2)
    assert (c.n_devices, c.n_edges, c.n_actions) == (4, 2, 4)
