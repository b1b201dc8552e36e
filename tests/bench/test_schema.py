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
    for name in ("quick.toml", "fabric_paper.toml", "market.toml"):
        assert load_bench(root / name).rounds


def test_default_bench_network_has_a_consortium_owning_every_edge(tmp_path):
    import tomllib

    from edgeledger.bench.system_under_test import write_scenario
    from edgeledger.bench.schema import NetworkConfig
    from edgeledger.scenario.schema import parse_scenario
    from edgeledger.scenario.topology import edge_node_owners

    scenario = parse_scenario(tomllib.loads(write_scenario(NetworkConfig(), tmp_path).read_text()))
    assert scenario.consortium.accounts == {"proxy": "proxy", "company-0": "company", "company-1": "company"}
    assert edge_node_owners(scenario) == {"edge-0": "company-0", "edge-1": "company-1", "edge-2": "company-0",
                                          "edge-3": "company-1"}


def test_edge_match_setup_registers_each_en_by_its_company():
    import random

    from edgeledger.bench.workloads import Consortium, WorkloadContext

    con = Consortium({"proxy": "proxy", "c-a": "company", "c-b": "company"}, {"edge-0": "c-b", "edge-1": "c-a"})
    shared: dict = {}
    wl = workloads.get("edge_match")({}, WorkloadContext("r", random.Random(1), shared, con))
    ops = wl.prepare(["device-0"])
    assert [(s, op.kind, getattr(op.payload, "method", None)) for s, op in ops] == [
        ("proxy", "contract.deploy", None), ("c-b", "contract.call", "add_node"), ("c-a", "contract.call", "add_node")]
    assert [op.payload.args[:2] for _, op in ops[1:]] == [["edge-0", "c-b"], ["edge-1", "c-a"]]
    assert wl.op(0, "device-3").payload.args[0] == "device-3"  # a device asks for itself
    again = workloads.get("edge_match")({}, WorkloadContext("r2", random.Random(2), shared, con))
    assert again.prepare(["device-0"]) == []  # the instance is set up once per bench


def test_edge_match_without_a_consortium_says_how_to_add_one():
    import random

    from edgeledger.bench.workloads import WorkloadContext

    wl = workloads.get("edge_match")({}, WorkloadContext("r", random.Random(1)))
    with pytest.raises(ConfigError, match=r"no consortium company .* add e.g. \[consortium\] accounts"):
        wl.prepare(["device-0"])


def test_network_senders_include_accounts_only_by_role():
    from edgeledger.bench.system_under_test import Network, NodeInfo
    from edgeledger.bench.workloads import Consortium
    from edgeledger.crypto.keys import derive_key

    nodes = {"edge-0": NodeInfo("edge-0", "u", "edge"), "device-0": NodeInfo("device-0", "u", "device")}
    keys = {n: derive_key("ed25519", n.encode()) for n in ("edge-0", "device-0", "proxy", "meter")}
    net = Network(nodes, ["edge-0"], keys, consortium=Consortium({"proxy": "proxy", "meter": "device"}))
    assert net.senders(("device",)) == ["device-0", "meter"]
    assert net.senders(("proxy",)) == ["proxy"]
    assert net.senders(()) == ["device-0", "edge-0"]


def test_account_keys_come_from_keys_dir_seeds_before_test_keys(tmp_path):
    from edgeledger.bench.system_under_test import consortium_of
    from edgeledger.crypto.keys import derive_key
    from edgeledger.scenario.schema import parse_scenario
    from edgeledger.scenario.topology import consortium_keys

    scenario = parse_scenario({"topology": {"edges": 4, "devices_per_edge": 1, "validators": ["edge"]},
                               "fl": {"clients_per_round": 4},
                               "consortium": {"accounts": {"proxy": "proxy", "company-0": "company"}}})
    (tmp_path / "proxy").mkdir()
    (tmp_path / "proxy" / "identity.seed").write_bytes(b"s" * 32)
    consortium, keys = consortium_of(scenario, tmp_path)
    assert consortium.accounts == {"company-0": "company", "proxy": "proxy"}
    assert consortium.edge_nodes == {f"edge-{k}": "company-0" for k in range(4)}
    assert keys["proxy"].public_key == derive_key("ed25519", b"s" * 32).public_key
    assert keys["company-0"].public_key == consortium_keys(scenario)["company-0"].public_key
