from __future__ import annotations

import importlib
import inspect
import itertools
import pkgutil

import numpy as np
import pytest

import edgeledger.offload.policies as policy_pkg
from edgeledger.errors import ConfigError, RegistryError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv
from edgeledger.offload.policies import OffloadPolicy, make_policy, policies
from edgeledger.offload.policies.coordinate_descent import single_changes

BASELINES = ["all_local", "all_edge", "all_cloud", "random", "greedy", "coordinate_descent"]


def _concrete_policy_classes() -> set[type]:
    found = set()
    for info in pkgutil.iter_modules(policy_pkg.__path__):
        module = importlib.import_module(f"{policy_pkg.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, OffloadPolicy) and not inspect.isabstract(obj):
                found.add(obj)
    return found


def test_every_concrete_policy_is_registered():
    registered = {policies.get(name) for name in policies}
    assert _concrete_policy_classes() <= registered
    assert set(BASELINES + ["optimum"]) <= set(policies.names())


def test_unknown_policy_names_the_choices():
    with pytest.raises(RegistryError, match="greedy"):
        make_policy("nope", OffloadConfig())


def test_optimum_is_never_worse_than_any_baseline():
    config = OffloadConfig(n_devices=6, n_edges=2)
    env = OffloadEnv(config, np.random.default_rng(21))
    chosen = {name: make_policy(name, config) for name in BASELINES + ["optimum"]}
    rng = np.random.default_rng(0)
    for _ in range(6):
        state = env.state
        costs = {name: env.evaluate(p.decide(state, rng)).total_cost for name, p in chosen.items()}
        assert all(costs["optimum"] <= c + 1e-9 for c in costs.values())
        env.step(np.zeros(config.n_devices, dtype=int))


def test_optimum_equals_brute_force_on_a_tiny_instance():
    config = OffloadConfig(n_devices=4, n_edges=2)
    env = OffloadEnv(config, np.random.default_rng(5))
    state = env.state
    brute = min(
        (env.evaluate(np.array(joint)).total_cost, joint)
        for joint in itertools.product(range(config.n_actions), repeat=config.n_devices)
    )
    found = make_policy("optimum", config).decide(state, np.random.default_rng(0))
    assert np.isclose(env.evaluate(found).total_cost, brute[0])
    assert tuple(found) == brute[1]


def test_optimum_enumerates_only_devices_with_a_task():
    config = OffloadConfig(n_devices=12, mode="queue", arrival_prob=0.4)
    env = OffloadEnv(config, np.random.default_rng(2))
    found = make_policy("optimum", config).decide(env.state, np.random.default_rng(0))
    assert np.all(found[~env.state.tasks.active] == 0)


def test_optimum_refuses_too_many_joints():
    from edgeledger.offload.policies.optimum import ExactOptimum

    config = OffloadConfig(n_devices=8)
    env = OffloadEnv(config, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="max_joints"):
        ExactOptimum(config, max_joints=100).decide(env.state, np.random.default_rng(0))


def test_greedy_decides_in_decreasing_workload_with_best_response():
    config = OffloadConfig(n_devices=5)
    env = OffloadEnv(config, np.random.default_rng(8))
    state = env.state
    actions = make_policy("greedy", config).decide(state, np.random.default_rng(0))
    replay = np.zeros(5, dtype=int)
    for i in np.argsort(-state.tasks.cycles):
        options = [env.evaluate(np.where(np.arange(5) == i, v, replay)).total_cost for v in range(3)]
        replay[i] = int(np.argmin(options))
    assert np.array_equal(actions, replay)


def test_coordinate_descent_stops_at_a_local_optimum():
    config = OffloadConfig(n_devices=7)
    env = OffloadEnv(config, np.random.default_rng(9))
    actions = make_policy("coordinate_descent", config).decide(env.state, np.random.default_rng(0))
    current = env.evaluate(actions).total_cost
    neighbours = single_changes(actions, np.arange(7), config.n_actions)
    assert neighbours.shape == (14, 7)
    assert env.state.model.total_cost(neighbours).min() >= current - 1e-12


def test_baselines_do_what_their_name_says():
    config = OffloadConfig(n_devices=6, n_edges=3, attachment="round_robin")
    env = OffloadEnv(config, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    assert make_policy("all_local", config).decide(env.state, rng).tolist() == [0] * 6
    assert make_policy("all_edge", config).decide(env.state, rng).tolist() == [1, 2, 3, 1, 2, 3]
    assert make_policy("all_cloud", config).decide(env.state, rng).tolist() == [4] * 6


def test_random_policy_depends_only_on_its_generator():
    config = OffloadConfig()
    env = OffloadEnv(config, np.random.default_rng(0))
    policy = make_policy("random", config)
    a = policy.decide(env.state, np.random.default_rng(3))
    b = policy.decide(env.state, np.random.default_rng(3))
    assert np.array_equal(a, b) and set(a.tolist()) <= {0, 1, 2}
