"""report.html reads as a document: styled, charts per round from the trace (whole seconds only),
failures grouped by cause with the expected MVCC conflicts labelled, one number format, and
``edgeledger bench --compare A B`` puts two reports side by side."""

import json

import pytest

from edgeledger.bench.metrics import TxRecord
from edgeledger.bench.report import failure_cause, round_entry
from edgeledger.bench.report_html import fmt_bytes, fmt_ms, render_comparison, render_report
from edgeledger.bench.schema import parse_bench
from edgeledger.bench.workloads import WorkloadContext, workloads
from edgeledger.cli import main

CONFLICTS = [
    "MVCC_READ_CONFLICT: MVCC read conflict on key 'acc/a0' of contract 'bench-simple': read at version "
    "(122, 36dcafd98f207457), current (125, a32a3390868ab271)",
    "MVCC_READ_CONFLICT: MVCC read conflict on key 'acc/a7' of contract 'bench-simple': read at version "
    "(9, 0011aabbccddeeff), current (11, ffeeddccbbaa0011)",
]


def test_mvcc_conflicts_on_different_keys_and_versions_are_one_expected_cause():
    causes = {failure_cause(r) for r in CONFLICTS}
    assert len(causes) == 1 and next(iter(causes))[:2] == ("MVCC read conflict", True)
    assert failure_cause("not committed within timeout_s=30")[:2] == ("not committed before the round's timeout", False)
    assert failure_cause("HTTP 409: nonce 12 already used by 'device-1'")[0] == "refused at submission (409)"
    assert failure_cause("ENDORSEMENT_POLICY_FAILURE: 1 of 2 endorsements")[0] == "invalid: ENDORSEMENT_POLICY_FAILURE"


def _round(trace, resources=None, timeline=None):
    cfg = parse_bench({"name": "t", "network": {"kind": "sim"}, "rounds": [
        {"label": "transfer-100tps", "workload": {"name": "transfer"}, "tx_number": 10, "workers": 2,
         "rate_control": {"type": "fixed-rate", "opts": {"tps": 100}}}]})
    rc = cfg.rounds[0]
    wl = workloads.get(rc.workload.name)(rc.workload.params, WorkloadContext(rc.label, __import__("random").Random(1), {}, None))
    return round_entry(rc, wl, trace, resources or {}, timeline)


def trace():
    ok = [TxRecord(submit=i * 0.1, finish=i * 0.1 + 0.05 + 0.01 * (i % 3), ok=True, committed=True) for i in range(25)]
    bad = [TxRecord(submit=0.3 + i * 0.1, finish=0.5 + i * 0.1, reason=CONFLICTS[i % 2], committed=True) for i in range(6)]
    return ok + bad + [TxRecord(submit=2.0, finish=2.9, reason="not committed within timeout_s=30")]


def test_a_round_has_a_timeline_of_whole_seconds_and_grouped_failures():
    entry = _round(trace())
    assert [p["t"] for p in entry["timeline"]] == [0.0, 1.0]  # the trace ends at 2.9: [2, 3) is partial, left out
    assert entry["timeline"][0]["submitted"] == 16 and entry["timeline"][0]["p99"] == pytest.approx(0.07)
    assert [(f["cause"], f["count"], f["expected"]) for f in entry["failures"]] == [
        ("MVCC read conflict", 6, True), ("not committed before the round's timeout", 1, False)]


def test_the_document_is_styled_has_charts_and_no_raw_python_values():
    resources = {"edge-0": {"cpu_max_pct": 50.0, "cpu_avg_pct": 20.0, "rss_max_mb": 80.0, "rss_avg_mb": 70.0,
                            "net_in_bytes": 123456, "net_out_bytes": 654321, "disk_write_bytes": 0},
                 "device-0": {"cpu_max_pct": None, "cpu_avg_pct": None, "rss_max_mb": None, "rss_avg_mb": None,
                              "net_in_bytes": 0, "net_out_bytes": 0, "disk_write_bytes": None}}
    timeline = {"edge-0": [[0.5, 40.0, 80.0], [1.5, 50.0, 79.0]]}
    report = {"machine": {"cpu_model": "x", "logical_cores": 2}, "benchmark": "t", "description": "a test",
              "network": {"kind": "local", "validators": 4}, "wall_s": 3.2,
              "rounds": [_round(trace(), resources, timeline)]}
    page = render_report(report)
    assert "<style>" in page and page.count("<svg") == 4  # throughput, latency, CPU, memory
    assert "{'" not in page and "MVCC read conflict <span class='tag expected'>expected</span>" in page
    assert "6 of them expected (86%)" in page
    assert "123.5 kB" in page and "Nothing measured for device-0" in page  # the all-empty row is left out
    assert "<td>device-0</td>" not in page
    assert (fmt_ms(0.0361), fmt_ms(1.234), fmt_bytes(2_500_000)) == ("36.1", "1,234", "2.5 MB")


def test_compare_puts_two_reports_side_by_side(tmp_path, capsys):
    rounds_a = [_round(trace())]
    faster = [TxRecord(r.submit, r.finish - 0.02 if r.ok else r.finish, r.ok, r.committed, r.reason) for r in trace()]
    rounds_b = [_round(faster)]
    for name, rounds in (("before", rounds_a), ("after", rounds_b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(
            {"machine": {"cpu_model": "x"}, "benchmark": name, "network": {"kind": "local"}, "rounds": rounds}))
    main(["bench", "--compare", str(tmp_path / "before"), str(tmp_path / "after"), "--out", str(tmp_path / "cmp")])
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "before against after" in page and "transfer-100tps" in page and page.count("<svg") == 2
    assert "class=better>-" in page  # lower latency in B is marked better
    assert render_comparison(json.loads((tmp_path / "before" / "report.json").read_text()),
                             {"machine": {}, "benchmark": "x", "network": {}, "rounds": []}).count("share no round") == 1
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--compare", str(tmp_path / "before"), str(tmp_path / "nowhere")])
    assert exc.value.code == 2 and "no report.json there" in capsys.readouterr().err
