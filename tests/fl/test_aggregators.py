from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import AggregationError, ConfigError, RegistryError
from edgeledger.fl.aggregators import Aggregator, FedAvg, Median, TrimmedMean, aggregators, build_aggregator
from edgeledger.fl.attacks import SignFlip


def test_fedavg_is_the_sample_weighted_mean() -> None:
    updates = np.array([[1.0, 2.0], [3.0, 6.0], [10.0, -1.0]], dtype=np.float32)  # (3, 2)
    weights = np.array([1, 3, 0])
    # (1*[1, 2] + 3*[3, 6] + 0*[10, -1]) / 4 = [10/4, 20/4]
    result = FedAvg().aggregate(updates, weights)
    assert result.dtype == np.float32 and result.shape == (2,)
    assert np.allclose(result, [2.5, 5.0])


def test_median_and_trimmed_mean_by_hand() -> None:
    updates = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]], dtype=np.float32)
    weights = np.ones(5)
    assert Median().aggregate(updates, weights).tolist() == [3.0]
    # beta=0.2, n=5: k=1 -> mean of [2, 3, 4]
    assert TrimmedMean(beta=0.2).aggregate(updates, weights).tolist() == [3.0]
    assert Median().aggregate(updates[:4], weights[:4]).tolist() == [2.5]


def test_robust_rules_resist_one_sign_flipped_client_while_fedavg_is_pulled_away() -> None:
    rng = np.random.default_rng(0)
    global_model = rng.standard_normal(500).astype(np.float32)  # (d,)
    step = rng.standard_normal(500).astype(np.float32)  # the honest clients' shared progress
    honest = global_model + step + 0.1 * rng.standard_normal((9, 500)).astype(np.float32)  # (9, d)
    attacker = SignFlip(scale=10.0).poison(honest[0], global_model, rng)  # about global - 10 * step
    updates = np.vstack([honest, attacker[None, :]])  # (10, d)
    weights = np.full(10, 50)
    honest_mean = honest.mean(axis=0)

    def distance(rule: Aggregator) -> float:
        return float(np.linalg.norm(rule.aggregate(updates, weights) - honest_mean))

    progress = float(np.linalg.norm(step))
    assert distance(FedAvg()) > 0.9 * progress  # dragged back past the old global model
    assert distance(Median()) < 0.1 * progress
    assert distance(TrimmedMean(beta=0.1)) < 0.1 * progress


def test_trimmed_mean_with_too_large_beta_states_the_formula() -> None:
    with pytest.raises(AggregationError, match=r"2 \* floor\(beta \* n\) < n, got n=4, beta=0.5"):
        TrimmedMean(beta=0.5).aggregate(np.zeros((4, 3), np.float32), np.ones(4))
    with pytest.raises(AggregationError, match="n=2"):
        TrimmedMean(beta=0.6).aggregate(np.zeros((2, 3), np.float32), np.ones(2))
    with pytest.raises(ConfigError, match="beta"):
        TrimmedMean(beta=-0.1)


@pytest.mark.parametrize(
    ("updates", "weights", "reason"),
    [
        (np.zeros((0, 3)), np.zeros(0), "n_clients >= 1"),
        (np.zeros(3), np.ones(1), "shape"),
        (np.zeros((2, 3)), np.ones(3), r"weights must have shape \(2,\)"),
        (np.zeros((2, 3)), np.array([1.0, -1.0]), ">= 0"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.ones(2), r"rows \[0\]"),
    ],
)
def test_malformed_inputs_are_aggregation_errors(
    updates: np.ndarray, weights: np.ndarray, reason: str
) -> None:
    for name in aggregators:
        with pytest.raises(AggregationError, match=reason):
            build_aggregator(name).aggregate(updates, weights)


def test_fedavg_with_zero_total_weight_is_an_aggregation_error() -> None:
    with pytest.raises(AggregationError, match="sum\\(weights\\) > 0"):
        FedAvg().aggregate(np.ones((2, 3), np.float32), np.zeros(2))


def test_build_aggregator_passes_keywords_and_rejects_unknown_ones() -> None:
    rule = build_aggregator("trimmed_mean", beta=0.3)
    assert isinstance(rule, TrimmedMean) and rule.beta == 0.3
    with pytest.raises(ConfigError, match="beta"):
        build_aggregator("fedavg", beta=0.3)
    with pytest.raises(RegistryError, match="fedavg, .*krum, median"):
        build_aggregator("krumm")


def test_aggregation_does_not_modify_its_input() -> None:
    updates = np.random.default_rng(1).standard_normal((7, 5)).astype(np.float32)  # n=7: bulyan's 4f + 3
    snapshot = updates.copy()
    injected = {"pedal": {"evaluate": lambda p: float(p.sum())}, "proof_of_learning": {"evaluate_loss": lambda p: 0.0}}
    for name in aggregators:
        rule = build_aggregator(name, **injected.get(name, {}))
        claims = {"claims": np.zeros(7)} if getattr(rule, "wants_claims", False) else {}
        if getattr(rule, "wants_global", False):  # norm_bounded clips around the round's global model
            claims["global_params"] = np.zeros(5, np.float32)
        rule.aggregate(updates, np.arange(1, 8), **claims)
    assert np.array_equal(updates, snapshot)
