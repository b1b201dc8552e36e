"""Pedal Section V-B (reduced): processing time and I/O traffic vs concurrent transactions
and data size, 12-27 oracle nodes in 3 groups, 1000 Mbit/s links; four schemes.

    python experiments/pedal_oracle/run.py [--quick] [--out experiments/pedal_oracle/results]

Writes results.csv (scheme, nodes, transactions, data_bytes, processing_s, traffic_bytes),
summary.json (Pedal's speed-up and traffic saving over each scheme) and two PNG plots.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemes import SCHEMES, run_scheme  # noqa: E402


def sweep(quick: bool) -> list[dict[str, float | str | int]]:
    nodes = (12, 27) if quick else (12, 18, 27)
    txs = (10, 30, 60) if quick else (10, 20, 30, 40, 50, 60)
    sizes = (500_000, 1_000_000)
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
    out: dict[str, dict[str, float]] = {}
    for n in sorted({r["nodes"] for r in rows}):
        at = [r for r in rows if r["nodes"] == n and r["transactions"] == max(x["transactions"] for x in rows)
              and r["data_bytes"] == 1_000_000]
        pedal = next(r for r in at if r["scheme"] == "pedal")
        out[f"n{n}_tx{pedal['transactions']}_1MB"] = {
            **{f"pedal_speedup_vs_{r['scheme']}": r["processing_s"] / pedal["processing_s"]
               for r in at if r["scheme"] != "pedal"},
            **{f"pedal_traffic_share_vs_{r['scheme']}": pedal["traffic_bytes"] / r["traffic_bytes"]
               for r in at if r["scheme"] != "pedal"},
            **{f"{r['scheme']}_processing_s": r["processing_s"] for r in at},
        }
    return out


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted({r["nodes"] for r in rows})
    panels = (("processing_s", "processing time (s)", 1.0), ("traffic_bytes", "I/O traffic (MB)", 1e-6))
    for metric, label, scale in panels:
        fig, axes = plt.subplots(2, len(nodes), figsize=(4.2 * len(nodes), 7), squeeze=False)
        for i, size in enumerate((500_000, 1_000_000)):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 and 27 nodes, 10/30/60 transactions")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"), help="results folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = sweep(args.quick)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, out)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
