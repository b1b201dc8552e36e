"""The report: ``report.json`` (machine first, then one entry per round) and a Caliper-like ``report.html``.

The HTML has Caliper's summary table (name, succ, fail, send rate, max/min/avg latency,
throughput), our extra columns (p50/p95/p99, committed throughput, read figures), one
resource table per round, and per round a latency histogram and a throughput-over-time
plot (PNG files in ``plots/``, embedded as base64 so the page stands alone).
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from edgeledger.bench.metrics import TxRecord, compute_metrics
from edgeledger.bench.schema import RoundConfig
from edgeledger.bench.workloads import Workload

__all__ = ["machine_description", "round_entry", "write_report", "SUMMARY_COLUMNS", "RESOURCE_COLUMNS"]

SUMMARY_COLUMNS = [("label", "Name"), ("succ", "Succ"), ("fail", "Fail"), ("send_rate_tps", "Send Rate (TPS)"),
                   ("latency_max_s", "Max Latency (s)"), ("latency_min_s", "Min Latency (s)"),
                   ("latency_avg_s", "Avg Latency (s)"), ("latency_p50_s", "p50 (s)"), ("latency_p95_s", "p95 (s)"),
                   ("latency_p99_s", "p99 (s)"), ("throughput_tps", "Throughput (TPS)"),
                   ("committed_throughput_tps", "Committed TPS")]
RESOURCE_COLUMNS = [("cpu_max_pct", "CPU% (max)"), ("cpu_avg_pct", "CPU% (avg)"), ("rss_max_mb", "Memory (max) MB"),
                    ("rss_avg_mb", "Memory (avg) MB"), ("net_in_bytes", "Traffic In (B)"),
                    ("net_out_bytes", "Traffic Out (B)"), ("disk_write_bytes", "Disc Write (B)")]


def round_entry(rc: RoundConfig, workload: Workload, trace: list[TxRecord], resources: dict[str, Any]) -> dict[str, Any]:
    """One round of report.json: Caliper's figures (write or read) and the resources per node."""
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
    entry["resources"] = resources
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


def _plots(rnd: dict[str, Any], latencies: list[float], series: list[tuple[float, int, int]], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(latencies or [0.0], bins=30, color="#3b7dd8")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("transactions")
    ax.set_title(f"{rnd['label']}: latency of successful transactions", fontsize=9)
    fig.tight_layout()
    paths.append(folder / f"{rnd['label']}-latency.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([s[0] for s in series], [s[1] for s in series], label="submitted/s")
    ax.plot([s[0] for s in series], [s[2] for s in series], label="succeeded/s")
    ax.set_xlabel("time since first submit (s)")
    ax.set_ylabel("tx/s")
    ax.legend(fontsize=8)
    ax.set_title(f"{rnd['label']}: throughput over time", fontsize=9)
    fig.tight_layout()
    paths.append(folder / f"{rnd['label']}-throughput.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], first: tuple[str, str] | None = None) -> str:
    cols = ([first] if first else []) + columns
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(out: Path, report: dict[str, Any], traces: dict[str, tuple[list[float], list[tuple[float, int, int]]]]) -> None:
    """Write ``out/report.json``, ``out/report.html`` and ``out/plots/*.png``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    m = report["machine"]
    parts = [f"<h1>edgeledger bench: {html.escape(report['benchmark'])}</h1>",
             "<h2>Machine</h2>" + _table([m], [(k, k) for k in m]),
             "<h2>Network</h2>" + _table([report["network"]], [(k, k) for k in report["network"]]),
             "<h2>Summary of performance metrics</h2>" + _table(report["rounds"], SUMMARY_COLUMNS)]
    reads = [r for r in report["rounds"] if r.get("read_latency_avg_s") is not None]
    if reads:
        parts.append("<h2>Query rounds</h2>" + _table(reads, [("label", "Name"), ("read_throughput_tps", "Read TPS"),
                                                            ("read_latency_avg_s", "Avg read latency (s)"),
                                                            ("read_latency_p99_s", "p99 read latency (s)")]))
    for rnd in report["rounds"]:
        parts.append(f"<h2>Round {html.escape(rnd['label'])}</h2><p>execution model: "
                     f"<b>{html.escape(str(rnd.get('execution_model', 'order-execute')))}</b></p>"
                     f"<p>workload <code>{html.escape(rnd['workload'])}</code>, "
                     f"rate control <code>{html.escape(json.dumps(rnd['rate_control']))}</code>, "
                     f"{rnd['workers']} workers; failures: {html.escape(json.dumps(rnd.get('fail_reasons', {})))}</p>")
        rows = [{"node": n, **v} for n, v in rnd["resources"].items()]
        parts.append("<h3>Resource utilization</h3>" + _table(rows, RESOURCE_COLUMNS, ("node", "Name")))
        lat, series = traces.get(rnd["label"], ([], []))
        for path in _plots(rnd, lat, series, out / "plots"):
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:sans-serif;margin:24px}table{border-collapse:collapse;margin:8px 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:right}"
             "th{background:#f0f0f0}img{margin:4px}")
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset=utf-8><title>edgeledger bench "
                                     f"{html.escape(report['benchmark'])}</title><style>{style}</style></head><body>"
                                     + "\n".join(parts) + "</body></html>\n")
