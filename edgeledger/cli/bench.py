"""``edgeledger bench``: Caliper-style benchmark rounds against a network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeledger.cli.base import app, console, new_table


def _report_json(path: Path) -> tuple[dict, str]:
    import json

    from edgeledger.errors import ConfigError

    file = path / "report.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8")), path.name or str(path)
    except FileNotFoundError:
        raise ConfigError(f"--compare {str(path)!r}: no report.json there; give a folder written by edgeledger bench "
                          "or its report.json") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--compare {str(path)!r}: not a bench report ({exc})") from None


@app.command()
def bench(bench_file: Optional[Path] = typer.Argument(None, help="Benchmark TOML (network and rounds), e.g. benchmarks/caliper/quick.toml."),
          out: Optional[Path] = typer.Option(None, help="Report folder (default runs/bench-<name>-<timestamp>)."),
          check: bool = typer.Option(False, help="Validate the file and exit without running."),
          compare: Optional[tuple[Path, Path]] = typer.Option(None, help="Put two reports side by side (folders "
                                                              "written by edgeledger bench, or their report.json): "
                                                              "--compare A B writes compare.html."),
          force: bool = typer.Option(False, help="Write into an --out folder that already holds a report.")) -> None:
    """Run a Caliper-style benchmark: rounds of a workload at a controlled rate; writes report.html and report.json."""
    import time

    from edgeledger.bench import load_bench, run_bench
    from edgeledger.errors import ConfigError

    if compare is not None:
        from edgeledger.bench.report_html import render_comparison

        (a, name_a), (b, name_b) = _report_json(compare[0]), _report_json(compare[1])
        if not isinstance(a.get("rounds"), list) or not isinstance(b.get("rounds"), list):
            raise ConfigError("--compare: both files must be bench reports (report.json with rounds)")
        folder = out or Path("runs") / f"bench-compare-{time.strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "compare.html"
        target.write_text(render_comparison(a, b, name_a if name_a != name_b else "A", name_b if name_a != name_b else "B"))
        console.print(f"comparison: {target}")
        return
    if bench_file is None:
        raise ConfigError("bench needs a benchmark file (e.g. benchmarks/caliper/quick.toml) or --compare A B")
    cfg = load_bench(bench_file)
    if check:
        console.print(f"{bench_file}: {len(cfg.rounds)} rounds on a {cfg.network.kind} network, valid")
        return
    out = out or Path("runs") / f"bench-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "report.json").exists() and not force:
        raise ConfigError(f"--out {str(out)!r} already holds a report; pass --force to replace it, or choose a new folder")
    report = run_bench(cfg, out, log=console.print)
    table = new_table(title=f"{cfg.name}: summary (Caliper metrics)")
    for col in ("round", "succ", "fail", "send tx/s", "throughput tx/s", "avg lat ms", "p99 lat ms", "max CPU %",
                "max RSS MB"):
        table.add_column(col, justify="right")
    for r in report["rounds"]:
        res = [v for v in r["resources"].values()]
        cpu = max((v.get("cpu_max_pct") or 0 for v in res), default=0)
        mem = max((v.get("rss_max_mb") or 0 for v in res), default=0)
        table.add_row(r["label"], f"{r['succ']:,}", f"{r['fail']:,}", f"{r['send_rate_tps']:.1f}",
                      f"{r['throughput_tps']:.1f}", fmt_ms(r["latency_avg_s"]), fmt_ms(r["latency_p99_s"]),
                      f"{cpu:.1f}" if cpu else "-", f"{mem:.0f}" if mem else "-")
    console.print(table)
    console.print(f"report: {out / 'report.html'}")


def fmt_ms(seconds: Optional[float]) -> str:
    from edgeledger.bench.report_html import fmt_ms as ms

    return ms(seconds)
