"""Consensus protocols registered as plug-ins are selected by name in a scenario."""

import tomllib
from importlib import resources

import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, list(sets)))


def test_a_registered_plugin_protocol_runs_a_scenario_by_name():
    scenario = demo("fl.rounds=2", 'consensus.protocol="solo"', 'plugins=["tests.scenario.solo_consensus"]',
                    'topology.validators=["cloud"]', "consensus.params={batch_s=0.02}")
    result = run_scenario(scenario)
    assert result.summary["rounds_completed"] == 2
    cloud = result.network.nodes["cloud"]
    assert type(cloud.consensus).__name__ == "SoloSequencer" and cloud.consensus.batch_s == 0.02
    blocks = cloud.store.blocks()
    assert blocks and all(b.header.proposer == "cloud" and len(b.certificate.votes) == 1 for b in blocks)


def test_a_misspelt_protocol_is_one_line_listing_the_registered_ones():
    with pytest.raises(ConfigError) as err:
        demo('consensus.protocol="pfbt"')
    message = str(err.value)
    assert "consensus.protocol: 'pfbt' is not a registered consensus protocol" in message
    assert "expected one of: " in message and "pbft" in message and "pow" in message and "\n" not in message


def test_plugin_parameters_are_checked_against_its_constructor():
    from edgeledger.scenario.assembly import build_network

    with pytest.raises(ConfigError, match="batch_seconds"):
        build_network(demo('consensus.protocol="solo"', 'plugins=["tests.scenario.solo_consensus"]',
                           'topology.validators=["cloud"]', "consensus.params={batch_seconds=1}"))
    with pytest.raises(ConfigError, match="consensus.params"):
        demo("consensus.params={x=1}")  # pbft takes consensus.* keys, not params
