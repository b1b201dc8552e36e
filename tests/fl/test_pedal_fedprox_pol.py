from __future__ import annotations

import numpy as np
import pytest

from edgeledger.errors import AggregationError, ConfigError
from edgeledger.fl.aggregators import FedAvg, FedProx, Pedal, ProofOfLearning, build_aggregator
from edgeledger.fl.aggregators.pedal import holdout_split
from edgeledger.fl.aggregators.proof_of_learning import LOSS_FIXED_POINT
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.learner import SupervisedLearner, TrainingSettings

# --- FedProx ------------------------------------------------------------------------------


def test_fedprox_server_rule_is_fedavg_and_carries_mu() -> None:
    rng = np.random.default_rng(0)
    updates, weights = rng.normal(size=(5, 7)).astype(np.float32), np.array([1.0, 2, 3, 4, 5])
    agg = build_aggregator("fedprox", mu=0.1)
    assert isinstance(agg, FedProx) and agg.proximal_mu == 0.1
    assert np.array_equal(agg.aggregate(updates, weights), FedAvg().aggregate(updates, weights))
    assert FedProx().proximal_mu == 0.01


@pytest.mark.parametrize("mu", [-0.1, float("nan"), "0.1", True])
def test_fedprox_rejects_bad_mu(mu: object) -> None:
    with pytest.raises(ConfigError, match="fedprox mu"):
        FedProx(mu=mu)  # type: ignore[arg-type]


def test_fedprox_mu_reaches_local_training_and_pulls_towards_global(digits: tuple[Dataset, Dataset]) -> None:
    train, _ = digits
    part = train.subset(np.flatnonzero(train.y < 3))  # a skewed client drifts far from w_global
    drift = {}
    for mu in (0.0, FedProx(mu=1.0).proximal_mu):
        learner = SupervisedLearner(TrainingSettings(model="mlp", epochs=3, lr=0.1, proximal_mu=mu),
                                    train.input_shape, 10, part, None, model_seed=0)
        start = learner.initial_params()
        drift[mu] = float(np.linalg.norm(learner.train(start, 1, seed=0).params - start))
    assert drift[1.0] < 0.8 * drift[0.0]


# --- Pedal --------------------------------------------------------------------------------


def test_pedal_averages_the_best_third_weighted_by_data_size() -> None:
    updates = np.arange(6, dtype=np.float32)[:, None] * np.ones((6, 3), np.float32)  # row i == i
    accuracy = {0.0: 0.1, 1.0: 0.9, 2.0: 0.5, 3.0: 0.8, 4.0: 0.2, 5.0: 0.3}
    agg = Pedal(evaluate=lambda p: accuracy[float(p[0])])
    out = agg.aggregate(updates, np.array([10.0, 1, 10, 3, 10, 10]))
    assert agg.last_selected == [1, 3]  # floor(6 / 3) = 2 best: rows 1 (0.9) and 3 (0.8)
    assert np.allclose(out, (1 * 1 + 3 * 3) / 4)  # eq. 13: n_k / n_S weights


def test_pedal_ties_go_to_lower_rows_and_small_rounds_keep_one() -> None:
    agg = Pedal(evaluate=lambda p: 0.5)
    out = agg.aggregate(np.array([[7.0], [8.0]], np.float32), np.array([1.0, 1.0]))
    assert agg.last_selected == [0] and out.tolist() == [7.0]
    assert [Pedal().n_selected(n) for n in (1, 3, 10, 30)] == [1, 1, 3, 10]


def test_pedal_needs_its_injected_evaluator_and_valid_fraction() -> None:
    with pytest.raises(AggregationError, match="evaluate"):
        Pedal().aggregate(np.zeros((3, 2), np.float32), np.ones(3))
    with pytest.raises(ConfigError, match="fraction"):
        Pedal(fraction=0)
    with pytest.raises(ConfigError, match="expected some of"):
        build_aggregator("pedal", beta=0.3)


def test_holdout_split_is_a_seeded_disjoint_third() -> None:
    val, rest = holdout_split(300, np.random.default_rng(1))
    again, _ = holdout_split(300, np.random.default_rng(1))
    assert len(val) == 100 and len(rest) == 200 and np.array_equal(val, again)
    assert sorted(np.concatenate([val, rest]).tolist()) == list(range(300))


def test_pedal_drops_random_free_riders_that_sink_fedavg(digits: tuple[Dataset, Dataset]) -> None:
    train, test = digits
    val_idx, report_idx = holdout_split(len(test), np.random.default_rng(0))
    settings = TrainingSettings(model="mlp", epochs=10, lr=0.1)
    judge = SupervisedLearner(settings, train.input_shape, 10, None, test.subset(val_idx), model_seed=0)
    report = SupervisedLearner(settings, train.input_shape, 10, None, test.subset(report_idx), model_seed=0)
    start = judge.initial_params()
    parts = np.array_split(np.random.default_rng(0).permutation(len(train)), 6)
    rows, weights = [], []
    for k, idx in enumerate(parts[:3]):  # three honest clients
        learner = SupervisedLearner(settings, train.input_shape, 10, train.subset(idx), None, model_seed=0)
        result = learner.train(start, 1, seed=k)
        rows.append(result.params)
        weights.append(result.weight)
    rng = np.random.default_rng(5)
    for _ in range(6):  # six free riders upload random parameters and claim a big data set
        rows.append(rng.normal(0, 1, start.shape).astype(np.float32))
        weights.append(1000)
    updates, w = np.stack(rows), np.array(weights, dtype=np.float64)
    pedal = build_aggregator("pedal", evaluate=lambda p: judge.evaluate(p)["accuracy"])
    global_params = pedal.aggregate(updates, w)
    pedal_acc = report.evaluate(global_params)["accuracy"]
    fedavg_acc = report.evaluate(FedAvg().aggregate(updates, w))["accuracy"]
    assert pedal.last_selected == [0, 1, 2]
    assert np.array_equal(global_params, FedAvg().aggregate(updates[:3], w[:3]))
    assert pedal_acc > 0.7 and fedavg_acc < 0.3


