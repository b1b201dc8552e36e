"""``report.html``: a benchmark report to hand to a colleague, and two reports side by side.

One self-contained page (styles and SVG charts inline, nothing fetched): what ran on what
machine, Caliper's summary table with consistent number formats (counts with thousands
separators, rates in tx/s with one decimal, latencies in milliseconds, bytes in kB/MB/GB),
then per round its charts drawn from the trace (throughput, latency percentiles, CPU and
memory per node; whole seconds only), the failures grouped by cause with the expected ones
(MVCC read conflicts) labelled, and the resource table without empty rows.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_report", "render_comparison", "svg_chart", "fmt_count", "fmt_tps", "fmt_ms", "fmt_bytes"]

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:0 auto;padding:24px 28px 60px;
color:#1d2330;line-height:1.45}h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;
border-bottom:2px solid #e4e7ec;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}.lead{color:#555;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px;width:100%}th,td{padding:5px 9px;border-bottom:1px solid
#e4e7ec;text-align:right;white-space:nowrap}th{background:#f5f6f8;font-weight:600}td:first-child,th:first-child{
text-align:left}table.cmp td:nth-child(2),table.cmp th:nth-child(2){text-align:left}.scroll{overflow-x:auto}dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;font-size:13px;
margin:6px 0}dt{color:#555}dd{margin:0}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:14px}
figure{margin:0;border:1px solid #e4e7ec;border-radius:6px;padding:8px}figcaption{font-size:12px;color:#555;margin-top:2px}
svg{width:100%;height:auto}svg text{font-family:inherit}.tag{display:inline-block;padding:1px 7px;border-radius:9px;
font-size:11px;font-weight:600}.expected{background:#e7f4ea;color:#1e7a3c}.unexpected{background:#fde8e8;color:#b42318}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;font-size:13px;color:#555}.better{color:#1e7a3c}.worse{color:#b42318}
.note{font-size:12px;color:#666}@media print{h2{break-after:avoid}figure,table{break-inside:avoid}}
"""
e = html.escape


