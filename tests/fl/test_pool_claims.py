"""Proof-of-learning through an executor: pooled devices claim their validation loss as inline ones do."""

from __future__ import annotations

import tomllib
from importlib import resources

from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def _demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    base = ["fl.rounds=2", 'fl.aggregator="proof_of_learning"', "fl.aggregator_params={}", "attacks=[]"]
    return parse_scenario(apply_overrides(data, [*base, *sets]))


def test_proof_of_learning_aggregates_with_an_executor_as_inline() -> None:
    inline = run_scenario(_demo())
    pooled = run_scenario(_demo('fl.executor="sequential"'))
    for run in (inline, pooled):
        assert not [r for r in run.rejections if r[3] == "aggregation"]  # every round found a reproducing claim
        assert run.summary["final_accuracy"] > 0.5
    assert pooled.network.trainer.jobs == 2 * 12  # the devices did train through the pool
    assert pooled.summary["head_hash"] == inline.summary["head_hash"]  # same claims, same winners, same chain
