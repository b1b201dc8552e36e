"""Predictive maintenance: the federated failure predictor, its risk, and how maintenance is scored."""

import numpy as np
import pytest

from edgeledger.errors import IntegrityError
from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.twins.degradation import DegradationModel
from edgeledger.twins.evaluation import (
    MaintenanceScore,
    ScheduleReplay,
    equal_budget_schedule,
    replay_schedule,
    score_events,
)
from edgeledger.twins.machine import MachineEvent
from edgeledger.twins.maintenance import (
    HistorySpec,
    RiskScorer,
    batch_features,
    company_histories,
)
from tests.twins.plant_chain import SPEC, PlantChain, near_failure_samples


def test_batch_features_are_six_scaled_numbers():
    f = batch_features([[2000, 40000, 12000, 1200000]] * 8)
    assert f.shape == (6,) and f.dtype == np.float32
    assert f.tolist() == pytest.approx([0.4, 0.4, 0.0, 0.8, 0.8, 1.0])


def test_companies_hold_different_fleets_and_labels_mark_the_last_two_days():
    parts, validation = company_histories(HistorySpec())  # 30 machines per company
    assert len(parts) == 3 and len(validation) > 0
    assert all(0.1 < p.y.mean() < 0.5 for p in parts)  # 6 of a 20..31-batch life are within 48 h of failure
    assert len(parts[0]) < len(parts[1]) < len(parts[2])  # drifts 1/160, 1/200, 1/250 per hour: non-IID fleets


def test_the_federated_model_ranks_worn_machines_above_healthy_ones():
    c = PlantChain()
    digest = c.train()
    scorer = RiskScorer(c.blobs["o0"])
    _, validation = company_histories(SPEC)
    risks = scorer.risks_milli(digest, validation.x)
    positives, negatives = risks[validation.y == 1], risks[validation.y == 0]
    auc = (positives[:, None] > negatives[None, :]).mean() + 0.5 * (positives[:, None] == negatives[None, :]).mean()
    assert auc > 0.85
    assert scorer.risk_milli(digest, near_failure_samples()) > scorer.risk_milli(digest, [[1900, 38500, 12000, 1200000]] * 8)
    for o in ("o1", "o2"):  # every member holds the same model: they all recomputed the aggregation
        assert RiskScorer(c.blobs[o]).risk_milli(digest, near_failure_samples()) == scorer.risk_milli(
            digest, near_failure_samples())


def test_a_model_whose_bytes_do_not_match_its_digest_is_refused():
    blobs = MemoryBlobStore()
    with pytest.raises(IntegrityError):
        RiskScorer(blobs).risk_milli(b"\x03" * 32, [[0, 0, 0, 0]])
    assert RiskScorer(blobs).risk_milli(b"", [[0, 0, 0, 0]]) == -1


def test_inspections_and_failures_score_as_precision_and_recall():
    events = [MachineEvent(8, "inspection", 1), MachineEvent(16, "inspection", 0), MachineEvent(24, "failure"),
              MachineEvent(40, "inspection", 1), MachineEvent(48, "set_speed", 800)]
    score = score_events(events)
    assert score == MaintenanceScore(2, 1, 1)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 3)
    assert MaintenanceScore(0, 0, 0).precision == 0.0


def test_the_schedule_baseline_replays_deterministically_and_matches_the_budget():
    model = DegradationModel()
    fleet = [ScheduleReplay(f"m{i}", i % 3, 100 + i, 400, ((16, "set_speed", 1000),)) for i in range(4)]
    a = replay_schedule(fleet[0], 96, model)
    assert a == replay_schedule(fleet[0], 96, model)
    assert replay_schedule(fleet[0], 48, model).orders > a.orders
    tau, score = equal_budget_schedule(fleet, orders=12, model=model)
    assert tau % 8 == 0 and abs(score.orders - 12) <= 3