def fmt_count(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def fmt_tps(v: Any) -> str:
    return "-" if v is None else f"{v:,.1f}"


def fmt_ms(seconds: Any) -> str:
    """A latency in milliseconds (one rule for the whole report)."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def fmt_bytes(v: Any) -> str:
    if v is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.1f} {unit}"
    return f"{v:,.0f} B"


def fmt_pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    import math

    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [round(first + i * step, 10) for i in range(math.ceil((hi - first) / step - 1e-9) + 1)]


def svg_chart(series: list[tuple[str, list[tuple[float, float]]]], xlabel: str, ylabel: str,
              yfmt: Any = None, dashed: set[str] | None = None, width: int = 520, height: int = 230) -> str:
    """A line chart as inline SVG: axes with ticks, axis labels, legend, a <title> tooltip per point."""
    yfmt = yfmt or (lambda v: f"{v:,.4g}")
    drawn = [(name, pts) for name, pts in series if pts]
    if not drawn:
        return f"<p class=note>no complete second of data to draw ({e(ylabel)})</p>"
    m = {"l": 58, "r": 12, "t": 26, "b": 38}
    xs = [x for _, pts in drawn for x, _ in pts]
    ys = [y for _, pts in drawn for _, y in pts]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    yt = _ticks(min(0.0, min(ys)), max(ys) if max(ys) > 0 else 1.0)
    y0, y1 = yt[0], max(yt[-1], max(ys))

    def X(v: float) -> float:
        return m["l"] + (width - m["l"] - m["r"]) * (v - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return height - m["b"] - (height - m["t"] - m["b"]) * (v - y0) / ((y1 - y0) or 1)

    out = [f'<svg viewBox="0 0 {width} {height}" role=img aria-label="{e(ylabel)} against {e(xlabel)}">']
    for t in yt:
        out.append(f'<line x1="{m["l"]}" x2="{width - m["r"]}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#eee"/>'
                   f'<text x="{m["l"] - 6}" y="{Y(t) + 4:.1f}" font-size="10" text-anchor="end" fill="#555">{e(yfmt(t))}</text>')
    for t in _ticks(x0, x1, 5):
        if x0 <= t <= x1 + 1e-9:
            out.append(f'<text x="{X(t):.1f}" y="{height - m["b"] + 15}" font-size="10" text-anchor="middle" '
                       f'fill="#555">{t:g}</text>')
    out.append(f'<line x1="{m["l"]}" x2="{width - m["r"]}" y1="{height - m["b"]}" y2="{height - m["b"]}" stroke="#888"/>'
               f'<line x1="{m["l"]}" x2="{m["l"]}" y1="{m["t"]}" y2="{height - m["b"]}" stroke="#888"/>'
               f'<text x="{(m["l"] + width) / 2:.0f}" y="{height - 6}" font-size="11" text-anchor="middle">{e(xlabel)}</text>'
               f'<text transform="translate(14 {(m["t"] + height - m["b"]) / 2:.0f}) rotate(-90)" font-size="11" '
               f'text-anchor="middle">{e(ylabel)}</text>')
    lx = m["l"]
    for i, (name, pts) in enumerate(drawn):
        colour = COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="5 3"' if dashed and name in dashed else ""
        d = " ".join(f"{'M' if j == 0 else 'L'}{X(x):.1f},{Y(y):.1f}" for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        if len(pts) <= 120:
            out.extend(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="2.2" fill="{colour}"><title>{e(name)}: '
                       f'{e(yfmt(y))} at {x:g} s</title></circle>' for x, y in pts)
        out.append(f'<rect x="{lx}" y="8" width="12" height="3" fill="{colour}"/><text x="{lx + 15}" y="13" '
                   f'font-size="10">{e(name)}</text>')
        lx += 26 + 6 * len(name)
    return "".join(out) + "</svg>"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class=scroll><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>"


SUMMARY_HEAD = ["Round", "Succ", "Fail", "Send rate (tx/s)", "Throughput (tx/s)", "Committed (tx/s)",
                "Latency min / avg / max (ms)", "p50 / p95 / p99 (ms)"]


def _summary_row(r: dict[str, Any]) -> list[str]:
    return [e(r["label"]), fmt_count(r["succ"]), fmt_count(r["fail"]), fmt_tps(r["send_rate_tps"]),
            fmt_tps(r["throughput_tps"]), fmt_tps(r.get("committed_throughput_tps")),
            " / ".join(fmt_ms(r.get(k)) for k in ("latency_min_s", "latency_avg_s", "latency_max_s")),
            " / ".join(fmt_ms(r.get(k)) for k in ("latency_p50_s", "latency_p95_s", "latency_p99_s"))]


def _round_charts(rnd: dict[str, Any], unit: str, tag: str = "") -> list[str]:
    tl = rnd.get("timeline", [])
    figures = [("Throughput per second", svg_chart(
        [(f"submitted{tag}", [(p["t"], p["submitted"]) for p in tl]),
         (f"succeeded{tag}", [(p["t"], p["succeeded"]) for p in tl])], f"{unit} since the first submit", "tx/s")),
               ("Latency percentiles of the transactions that finished in each second", svg_chart(
                   [(f"{k}{tag}", [(p["t"], p[k] * 1000) for p in tl if p.get(k) is not None]) for k in ("p50", "p95", "p99")],
                   f"{unit} since the first submit", "latency (ms)", lambda v: f"{v:,.0f}" if v >= 10 else f"{v:.1f}"))]
    res = rnd.get("resource_timeline") or {}
    if res:
        figures.append(("CPU per node process", svg_chart([(n, [(t, c) for t, c, _ in pts]) for n, pts in sorted(res.items())],
                                                       "seconds since the round started", "CPU %")))
        figures.append(("Memory per node process", svg_chart([(n, [(t, r) for t, _, r in pts]) for n, pts in sorted(res.items())],
                                                          "seconds since the round started", "RSS (MB)")))
    return [f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>" for caption, svg in figures]


def _failures(rnd: dict[str, Any]) -> str:
    failures = rnd.get("failures")
    if failures is None:  # an older report: the normalised reasons only
        failures = [{"cause": k, "count": v, "expected": None, "why": "", "example": k}
                    for k, v in (rnd.get("fail_reasons") or {}).items()]
    if not failures:
        return "<p>No transaction failed.</p>"
    total = sum(f["count"] for f in failures)
    rows = []
    for f in failures:
        tag = ("<span class='tag expected'>expected</span>" if f["expected"] else
               "<span class='tag unexpected'>unexpected</span>" if f["expected"] is False else "")
        rows.append([f"{e(f['cause'])} {tag}", fmt_count(f["count"]), f"{100 * f['count'] / total:.1f}%",
                     f"<span class=note>{e(f['why'])}</span><br><code>{e(f['example'])}</code>"])
    expected = sum(f["count"] for f in failures if f["expected"])
    lead = (f"<p>{fmt_count(total)} failures; {fmt_count(expected)} of them expected "
            f"({100 * expected / total:.0f}%).</p>" if expected else f"<p>{fmt_count(total)} failures.</p>")
    return lead + _table(["Cause", "Count", "Share", "Why, and one example"], rows).replace(
        "<td><span class=note>", "<td style='text-align:left;white-space:normal'><span class=note>")


RESOURCE_HEAD = ["Node", "CPU max (%)", "CPU avg (%)", "Memory max", "Memory avg", "Traffic in", "Traffic out",
                 "Disk write"]


def _resources(rnd: dict[str, Any]) -> str:
    rows, empty = [], []
    keys = ("cpu_max_pct", "cpu_avg_pct", "rss_max_mb", "rss_avg_mb", "net_in_bytes", "net_out_bytes", "disk_write_bytes")
    measured = [any(v.get(k) is not None for v in rnd.get("resources", {}).values()) for k in keys]
    for node, v in sorted(rnd.get("resources", {}).items()):
        values = [v.get(k) for k in ("cpu_max_pct", "cpu_avg_pct", "rss_max_mb", "rss_avg_mb", "net_in_bytes",
                                     "net_out_bytes", "disk_write_bytes")]
        if all(x in (None, 0, 0.0) for x in values):
            empty.append(node)
            continue
        rows.append([e(node), fmt_pct(values[0]), fmt_pct(values[1]),
                     fmt_bytes(values[2] * 1e6 if values[2] is not None else None),
                     fmt_bytes(values[3] * 1e6 if values[3] is not None else None),
                     fmt_bytes(values[4]), fmt_bytes(values[5]), fmt_bytes(values[6])])
    note = (f"<p class=note>Nothing measured for {', '.join(e(n) for n in empty)} (no process of ours to sample, or "
            "no traffic in this round).</p>") if empty else ""
    head = [h for h, keep in zip(RESOURCE_HEAD, [True, *measured]) if keep]  # columns nobody measured go
    rows = [[c for c, keep in zip(row, [True, *measured]) if keep] for row in rows]
    return (_table(head, rows) if rows else "<p>No resources were measured in this round.</p>") + note


def _facts(d: dict[str, Any]) -> str:
    return "<dl>" + "".join(f"<dt>{e(str(k).replace('_', ' '))}</dt><dd>{e(str(v))}</dd>" for k, v in d.items()) + "</dl>"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def render_report(report: dict[str, Any]) -> str:
    """The whole report document for one ``report.json``."""
    unit = "simulated seconds" if report["network"].get("kind") == "sim" else "seconds"
    rounds = report["rounds"]
    parts = [f"<h1>edgeledger bench: {e(report['benchmark'])}</h1>",
             f"<p class=lead>{e(report.get('description') or '')}</p>",
             f"<div class=meta><span>{len(rounds)} rounds</span><span>{fmt_count(sum(r['tx'] for r in rounds))} "
             f"transactions</span><span>wall time {report.get('wall_s', 0):,.1f} s</span>"
             f"<span>network: {e(str(report['network'].get('kind')))}, {report['network'].get('validators')} "
             f"validators</span></div>",
             "<h2>Summary of performance metrics</h2>",
             _table(SUMMARY_HEAD, [_summary_row(r) for r in rounds]),
             "<p class=note>Caliper's definitions: send rate = transactions / (last submit - first submit); throughput "
             "= transactions / (last finish - first submit); latency of successful transactions, nearest-rank "
             f"percentiles. Times are {unit}.</p>"]
    reads = [r for r in rounds if r.get("read_latency_avg_s") is not None]
    if reads:
        parts += ["<h3>Query rounds</h3>", _table(["Round", "Read throughput (tx/s)", "Avg read latency (ms)",
                                                   "p99 read latency (ms)"],
                                                  [[e(r["label"]), fmt_tps(r["read_throughput_tps"]),
                                                    fmt_ms(r["read_latency_avg_s"]), fmt_ms(r["read_latency_p99_s"])]
                                                   for r in reads])]
    for rnd in rounds:
        rate = rnd["rate_control"]
        opts = ", ".join(f"{k} {v}" for k, v in rate.get("opts", {}).items())
        parts += [f"<h2 id='round-{e(rnd['label'])}'>Round {e(rnd['label'])}</h2>",
                  f"<p>Workload <code>{e(rnd['workload'])}</code>, {fmt_count(rnd['tx'])} transactions from "
                  f"{rnd['workers']} workers at {e(rate['type'])}{f' ({e(opts)})' if opts else ''}; execution model: "
                  f"<b>{e(str(rnd.get('execution_model', 'order-execute')))}</b>.</p>",
                  "<div class=charts>" + "".join(_round_charts(rnd, unit)) + "</div>",
                  "<h3>Failures by cause</h3>", _failures(rnd), "<h3>Resource utilization</h3>", _resources(rnd)]
    parts += ["<h2>Machine and network</h2><div class=charts><div><h3>Machine</h3>", _facts(report["machine"]),
              "</div><div><h3>Network</h3>", _facts(report["network"]), "</div></div>"]
    return _page(f"edgeledger bench {report['benchmark']}", "".join(parts))


def _delta(a: Any, b: Any, higher_is_better: bool) -> str:
    if a in (None, 0) or b is None:
        return "-"
    change = (b - a) / a * 100
    good = (change > 0) == higher_is_better
    return f"<span class={'better' if good else 'worse'}>{change:+.1f}%</span>" if abs(change) >= 0.05 else "0%"


def render_comparison(a: dict[str, Any], b: dict[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """Two reports side by side: the summary figures of rounds with one label in both, B against A, and
    each shared round's throughput and latency drawn together (A solid, B dashed)."""
    by_label = {r["label"]: r for r in b["rounds"]}
    shared = [r for r in a["rounds"] if r["label"] in by_label]
    metrics = [("succ", "Succ", fmt_count, True), ("fail", "Fail", fmt_count, False),
               ("throughput_tps", "Throughput (tx/s)", fmt_tps, True),
               ("committed_throughput_tps", "Committed (tx/s)", fmt_tps, True),
               ("latency_avg_s", "Avg latency (ms)", fmt_ms, False), ("latency_p99_s", "p99 latency (ms)", fmt_ms, False)]
    rows = []
    for ra in shared:
        rb = by_label[ra["label"]]
        for key, title, f, up in metrics:
            rows.append([e(ra["label"]) if key == "succ" else "", title, f(ra.get(key)), f(rb.get(key)),
                         _delta(ra.get(key), rb.get(key), up)])
    only = sorted({r["label"] for r in a["rounds"]} ^ set(by_label))
    parts = [f"<h1>edgeledger bench: {e(name_a)} against {e(name_b)}</h1>",
             f"<div class=meta><span>A: {e(a['benchmark'])} ({e(name_a)})</span><span>B: {e(b['benchmark'])} "
             f"({e(name_b)})</span></div>", "<h2>Summary, round by round</h2>",
             _table(["Round", "Figure", e(name_a), e(name_b), "B against A"], rows).replace("<table>", "<table class=cmp>")
             if rows
             else "<p>The two reports share no round label.</p>"]
    if only:
        parts.append(f"<p class=note>Rounds in only one report: {e(', '.join(only))}.</p>")
    for ra in shared:
        rb = by_label[ra["label"]]
        ta, tb = ra.get("timeline", []), rb.get("timeline", [])
        tput = svg_chart([(f"{name_a} succeeded", [(p["t"], p["succeeded"]) for p in ta]),
                          (f"{name_b} succeeded", [(p["t"], p["succeeded"]) for p in tb])],
                         "seconds since the first submit", "tx/s", dashed={f"{name_b} succeeded"})
        lat = svg_chart([(f"{name_a} p99", [(p["t"], p["p99"] * 1000) for p in ta if p.get("p99") is not None]),
                         (f"{name_b} p99", [(p["t"], p["p99"] * 1000) for p in tb if p.get("p99") is not None])],
                        "seconds since the first submit", "p99 latency (ms)", dashed={f"{name_b} p99"})
        parts += [f"<h2>Round {e(ra['label'])}</h2><div class=charts><figure>{tput}<figcaption>Throughput"
                  f"</figcaption></figure><figure>{lat}<figcaption>p99 latency per second</figcaption></figure></div>"]
    parts += ["<h2>Machines</h2><div class=charts><div><h3>" + e(name_a) + "</h3>", _facts(a["machine"]),
              "</div><div><h3>" + e(name_b) + "</h3>", _facts(b["machine"]), "</div></div>",
              f"<p class=note>Compare figures measured on one machine under the same load; A: "
              f"{e(json.dumps(a['network']))}; B: {e(json.dumps(b['network']))}.</p>"]
    return _page(f"edgeledger bench {name_a} vs {name_b}", "".join(parts))
