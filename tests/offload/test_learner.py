"""The offloading DQN behind the FL learner interface (ChainFL's federated DQN)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeledger.fl.aggregators import build_aggregator
from edgeledger.fl.params import get_flat_params
from edgeledger.offload.config import DqnConfig, OffloadConfig
from edgeledger.offload.learner import DqnLearner, reference_costs


@pytest.fixture
def small() -> OffloadConfig:
    return OffloadConfig(n_devices=3, dqn=DqnConfig(batch_size=8, train_every_steps=2, target_sync_steps=20))


def test_dqn_learner_round_trips_weights(small: OffloadConfig):
    learner = DqnLearner(small, seed=1, model_seed=7, local_slots=6, eval_slots=3)
    start = learner.initial_params()
    assert np.array_equal(start, DqnLearner(small, seed=2, model_seed=7).initial_params())  # one global init
    result = learner.train(start, round_=1, seed=11)
    assert result.params.dtype == np.float32 and result.params.shape == start.shape
    assert np.array_equal(result.params, get_flat_params(learner.policy.agent.online))
    assert not np.array_equal(result.params, start)  # it trained
    assert np.isfinite(result.loss)
    other = DqnLearner(small, seed=5, model_seed=7, eval_slots=3)
    assert other.evaluate(result.params) == learner.evaluate(result.params)  # weights alone decide play


def test_dqn_learner_weight_is_its_transitions_and_replays_from_its_seed(small: OffloadConfig):
    a = DqnLearner(small, seed=1, local_slots=4)
    b = DqnLearner(small, seed=1, local_slots=4)
    params = a.initial_params()
    ra, rb = a.train(params, 1, 3), b.train(params, 1, 3)
    assert ra.weight == 4 * small.n_devices  # slot mode: every device has a task each slot
    assert np.array_equal(ra.params, rb.params)


def test_dqn_learner_evaluate_reports_utility_and_gain_ratio(small: OffloadConfig):
    learner = DqnLearner(small, seed=0, eval_slots=4)
    scores = learner.evaluate(learner.initial_params())
    assert set(scores) == {"utility", "gain_ratio", "loss", "miss_ratio"}
    optimum = sum(reference_costs(small, "optimum", 4, learner.eval_seed))
    assert 0 < scores["gain_ratio"] <= 1 + 1e-9
    assert scores["utility"] == pytest.approx(-optimum / scores["gain_ratio"] / 4)


def test_fedavg_of_q_networks_weights_by_transitions(small: OffloadConfig):
    learners = [DqnLearner(small, seed=s, local_slots=n) for s, n in ((1, 3), (2, 9))]
    start = learners[0].initial_params()
    results = [lrn.train(start, 1, 5) for lrn in learners]
    updates = np.stack([r.params for r in results])  # (n_clients, n_params)
    weights = np.array([r.weight for r in results], dtype=np.float64)
    assert weights.tolist() == [9.0, 27.0]
    merged = build_aggregator("fedavg").aggregate(updates, weights)
    np.testing.assert_allclose(merged, 0.25 * updates[0] + 0.75 * updates[1], rtol=1e-5, atol=1e-7)
    scores = learners[0].evaluate(merged.astype(np.float32))  # a device can load the global Q-network
    assert np.isfinite(scores["utility"])
