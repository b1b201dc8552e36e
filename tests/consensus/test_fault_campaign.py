"""CI-sized fault campaign: random schedules and every seed that once failed (STYLE rule 12)."""

from pathlib import Path

import pytest

from tests.consensus.sim_harness import run_schedule

SEEDS_FILE = Path(__file__).with_name("fault_seeds.txt")
CI_SCHEDULES = 300


def _kept_seeds():
    lines = SEEDS_FILE.read_text().splitlines() if SEEDS_FILE.exists() else []
    out = []
    for line in lines:
        line = line.split("#", 1)[0].split()
        if line:
            out.append((int(line[0]), line[1] if len(line) > 1 else "small"))
    return out


def _check(seed, size):
    result = run_schedule(seed, size)
    assert not result.violations, f"{result.schedule.describe()}\n{result.violations}\nreplay: {result.replay_command()}"
    return result


@pytest.mark.parametrize("seed,size", _kept_seeds() or [(0, "small")])
def test_pbft_replays_every_seed_that_once_failed(seed, size):
    _check(seed, size)


def test_pbft_survives_random_fault_schedules():
    simulated = 0.0
    for seed in range(1000, 1000 + CI_SCHEDULES):
        simulated += _check(seed, "small").simulated_s
    assert simulated > CI_SCHEDULES  # the schedules did run simulated time
