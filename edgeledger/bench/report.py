"""The report: ``report.json`` (machine first, then one entry per round) and ``report.html``.

Each round carries Caliper's summary figures (name, succ, fail, send rate, max/min/avg
latency, throughput) and ours (p50/p95/p99, committed throughput, read figures), the resources
per node, a per-second timeline drawn from the trace (submitted and succeeded transactions,
latency percentiles; whole seconds only) and the failures grouped by cause, expected ones
(MVCC read conflicts of concurrent transfers) labelled so. :mod:`edgeledger.bench.report_html`
renders the document and the side-by-side comparison of two reports.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from edgeledger.bench.metrics import TxRecord, compute_metrics, latency_series, throughput_series
from edgeledger.bench.schema import RoundConfig
from edgeledger.bench.workloads import Workload

__all__ = ["machine_description", "round_entry", "write_report", "failure_cause", "SUMMARY_COLUMNS",
           "RESOURCE_COLUMNS"]

SUMMARY_COLUMNS = [("label", "Name"), ("succ", "Succ"), ("fail", "Fail"), ("send_rate_tps", "Send Rate (TPS)"),
                   ("latency_max_s", "Max Latency (s)"), ("latency_min_s", "Min Latency (s)"),
                   ("latency_avg_s", "Avg Latency (s)"), ("latency_p50_s", "p50 (s)"), ("latency_p95_s", "p95 (s)"),
                   ("latency_p99_s", "p99 (s)"), ("throughput_tps", "Throughput (TPS)"),
                   ("committed_throughput_tps", "Committed TPS")]
RESOURCE_COLUMNS = [("cpu_max_pct", "CPU% (max)"), ("cpu_avg_pct", "CPU% (avg)"), ("rss_max_mb", "Memory (max) MB"),
                    ("rss_avg_mb", "Memory (avg) MB"), ("net_in_bytes", "Traffic In (B)"),
                    ("net_out_bytes", "Traffic Out (B)"), ("disk_write_bytes", "Disc Write (B)")]


#: (pattern, cause, expected?, why): the first pattern that matches a failure reason names its cause
CAUSES: list[tuple[str, str, bool, str]] = [
    (r"MVCC_READ_CONFLICT|MVCC read conflict", "MVCC read conflict", True,
     "expected under execute-order-validate: transfers endorsed on the same snapshot of an account; the later one "
     "fails validation, as in Fabric"),
    (r"has \d+, needs \d+|insufficient|overdraw", "insufficient balance", True,
     "expected: the workload draws random amounts from few accounts"),
    (r"not committed within timeout", "not committed before the round's timeout", False,
     "the network did not commit it in time (overload or a lost transaction)"),
    (r"^HTTP 409", "refused at submission (409)", False, "the node's admission check refused it"),
    (r"^HTTP 429", "rate-limited (429)", False, "the node's per-peer rate limit"),
    (r"^(blob upload )?HTTP [45]\d\d", "HTTP error", False, "the node answered with an error status"),
    (r"^(ClientConnector|ServerDisconnected|ClientOS|Timeout)\w*Error", "connection error", False,
     "the client could not reach the node"),
]


def failure_cause(reason: str) -> tuple[str, bool, str]:
    """``(cause, expected, explanation)`` of one failure reason (ids, hashes and numbers do not split causes)."""
    for pattern, cause, expected, why in CAUSES:
        if re.search(pattern, reason or ""):
            return cause, expected, why
    code = re.match(r"^([A-Z][A-Z_]{3,}):", reason or "")
    if code:  # a receipt's validation code
        return f"invalid: {code.group(1)}", False, "the transaction was committed with this validation code"
    generic = re.sub(r"\d+", "N", re.sub(r"\b[0-9a-f]{6,}\b", "H", re.sub(r"'[^']*'", "'…'", reason or "unknown")))
    return generic[:80], False, ""


def _failures(trace: list[TxRecord]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in trace:
        if r.ok:
            continue
        cause, expected, why = failure_cause(r.reason)
        g = groups.setdefault(cause, {"cause": cause, "count": 0, "expected": expected, "why": why,
                                      "example": (r.reason or "unknown")[:200]})
        g["count"] += 1
    return sorted(groups.values(), key=lambda g: -g["count"])


def round_entry(rc: RoundConfig, workload: Workload, trace: list[TxRecord], resources: dict[str, Any],
                resource_timeline: dict[str, list[list[float]]] | None = None) -> dict[str, Any]:
    """One round of report.json: Caliper's figures (write or read), the resources per node, the
    per-second timeline and the failures grouped by cause."""
    m = compute_metrics(trace)
    entry: dict[str, Any] = {"label": rc.label, "workload": rc.workload.name,
                             "execution_model": workload.execution_model(), "workers": rc.workers,
                             "rate_control": {"type": rc.rate_control.type, "opts": rc.rate_control.opts},
                             "tx": len(trace), **{k: getattr(m, k) for k in m.__dataclass_fields__}}
    if workload.kind == "read":
        entry.update({"read_throughput_tps": m.throughput_tps, "read_latency_avg_s": m.latency_avg_s,
                      "read_latency_p99_s": m.latency_p99_s, "committed": None, "committed_throughput_tps": None})
    reasons = Counter(re.sub(r"\d+", "N", re.sub(r"\b[0-9a-f]{6,}\b", "H", r.reason or "unknown"))[:120]
                      for r in trace if not r.ok)
    entry["fail_reasons"] = dict(reasons.most_common(5))
    entry["failures"] = _failures(trace)
    entry["resources"] = resources
    latency = {t: (p50, p95, p99) for t, p50, p95, p99, _ in latency_series(trace)}
    timeline = []
    for t, sent, done in throughput_series(trace):
        p50, p95, p99 = latency.get(t, (None, None, None))
        timeline.append({"t": t, "submitted": sent, "succeeded": done, "p50": p50, "p95": p95, "p99": p99})
    entry["timeline"] = timeline
    entry["resource_timeline"] = resource_timeline or {}
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in entry.items()}


def machine_description() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and Python: what a reader needs to compare numbers."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False), "usable_cores": len(os.sched_getaffinity(0)),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform(),
            "python": sys.version.split()[0], "load_avg_1m": round(os.getloadavg()[0], 2)}


def write_report(out: Path, report: dict[str, Any], traces: Any = None) -> None:
    """Write ``out/report.json`` and ``out/report.html`` (a self-contained document: styles and SVG charts
    inline). ``traces`` is accepted for older callers; the charts come from each round's timeline."""
    from edgeledger.bench.report_html import render_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.html").write_text(render_report(report))
