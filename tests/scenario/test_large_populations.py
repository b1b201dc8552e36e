"""Populations larger than the data set and than a device-per-node design allows (issue 17).

CI size: 10,000 devices for one round; the benchmark (benchmarks/scale.py) goes to 1,000,000.
"""

import tomllib
from importlib import resources

import pytest

from edgeledger.errors import ConfigError
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def scenario(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, ["fl.rounds=1", "fl.local_epochs=1", "output.plots=false", *sets]))


def test_ten_thousand_devices_run_a_round_with_nodes_for_the_participants_only():
    run = run_scenario(scenario(
        "topology.edges=4", "topology.devices_per_edge=2500", 'topology.validators=["edge"]',
        'fl.dataset="synthetic"', "fl.samples_per_device=30", "fl.clients_per_round=100",
        'attacks=[{kind="sign_flip", fraction=0.05, params={scale=4.0}}]'))
    s, net, sim = run.summary, run.network, run.sim
    pop = net.population
    assert s["rounds_completed"] == 1 and s["updates_rejected"] == 0 and s["final_accuracy"] > 0.5
    updates = [m.value for m in run.metrics if m.metric == "fl.updates_accepted"]
    assert updates == [100.0]
    assert pop.awake == 0 and 100 <= pop.wakes <= 200  # a node per participant (twice at most), none left
    assert len(net.infrastructure["center"].address_book.peers) == 10_005  # every device registered ...
    assert sim.traffic["center"].bytes_sent < 10_005 * 1_500  # ... and heard the infrastructure, not everyone
    announced = sum(sim.traffic[e].bytes_by_type["fl.announce"] for e in ("edge-0", "edge-1", "edge-2", "edge-3"))
    from_cloud = sim.traffic["cloud"].bytes_by_type["fl.announce"] / 4  # one copy to each edge
    assert announced == 100 * from_cloud  # the edges sent the model to the 100 participants only
    assert s["malicious_by_kind"] == {"sign_flip": 500} and "malicious" not in s  # counts, not 500 rows
    assert len(run.metrics) < 1_000  # rows for the round's work, not for the population


def test_more_devices_than_samples_train_on_samples_drawn_with_replacement():
    run = run_scenario(scenario("topology.devices_per_edge=1000", "fl.samples_per_device=20",
                                'fl.partition="dirichlet"', "fl.clients_per_round=30", "attacks=[]"))
    assert run.summary["rounds_completed"] == 1  # 3,000 devices x 20 samples from the 1,437 digits
    learner = run.network.learners["device-2999"]
    assert len(learner.train_data) == 20


@pytest.mark.parametrize(("sets", "needle"), [
    (("topology.devices_per_edge=1000",), "3000 devices need at least one sample each, i.e. 3000 samples, but "
                                          "data set 'digits' has 1437; set fl.samples_per_device"),
    (("topology.devices_per_edge=300", 'fl.partition="shards"'), "900 devices need 2 shards"),
    (("fl.samples_per_device=1", 'fl.partition="shards"'), "2 shards per device need at least 2 samples per device"),
])
def test_a_scenario_that_cannot_be_satisfied_fails_before_the_run_with_the_numbers(sets, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        run_scenario(scenario(*sets))


def test_the_cli_says_so_in_one_line(capsys):
    from edgeledger.cli import main

    with pytest.raises(SystemExit) as info:
        main(["demo", "--set", "topology.devices_per_edge=1000", "--set", "fl.rounds=1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ConfigError: fl.partition='iid': 3000 devices need")
