import pytest

from edgeledger.bench import Workload, parse_bench, workloads
from edgeledger.errors import ConfigError

ROUND = {"label": "r", "workload": {"name": "kv_create"}, "tx_number": 10,
         "rate_control": {"type": "fixed-rate", "opts": {"tps": 5}}}


def bench(**over):
    data = {"name": "t", "rounds": [dict(ROUND)]}
    data.update(over)
    return data


def test_valid_file_parses_with_defaults():
    cfg = parse_bench(bench())
    assert cfg.network.kind == "local" and cfg.rounds[0].workers == 1


@pytest.mark.parametrize("data, message", [
    (bench(netwrk={}), "netwrk: unknown key"),
    (bench(rounds=[{**ROUND, "tx_duration_s": 5}]), "give exactly one of tx_number or tx_duration_s"),
    (bench(rounds=[{**ROUND, "tx_number": None}]), "give exactly one of tx_number or tx_duration_s"),
    (bench(rounds=[{**ROUND, "workload": {"name": "kv_craete"}}]), "unknown workload 'kv_craete'; expected one of"),
    (bench(rounds=[{**ROUND, "rate_control": {"type": "fixd-rate"}}]), "unknown rate controller 'fixd-rate'"),
    (bench(rounds=[{**ROUND, "rate_control": {"type": "fixed-rate", "opts": {"tps": -1}}}]), "tps: expected a number"),
    (bench(rounds=[{**ROUND, "workers": 0}]), "rounds.0.workers"),
    (bench(rounds=[ROUND, ROUND]), "round labels must be unique"),
    (bench(rounds=[]), "rounds"),
    (bench(network={"kind": "remote"}), "needs network.center"),
    (bench(network={"kind": "cloud"}), "network.kind"),
])
def test_schema_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_bench(data)


def test_every_workload_is_registered():
    assert {workloads.get(n) for n in workloads.names()} == set(Workload.__subclasses__())
    assert workloads.names() == ["edge_match", "fl_update", "kv_create", "kv_query", "transfer"]


def test_ready_made_files_are_valid():
    from pathlib import Path

    from edgeledger.bench import load_bench

    root = Path(__file__).resolve().parents[2] / "benchmarks" / "caliper"
    for name in ("quick.toml", "fabric_paper.toml"):
        assert load_bench(root / name).rounds
