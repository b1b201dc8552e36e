"""One short real benchmark against a 4-validator local network (processes on 127.0.0.1)."""

import contextlib
import io
import json

import pytest

from edgeledger.cli import main

BENCH = """
name = "ci"
[[rounds]]
label = "create"
workload = { name = "kv_create" }
tx_number = 200
workers = 4
rate_control = { type = "fixed-rate", opts = { tps = 50 } }
[[rounds]]
label = "query"
workload = { name = "kv_query" }
tx_number = 60
workers = 2
rate_control = { type = "fixed-rate", opts = { tps = 60 } }
[[rounds]]
label = "match"
workload = { name = "edge_match" }
tx_number = 60
workers = 4
rate_control = { type = "fixed-rate", opts = { tps = 30 } }
[[rounds]]
label = "transfer"
workload = { name = "transfer", params = { accounts = 20, initial_balance = 1000 } }
tx_number = 40
workers = 2
rate_control = { type = "fixed-rate", opts = { tps = 10 } }
"""


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """Run BENCH once through the CLI against a local 4-validator network; (out folder, printed text)."""
    tmp = tmp_path_factory.mktemp("bench")
    path = tmp / "ci.toml"
    path.write_text(BENCH)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["bench", str(path), "--out", str(tmp / "out")])  # returns normally: exit code 0
    return tmp / "out", printed.getvalue()


def test_short_real_round_writes_caliper_report(local_run):
    out, printed = local_run
    report = json.loads((out / "report.json").read_text())
    assert report["machine"]["logical_cores"] >= 1 and report["machine"]["python"]
    create, query, match, transfer = report["rounds"]
    assert create["succ"] == 200 and create["fail"] == 0
    assert create["send_rate_tps"] == pytest.approx(50, rel=0.3)
    assert 0 < create["latency_min_s"] <= create["latency_avg_s"] <= create["latency_p99_s"] <= create["latency_max_s"]
    assert set(create["resources"]) >= {"edge-0", "edge-1", "edge-2", "edge-3"}
    edge = create["resources"]["edge-0"]
    assert edge["rss_max_mb"] > 10 and edge["net_in_bytes"] > 0 and edge["cpu_max_pct"] is not None
    assert query["succ"] == 60 and query["read_latency_avg_s"] > 0
    assert (match["succ"], match["fail"], match["committed"]) == (60, 0, 60), match["fail_reasons"]
    html = (out / "report.html").read_text()
    assert "Summary of performance metrics" in html and html.count("<svg") >= 8 and "<style>" in html
    assert "create" in printed
    # every round names its execution model; transfers are endorsed by two edge servers over HTTP
    assert create["execution_model"].startswith("order-execute") and "order-execute" in html
    assert transfer["execution_model"].startswith("execute-order-validate") and "execution model: execute-order" in printed
    assert transfer["succ"] > 0 and transfer["succ"] + transfer["fail"] == 40
    assert all(r.startswith("MVCC_READ_CONFLICT") or "has N, needs N" in r for r in transfer["fail_reasons"]), \
        transfer["fail_reasons"]


def _replayed_chain(node_dir):
    """The node's committed chain, replayed from its SQLite store against its stored genesis."""
    import edgeledger.market  # noqa: F401 - registers the matching contract
    from edgeledger.codec import decode
    from edgeledger.ledger.identity import Genesis, Membership
    from edgeledger.ledger.state import LedgerState
    from edgeledger.ledger.store import ChainStore

    state = LedgerState(Membership(decode((node_dir / "genesis.bin").read_bytes(), Genesis)))
    store = ChainStore(node_dir / "chain.sqlite")
    for block in store.blocks():
        state.apply_block(block)
    return state


def test_edge_match_round_records_every_match_on_chain(local_run):
    from edgeledger.ledger.contracts import contract_state
    from edgeledger.market import audit_matches

    out, _ = local_run
    cluster = out / "network" / "cluster"
    # every process derived the same genesis, holding the consortium accounts with their roles
    genesis = {p.parent.name: p.read_bytes() for p in cluster.glob("*/genesis.bin")}
    assert len(genesis) == 9 and len(set(genesis.values())) == 1
    state = _replayed_chain(cluster / "edge-0")
    roles = {n: i.role for n, i in state.membership.identities.items()}
    assert {n: roles[n] for n in ("proxy", "company-0", "company-1")} == {
        "proxy": "proxy", "company-0": "company", "company-1": "company"}
    assert state.membership.validators == ["edge-0", "edge-1", "edge-2", "edge-3"]
    # the companies registered their edge servers as ENs; 60 matches are recorded, all by the nearest rule
    owners = {f"edge-{k}": contract_state(state.kv, "bench-matching", f"node/edge-{k}")["company"] for k in range(4)}
    assert owners == {"edge-0": "company-0", "edge-1": "company-1", "edge-2": "company-0", "edge-3": "company-1"}
    assert contract_state(state.kv, "bench-matching", "match_count") == 60
    matches = [contract_state(state.kv, "bench-matching", f"match/{i}") for i in range(60)]
    assert {m["device"] for m in matches} == {f"device-{k}" for k in range(4)}
    used = sum(1_000_000 - contract_state(state.kv, "bench-matching", f"node/edge-{k}")["free"] for k in range(4))
    assert used == 60
    assert audit_matches(state, "bench-matching") == []


def test_bad_bench_file_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[rounds]]\nlabel = "x"\nworkload = { name = "nope" }\ntx_number = 5\n')
    with pytest.raises(SystemExit) as exc:
        main(["bench", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ConfigError: rounds.0.workload.name: unknown workload 'nope'") and "\n" not in err


SIM = """
name = "sim"
[network]
kind = "sim"
[[rounds]]
label = "create"
workload = { name = "kv_create" }
tx_number = 100
workers = 4
rate_control = { type = "fixed-rate", opts = { tps = 100 } }
[[rounds]]
label = "transfer"
workload = { name = "transfer", params = { accounts = 3, initial_balance = 50, max_amount = 40 } }
tx_number = 60
workers = 4
rate_control = { type = "fixed-load", opts = { transactionLoad = 5 } }
[[rounds]]
label = "match"
workload = { name = "edge_match" }
tx_number = 40
workers = 4
rate_control = { type = "fixed-rate", opts = { tps = 20 } }
"""


def test_sim_network_runs_rounds_in_simulated_time(tmp_path):
    from edgeledger.bench import load_bench, run_bench

    path = tmp_path / "sim.toml"
    path.write_text(SIM)
    report = run_bench(load_bench(path), tmp_path / "out", log=lambda s: None)
    create, transfer, match = report["rounds"]
    assert (create["succ"], create["fail"]) == (100, 0)
    assert create["send_rate_tps"] == pytest.approx(100 * 100 / 99)  # 100 tx over 0.99 simulated s
    assert transfer["tx"] == 60 and transfer["succ"] + transfer["fail"] == 60
    assert transfer["fail"] > 0 and "has N, needs N" in "".join(transfer["fail_reasons"])  # overdrawn accounts
    # execute-order-validate on 3 accounts: transfers endorsed on one snapshot meet MVCC conflicts
    assert transfer["execution_model"].startswith("execute-order-validate")
    assert any(r.startswith("MVCC_READ_CONFLICT") for r in transfer["fail_reasons"])
    assert create["execution_model"].startswith("order-execute")
    assert (match["succ"], match["fail"]) == (40, 0), match["fail_reasons"]  # the default consortium's ENs
    assert (tmp_path / "out" / "report.html").exists()
