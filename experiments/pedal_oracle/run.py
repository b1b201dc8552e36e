"""Pedal Section V-B: processing time and I/O traffic vs concurrent transactions and data
size, oracle nodes in 3 groups, 1000 Mbit/s links; four schemes. Two networks:

    python experiments/pedal_oracle/run.py [--quick]           # V-B: 12-27 nodes, 10-60 tx
    python experiments/pedal_oracle/run.py --fig8 [--quick]    # Fig. 8: 30-99 nodes, 10-90 tx

Writes results.csv (scheme, nodes, transactions, data_bytes, processing_s, traffic_bytes),
summary.json (Pedal's speed-up and traffic share against each scheme) and two PNG plots to
``--out`` (default ``results/`` for V-B, ``results/fig8/`` for Fig. 8). The last line printed
is the summary as one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemes import SCHEMES, run_scheme

HERE = Path(__file__).resolve().parent

#: (nodes, concurrent transactions, data sizes in bytes) per network and size.
GRIDS: dict[tuple[str, bool], tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    ("vb", False): ((12, 18, 27), (10, 20, 30, 40, 50, 60), (500_000, 1_000_000)),
    ("vb", True): ((12, 27), (10, 30, 60), (500_000, 1_000_000)),
    ("fig8", False): ((30, 45, 63, 81, 99), (10, 30, 50, 70, 90), (1_000_000,)),
    ("fig8", True): ((30, 45), (10, 20), (1_000_000,)),
}


def sweep(nodes: tuple[int, ...], txs: tuple[int, ...], sizes: tuple[int, ...]) -> list[dict[str, float | str | int]]:
    rows = []
    for n in nodes:
        for size in sizes:
            for t in txs:
                for scheme in SCHEMES:
                    r = run_scheme(scheme, n, t, size)
                    rows.append({"scheme": scheme, "nodes": n, "transactions": t, "data_bytes": size, **r})
                    print(f"{scheme:12s} n={n:2d} tx={t:2d} size={size // 1000:5d}KB "
                          f"time={r['processing_s']:7.3f}s traffic={r['traffic_bytes'] / 1e6:9.1f}MB", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per node count, at the most transactions and the largest size: Pedal against each scheme,
    plus the range of Pedal's speed-up over every (transactions, size) point of that node count."""
    out: dict[str, dict[str, float]] = {}
    size, tx = max(r["data_bytes"] for r in rows), max(r["transactions"] for r in rows)
    for n in sorted({r["nodes"] for r in rows}):
        at = [r for r in rows if r["nodes"] == n and r["transactions"] == tx and r["data_bytes"] == size]
        pedal = next(r for r in at if r["scheme"] == "pedal")
        entry = {
            **{f"pedal_speedup_vs_{r['scheme']}": r["processing_s"] / pedal["processing_s"]
               for r in at if r["scheme"] != "pedal"},
            **{f"pedal_traffic_share_vs_{r['scheme']}": pedal["traffic_bytes"] / r["traffic_bytes"]
               for r in at if r["scheme"] != "pedal"},
            **{f"{r['scheme']}_processing_s": r["processing_s"] for r in at},
        }
        for scheme in SCHEMES[1:]:
            ratios = [o["processing_s"] / p["processing_s"] for p in rows if p["scheme"] == "pedal" and p["nodes"] == n
                      for o in rows if o["scheme"] == scheme and o["nodes"] == n
                      and (o["transactions"], o["data_bytes"]) == (p["transactions"], p["data_bytes"])]
            entry[f"pedal_speedup_vs_{scheme}_min"] = min(ratios)
            entry[f"pedal_speedup_vs_{scheme}_max"] = max(ratios)
        out[f"n{n}_tx{tx}_{size // 1000}KB"] = entry
    return out


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted({r["nodes"] for r in rows})
    sizes = sorted({r["data_bytes"] for r in rows})
    panels = (("processing_s", "processing time (s)", 1.0), ("traffic_bytes", "I/O traffic (MB)", 1e-6))
    for metric, label, scale in panels:
        fig, axes = plt.subplots(len(sizes), len(nodes), figsize=(4.2 * len(nodes), 3.5 * len(sizes)),
                                 squeeze=False)
        for i, size in enumerate(sizes):
            for j, n in enumerate(nodes):
                ax = axes[i][j]
                for scheme in SCHEMES:
                    pts = sorted((r["transactions"], r[metric] * scale) for r in rows
                                 if r["scheme"] == scheme and r["nodes"] == n and r["data_bytes"] == size)
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=scheme)
                ax.set_title(f"{n} nodes, {size // 1000} KB")
                ax.set_xlabel("concurrent transactions")
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
        axes[0][0].legend()
        fig.tight_layout()
        fig.savefig(out / f"{metric}.png", dpi=110)
        plt.close(fig)


def run(network: str, quick: bool, out: Path, only_nodes: tuple[int, ...] = ()) -> dict[str, dict[str, float]]:
    """Run one network's sweep (``only_nodes``: a part of its node counts) and write its
    results folder; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    nodes, txs, sizes = GRIDS[(network, quick)]
    nodes = tuple(only_nodes) or nodes
    print(f"network={network} quick={quick} nodes={list(nodes)} transactions={list(txs)} sizes={list(sizes)} "
          f"schemes={list(SCHEMES)}", flush=True)
    started = time.perf_counter()
    rows = sweep(nodes, txs, sizes)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, out)
    print(f"swept {len(rows)} runs in {time.perf_counter() - started:.0f} s wall", flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced grid (CI size)")
    parser.add_argument("--fig8", action="store_true", help="the large network of Fig. 8: 30-99 nodes, 10-90 tx")
    parser.add_argument("--out", default=None, help="results folder (default results/ or results/fig8/)")
    parser.add_argument("--nodes", default="", help="comma-separated node counts to run instead of the grid's "
                                                     "(to split a long sweep; --merge joins the parts)")
    parser.add_argument("--merge", nargs="+", default=[], metavar="CSV",
                        help="do not simulate: join these results.csv files into --out (summary and plots)")
    args = parser.parse_args(argv)
    network = "fig8" if args.fig8 else "vb"
    out = Path(args.out) if args.out else HERE / "results" / ("fig8" if args.fig8 else "")
    if args.merge:
        print(json.dumps(merge([Path(m) for m in args.merge], out)))
        return
    only = tuple(int(n) for n in args.nodes.split(",") if n.strip())
    print(json.dumps(run(network, args.quick, out, only)))


def merge(parts: list[Path], out: Path) -> dict[str, dict[str, float]]:
    """Join the results.csv of several partial sweeps into one results folder."""
    rows: list[dict] = []
    for part in parts:
        with open(part, newline="") as fh:
            for r in csv.DictReader(fh):
                rows.append({"scheme": r["scheme"], "nodes": int(r["nodes"]), "transactions": int(r["transactions"]),
                             "data_bytes": int(r["data_bytes"]), "processing_s": float(r["processing_s"]),
                             "traffic_bytes": float(r["traffic_bytes"])})
    rows.sort(key=lambda r: (r["nodes"], r["data_bytes"], r["transactions"], SCHEMES.index(r["scheme"])))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, out)
    return summary


if __name__ == "__main__":
    main()
