"""The stated degradation model: a seeded Wiener process with drift, first passage at the failure wear."""

import numpy as np
import pytest

from edgeledger.crypto.keys import derive_key
from edgeledger.errors import ConfigError
from edgeledger.twins.degradation import (
    DegradationModel,
    MachineState,
    draw_drift,
    simulate_life,
)
from edgeledger.twins.machine import MachineDevice


def test_a_seed_gives_the_same_life_and_another_seed_another():
    m = DegradationModel()
    a = simulate_life(m, 0, np.random.default_rng(3))
    b = simulate_life(m, 0, np.random.default_rng(3))
    c = simulate_life(m, 0, np.random.default_rng(4))
    assert a == b and a[1] != c[1]


def test_mean_lifetime_follows_the_first_passage_of_the_drift():
    # no unit spread: the lifetime of a Wiener process with drift mu to level D has mean D / mu
    m = DegradationModel(company_drift=(1 / 200,), unit_spread=0.0)
    rng = np.random.default_rng(11)
    lives = [simulate_life(m, 0, rng)[1] for _ in range(200)]
    assert None not in lives
    assert abs(np.mean(lives) - 200) < 15


def test_a_stopped_spindle_does_not_wear_and_a_slower_one_wears_slower():
    m = DegradationModel()
    stopped = MachineState(m, 1 / 300, np.random.default_rng(1), speed=0.0)
    stopped.run_hours(500)
    assert stopped.wear == 0.0 and not stopped.failed
    fast = simulate_life(DegradationModel(unit_spread=0.0), 0, np.random.default_rng(2), speed=1400.0)[1]
    slow = simulate_life(DegradationModel(unit_spread=0.0), 0, np.random.default_rng(2), speed=800.0)[1]
    assert slow > fast


def test_vibration_grows_with_wear():
    m = DegradationModel()
    quiet = m.samples(np.full(50, 0.05), 1200.0, True, np.zeros((50, 4)))
    worn = m.samples(np.full(50, 0.95), 1200.0, True, np.zeros((50, 4)))
    assert worn[0][0] > 3 * quiet[0][0]


def test_the_inspection_sees_the_machine_own_future():
    key = derive_key("ed25519", b"k")
    d = MachineDevice("m", key, key, "c", "r", 0, DegradationModel(), np.random.default_rng(5))
    verdicts = []
    while not d.failed:
        verdicts.append((d.total_hours, d.failure_imminent(48)))
        d.next_batch(0, sign=False)
    failed_at = d.events[-1].hour
    assert [imminent for _, imminent in verdicts] == [failed_at - hour <= 48 for hour, _ in verdicts]
    assert sum(imminent for _, imminent in verdicts) >= 5  # the last six batches before the failure


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError):
        DegradationModel(company_drift=(0.0,))
    assert draw_drift(DegradationModel(unit_spread=0.0), 4, np.random.default_rng(0)) == pytest.approx(1 / 200)
