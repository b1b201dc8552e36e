"""A setting whose aggregation fails in every round is *failed* (with the reason) and the CLI
exits 1; *pending* is kept for a setting whose plug-in is not registered."""

import json

import pytest

from tests.conftest import run_cli
from edgeledger.scenario.experiment_run import run_experiment
from edgeledger.scenario.experiments import find_experiment

GRID = """
[experiment]
name = "grid"
description = "krum that cannot run, fedavg that can, a rule nobody registered"
base = "base.toml"
set = ["fl.rounds=2", "fl.local_epochs=1"]

[[experiment.axes]]
name = "aggregator"
values = [
  { label = "krum f=1 of 4", set = ['fl.aggregator="krum"', "fl.aggregator_params={f=1}"] },
  { label = "fedavg", set = ['fl.aggregator="fedavg"'] },
  { label = "unregistered", set = ['fl.aggregator="no_such_rule"'] },
]
"""

BASE = """
name = "grid"
seed = 3
[topology]
edges = 4
devices_per_edge = 1
[fl]
dataset = "digits"
model = "mlp"
clients_per_round = 4
executor = "batched"
"""


@pytest.fixture()
def grid_root(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "base.toml").write_text(BASE)
    (tmp_path / "set" / "grid.toml").write_text(GRID)
    return tmp_path


def test_aggregation_failing_every_round_is_failed_with_the_reason_not_pending(grid_root, tmp_path):
    result = run_experiment(find_experiment("grid", grid_root), tmp_path / "out")
    by_label = {r.label: r for r in result.settings}
    assert {k: r.status for k, r in by_label.items()} == {
        "krum f=1 of 4": "failed", "fedavg": "done", "unregistered": "pending"}
    krum = by_label["krum f=1 of 4"]
    assert "aggregation failed in every round (2 of 2)" in krum.reason
    assert "krum needs n >= 2f + 3 updates, got n=4 with f=1" in krum.reason
    assert krum.aggregation_failures == 2 and krum.final_accuracy is None
    assert "not registered" in by_label["unregistered"].reason
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [s["status"] for s in summary["settings"]] == ["failed", "done", "pending"]
    assert "| krum f=1 of 4 | failed |" in (tmp_path / "out" / "summary.md").read_text()


def test_cli_exits_1_naming_the_failed_setting_and_0_when_only_pending_ones_are_left(grid_root, tmp_path, capsys):
    code, _, err = run_cli(capsys, "experiment", "run", "grid", "--dir", str(grid_root), "--out", str(tmp_path / "a"),
                       "--only", "krum f=1 of 4|unregistered")
    assert code == 1
    assert err.strip().splitlines() == [
        "EdgeLedgerError: 1 setting(s) failed: krum f=1 of 4: aggregation failed in every round (2 of 2): "
        "krum needs n >= 2f + 3 updates, got n=4 with f=1"]
    code, out, err = run_cli(capsys, "experiment", "run", "grid", "--dir", str(grid_root), "--out", str(tmp_path / "b"),
                         "--only", "unregistered")
    assert code == 0 and err == "" and "pending" in out
