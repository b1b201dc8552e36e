from __future__ import annotations

import math

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.evaluate import evaluate_policies, evaluate_policy
from edgeledger.offload.policies import make_policy

SMALL = OffloadConfig(n_devices=5)


def test_reports_every_figure_per_slot():
    reports = evaluate_policies(["greedy", "all_local", "optimum"], SMALL, n_slots=4, seed=0)
    slot = reports["greedy"].slots[0]
    assert len(reports["greedy"].slots) == 4
    assert math.isclose(slot.share_local + slot.share_edge + slot.share_cloud, 1.0)
    assert 0 <= slot.miss_ratio <= 1 and slot.decision_s >= 0 and slot.mean_delay_s > 0
    assert 0 < slot.gain_ratio <= 1 + 1e-12
    assert math.isclose(reports["optimum"].gain_ratio, 1.0)
    summary = reports["all_local"].summary()
    assert summary["share_local"] == 1.0 and summary["utility"] == -summary["mean_slot_cost"]


def test_policies_see_the_same_slots_and_gain_ratios_are_at_most_one():
    reports = evaluate_policies(["all_local", "all_edge", "random", "coordinate_descent"], SMALL, 5, seed=3)
    opt = [s.optimum_cost for s in reports["all_local"].slots]
    for report in reports.values():
        assert [s.optimum_cost for s in report.slots] == opt
        assert all(s.total_cost >= s.optimum_cost - 1e-9 for s in report.slots)
        assert report.gain_ratio <= 1.0


def test_evaluation_is_deterministic_from_the_seed():
    a = evaluate_policy("random", SMALL, 5, seed=9)
    b = evaluate_policy("random", SMALL, 5, seed=9)
    c = evaluate_policy("random", SMALL, 5, seed=10)
    assert [s.total_cost for s in a.slots] == [s.total_cost for s in b.slots]
    assert [s.total_cost for s in a.slots] != [s.total_cost for s in c.slots]


def test_policy_instance_and_queue_mode_without_optimum():
    config = OffloadConfig(n_devices=4, mode="queue", arrival_prob=0.5)
    report = evaluate_policy(make_policy("greedy", config), config, 20, seed=1)
    assert math.isnan(report.gain_ratio) and report.total_cost > 0
    assert np.isfinite(report.summary()["mean_delay_s"])
