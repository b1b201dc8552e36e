from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators import (
    Aggregator,
    Bulyan,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    NormBounded,
    RandomSelect,
    build_aggregator,
)
from edgeledger.fl.attacks import SignFlip

# 1-D points 0, 1, 3, 10, -20 with f=1: each score sums the n - f - 2 = 2 nearest squared distances
#   0: 1 + 9 = 10,  1: 1 + 4 = 5,  3: 4 + 9 = 13,  10: 49 + 81 = 130,  -20: 400 + 441 = 841
POINTS = np.array([[0.0], [1.0], [3.0], [10.0], [-20.0]], np.float32)


def test_krum_returns_the_update_with_the_lowest_score() -> None:
    assert Krum(f=1).aggregate(POINTS, np.ones(5)).tolist() == [1.0]


def test_multi_krum_averages_the_m_lowest_scores() -> None:
    # m=3 -> rows 1, 0, 3 -> (1 + 0 + 3) / 3; default m = n - f = 4 adds 10
    assert np.allclose(MultiKrum(f=1, m=3).aggregate(POINTS, np.ones(5)), [4.0 / 3.0])
    assert np.allclose(MultiKrum(f=1).aggregate(POINTS, np.ones(5)), [14.0 / 4.0])


def test_bulyan_selects_by_iterated_krum_then_trims_around_the_median() -> None:
    updates = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [100.0], [-1000.0]], np.float32)
    rule = Bulyan(f=1)
    # theta = n - 2f = 5 picks: 2, then 1 (tie with 3 goes to the lower row), 3, 0, 4
    assert rule.select(updates).tolist() == [2, 1, 3, 0, 4]
    # beta = theta - 2f = 3 values closest to the median 2: {1, 2, 3} -> 2
    assert rule.aggregate(updates, np.ones(7)).tolist() == [2.0]


def test_norm_bounded_clips_updates_around_the_global_model() -> None:
    start = np.array([1.0, 0.0], np.float32)  # the round's global model
    updates = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 10.0]], np.float32)
    # updates from the global model [-1,0], [0,0], [1,0], [0,10]; the last clipped to norm 2 -> [0, 2]
    result = NormBounded(max_norm=2.0).aggregate(updates, np.array([1, 1, 1, 1]), global_params=start)
    assert np.allclose(result, [1.0, 0.5])
    # default bound: median update norm = median(1, 0, 1, 10) = 1 -> [0, 1] -> mean [0, 0.25]
    assert np.allclose(NormBounded().aggregate(updates, np.ones(4), global_params=start), [1.0, 0.25])
    # sample weights: all weight on the clipped client
    assert np.allclose(NormBounded(max_norm=2.0).aggregate(updates, np.array([0, 0, 0, 5]), global_params=start),
                       [1.0, 2.0])
    # the centre is the global model, not the clients' median: clients that all moved far are clipped
    moved = np.array([[5.0, 0.0], [5.0, 0.0], [5.0, 0.0]], np.float32)
    assert np.allclose(NormBounded(max_norm=1.0).aggregate(moved, np.ones(3), global_params=np.zeros(2)), [1.0, 0.0])
    with pytest.raises(AggregationError, match="global model"):
        NormBounded().aggregate(updates, np.ones(4))


def test_random_select_returns_a_client_model_and_replays_from_its_seed() -> None:
    updates = np.arange(20, dtype=np.float32).reshape(10, 2)
    picks = [RandomSelect(seed=3).aggregate(updates, np.ones(10)) for _ in range(2)]
    assert np.array_equal(picks[0], picks[1])
    assert any(np.array_equal(picks[0], row) for row in updates)
    rule = RandomSelect(rng=np.random.default_rng(3))
    rows = {tuple(rule.aggregate(updates, np.ones(10)).tolist()) for _ in range(30)}
    assert len(rows) > 3  # the generator advances between rounds


@pytest.mark.parametrize(
    ("rule", "n", "message"),
    [
        (Krum(f=2), 6, r"krum needs n >= 2f \+ 3 updates, got n=6 with f=2"),
        (MultiKrum(f=1, m=2), 4, r"multi_krum needs n >= 2f \+ 3 updates, got n=4 with f=1"),
        (MultiKrum(f=0, m=5), 4, r"multi_krum needs m <= n, got m=5 with n=4"),
        (Bulyan(f=1), 6, r"bulyan needs n >= 4f \+ 3 updates, got n=6 with f=1"),
        (Bulyan(f=2), 10, r"bulyan needs n >= 4f \+ 3 updates, got n=10 with f=2"),
    ],
)
def test_preconditions_state_the_formula(rule: Aggregator, n: int, message: str) -> None:
    with pytest.raises(AggregationError, match=message):
        rule.aggregate(np.zeros((n, 3), np.float32), np.ones(n))


def test_bad_parameters_are_config_errors() -> None:
    for name, params in [("krum", {"f": -1}), ("krum", {"f": "two"}), ("multi_krum", {"m": 0}), ("bulyan", {"f": 1.5}),
                         ("norm_bounded", {"max_norm": 0.0}), ("random_select", {"seed": -2})]:
        with pytest.raises(ConfigError, match=name):
            build_aggregator(name, **params)
    with pytest.raises(ConfigError, match="expected some of"):
        build_aggregator("krum", m=3)


def test_krum_family_resists_sign_flipped_outliers_while_fedavg_is_pulled_away() -> None:
    rng = np.random.default_rng(0)
    d = 300
    global_model = rng.standard_normal(d).astype(np.float32)  # (d,)
    step = rng.standard_normal(d).astype(np.float32)  # honest shared progress
    honest = global_model + step + 0.1 * rng.standard_normal((9, d)).astype(np.float32)  # (9, d)
    flip = SignFlip(scale=10.0)
    attackers = np.stack([flip.poison(honest[i], global_model, rng) for i in range(2)])  # (2, d)
    updates = np.vstack([honest, attackers])  # (11, d), f = 2: 4f + 3 = 11
    weights = np.full(11, 50)
    honest_mean = honest.mean(axis=0)
    progress = float(np.linalg.norm(step))

    def distance(rule: Aggregator) -> float:
        extra = {"global_params": global_model} if getattr(rule, "wants_global", False) else {}
        return float(np.linalg.norm(rule.aggregate(updates, weights, **extra) - honest_mean))

    assert distance(FedAvg()) > 1.5 * progress
    for rule in (Krum(f=2), MultiKrum(f=2), Bulyan(f=2), Median()):
        assert distance(rule) < 0.3 * progress, rule
    # norm bounding keeps the attackers but clips each to about one honest update's norm around the
    # global model: each of the 2 in 11 then pulls at most ~2 * progress away from the honest mean
    assert distance(NormBounded()) < 2 / 11 * 2.2 * progress < distance(FedAvg()) / 4
