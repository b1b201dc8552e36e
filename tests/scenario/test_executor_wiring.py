"""fl.executor: a round's device trainings go through one executor call, results unchanged."""

import tomllib
from importlib import resources

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, ["fl.rounds=3", *sets]))


@pytest.fixture(scope="module")
def inline_run():
    return run_scenario(demo())


def test_sequential_executor_gives_the_inline_chain_bit_for_bit(inline_run):
    pooled = run_scenario(demo('fl.executor="sequential"'))
    assert pooled.summary["head_hash"] == inline_run.summary["head_hash"]
    assert pooled.metrics == inline_run.metrics
    # every device of a round went through one train_many call
    assert (pooled.network.trainer.flushes, pooled.network.trainer.jobs) == (3, 3 * 12)


def test_batched_executor_reaches_inline_accuracy_and_is_deterministic(inline_run):
    first = run_scenario(demo('fl.executor="batched"'))
    again = run_scenario(demo('fl.executor="batched"'))
    assert first.network.trainer.flushes == 3
    # float rounding of the vectorised training is the only difference (documented)
    np.testing.assert_allclose(first.summary["accuracy_per_round"], inline_run.summary["accuracy_per_round"],
                               atol=1e-3)
    assert first.summary["final_accuracy"] == pytest.approx(inline_run.summary["final_accuracy"], abs=1e-3)
    assert again.summary["head_hash"] == first.summary["head_hash"]
    assert again.metrics == first.metrics


def test_process_executor_matches_inline_and_releases_its_workers(inline_run):
    run = run_scenario(demo("fl.rounds=1", 'fl.executor="process"', "fl.executor_options={workers=2}"))
    inline_one = run_scenario(demo("fl.rounds=1"))
    assert run.summary["head_hash"] == inline_one.summary["head_hash"]
    assert run.network.trainer.executor._pool is None  # closed by the runner


def test_executor_setting_is_validated():
    with pytest.raises(ConfigError, match="fl.executor"):
        demo('fl.executor="gpu"')
    with pytest.raises(ConfigError, match="fl.executor_options.workers: executor 'sequential' takes no parameter"):
        run_scenario(demo('fl.executor="sequential"', "fl.executor_options={workers=2}"))
