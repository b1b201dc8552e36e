"""``edgeledger bench``: Caliper-style benchmark rounds against a network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from edgeledger.cli.base import app, console


@app.command()
def bench(bench_file: Path = typer.Argument(..., help="Benchmark TOML (network and rounds), e.g. benchmarks/caliper/quick.toml."),
          out: Optional[Path] = typer.Option(None, help="Report folder (default runs/bench-<name>-<timestamp>)."),
          check: bool = typer.Option(False, help="Validate the file and exit without running.")) -> None:
    """Run a Caliper-style benchmark: rounds of a workload at a controlled rate; writes report.html and report.json."""
    import time

    from edgeledger.bench import load_bench, run_bench

    cfg = load_bench(bench_file)
    if check:
        console.print(f"{bench_file}: {len(cfg.rounds)} rounds on a {cfg.network.kind} network, valid")
        return
    out = out or Path("runs") / f"bench-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = run_bench(cfg, out, log=console.print)
    table = Table(title=f"{cfg.name}: summary (Caliper metrics)")
    for col in ("round", "succ", "fail", "send tps", "throughput tps", "avg lat s", "p99 lat s", "max CPU %", "max MB"):
        table.add_column(col)
    for r in report["rounds"]:
        res = [v for v in r["resources"].values()]
        cpu = max((v.get("cpu_max_pct") or 0 for v in res), default=0)
        mem = max((v.get("rss_max_mb") or 0 for v in res), default=0)
        table.add_row(r["label"], str(r["succ"]), str(r["fail"]), f"{r['send_rate_tps']:.1f}",
                      f"{r['throughput_tps']:.1f}", f"{r['latency_avg_s']:.3f}" if r["latency_avg_s"] is not None else "-",
                      f"{r['latency_p99_s']:.3f}" if r["latency_p99_s"] is not None else "-", f"{cpu:.1f}", f"{mem:.0f}")
    console.print(table)
    console.print(f"report: {out / 'report.html'}")