# --- Proof of learning --------------------------------------------------------------------


def _losses(table: dict[float, float]):  # noqa: ANN202
    return lambda p: table[float(p[0])]


def test_pol_lowest_claim_that_reproduces_wins() -> None:
    updates = np.array([[0.0], [1.0], [2.0]], np.float32)
    agg = ProofOfLearning(evaluate_loss=_losses({0.0: 0.5, 1.0: 0.4, 2.0: 0.3}))
    out = agg.aggregate(updates, np.ones(3), claims=np.array([0.5, 0.4, 0.3]))
    assert out.tolist() == [2.0] and agg.last_winner == 2 and agg.last_rejected == []


def test_pol_rejects_a_false_claim_and_falls_back_to_the_next() -> None:
    updates = np.array([[0.0], [1.0], [2.0]], np.float32)
    agg = ProofOfLearning(tolerance=1e-3, evaluate_loss=_losses({0.0: 0.5, 1.0: 0.4, 2.0: 2.3}))
    out = agg.aggregate(updates, np.ones(3), claims=np.array([0.5, 0.4, 0.01]))  # row 2 lies
    assert out.tolist() == [1.0]
    assert agg.last_rejected == [(2, 0.01, 2.3)]


def test_pol_tolerance_absorbs_fixed_point_rounding_and_float_noise() -> None:
    claimed = round(0.123456789 * LOSS_FIXED_POINT) / LOSS_FIXED_POINT
    agg = ProofOfLearning(evaluate_loss=lambda p: 0.123456789 + 1e-7)
    assert agg.aggregate(np.zeros((1, 2), np.float32), np.ones(1), claims=np.array([claimed])).shape == (2,)
    assert not ProofOfLearning(tolerance=0.0).reproduces(0.1, 0.1 + 1e-6)


def test_pol_preconditions_name_what_is_missing() -> None:
    agg = ProofOfLearning(evaluate_loss=lambda p: 0.0)
    with pytest.raises(AggregationError, match="claimed loss per update"):
        agg.aggregate(np.zeros((2, 2), np.float32), np.ones(2))
    with pytest.raises(AggregationError, match=r"shape \(2,\)"):
        agg.aggregate(np.zeros((2, 2), np.float32), np.ones(2), claims=np.zeros(3))
    with pytest.raises(AggregationError, match="evaluate_loss"):
        ProofOfLearning().aggregate(np.zeros((2, 2), np.float32), np.ones(2), claims=np.zeros(2))
    with pytest.raises(AggregationError, match="none of 2 updates"):
        agg.aggregate(np.zeros((2, 2), np.float32), np.ones(2), claims=np.array([np.nan, 5.0]))
    assert ProofOfLearning.wants_claims and not getattr(FedAvg(), "wants_claims", False)


def test_pol_honest_claims_reproduce_exactly_with_the_real_evaluator(digits: tuple[Dataset, Dataset]) -> None:
    train, test = digits
    settings = TrainingSettings(model="mlp", epochs=1, lr=0.1)
    public = SupervisedLearner(settings, train.input_shape, 10, None, test, model_seed=0)
    honest = [public.initial_params()]
    device = SupervisedLearner(settings, train.input_shape, 10, train.subset(np.arange(600)), None, model_seed=0)
    honest.append(device.train(honest[0], 1, seed=0).params)
    claims = [round(public.evaluate(p)["loss"] * LOSS_FIXED_POINT) / LOSS_FIXED_POINT for p in honest]
    liar = np.random.default_rng(0).normal(0, 1, honest[0].shape).astype(np.float32)
    agg = build_aggregator("proof_of_learning", evaluate_loss=lambda p: public.evaluate(p)["loss"])
    out = agg.aggregate(np.stack([*honest, liar]), np.ones(3), claims=np.array([*claims, 0.0]))
    assert np.array_equal(out, honest[1]) and [r[0] for r in agg.last_rejected] == [2]


# --- builder injections -------------------------------------------------------------------


def test_server_eval_injects_the_hooks_each_aggregator_takes(digits: tuple[Dataset, Dataset]) -> None:
    from edgeledger.fl.server_eval import aggregator_injections, needs_validation

    train, test = digits
    judge = SupervisedLearner(TrainingSettings(model="mlp"), train.input_shape, 10, None, test, model_seed=0)
    params = judge.initial_params()
    pedal_kw = aggregator_injections("pedal", judge)
    pol_kw = aggregator_injections("proof_of_learning", judge)
    assert set(pedal_kw) == {"evaluate"} and set(pol_kw) == {"evaluate_loss"}
    assert aggregator_injections("fedavg", judge) == {} and not needs_validation("krum")
    assert pedal_kw["evaluate"](params) == judge.evaluate(params)["accuracy"]
    assert pol_kw["evaluate_loss"](params) == judge.evaluate(params)["loss"]
    assert isinstance(build_aggregator("pedal", **pedal_kw), Pedal)
