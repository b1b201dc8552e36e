"""Pedal's agreement driven by ``PedalCore`` itself: Fig. 8 (c, d), processing time and traffic
against the data size, beside the model of ``schemes.py``.

A real oracle chain of the simulator (:func:`edgeledger.oracle.simnet.build_oracle_chain`: four
PBFT validators, ``N`` oracle nodes in three groups, each group's key made by its members'
DKG, VRF-elected masters, BLS threshold shares checked by the proxy contract) serves ``T``
concurrent compute requests whose work is ``S`` bytes of data: every member of the elected
group produces the same ``S`` bytes (as if it read the same source), sends them to the master
as its signed observation, the master proposes their digest when ``t`` observations agree, the
members sign shares, and the master's fulfilment goes on chain. Processing time is the time
from filing the ``T`` requests to the last callback; traffic is every byte the oracle nodes and
validators sent meanwhile (the simulator's per-link accounting, 1 Gbit/s links, 1 ms latency).

The model of ``schemes.py`` (virtual payloads, one serialised uplink and CPU per node) moves
the same data volume in the other direction (the master sends the data to its group); its
figures for the same (N, T, S) are printed beside PedalCore's, with the ratio of their
traffic: that ratio is the stated check of the model against the protocol.

    python experiments/pedal_oracle/pedalcore.py                # N = 30, T = 30, S = 0.1 .. 2 MB
    python experiments/pedal_oracle/pedalcore.py --quick        # N = 12, T = 5, S = 0.1 / 0.5 MB
The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from schemes import run_scheme  # noqa: E402

from edgeledger.codec import decode, encode  # noqa: E402
from edgeledger.crypto.hashing import sha256  # noqa: E402
from edgeledger.net.sim import Link, Simulator  # noqa: E402
from edgeledger.oracle.pedal import FetchJob  # noqa: E402
from edgeledger.oracle.service import WorkResult  # noqa: E402
from edgeledger.oracle.simnet import build_oracle_chain  # noqa: E402

FULL = {"nodes": 30, "transactions": 30, "sizes": (100_000, 250_000, 500_000, 1_000_000, 2_000_000)}
QUICK = {"nodes": 12, "transactions": 5, "sizes": (100_000, 500_000)}


def payload(size: int, item: int) -> bytes:
    """``size`` bytes every honest member derives alike for data item ``item`` (its source's reading)."""
    block = sha256(f"item/{item}".encode())
    return (block * (size // len(block) + 1))[:size]


def data_work(node: str) -> Any:
    def work(job: FetchJob) -> WorkResult:
        spec = decode(job.request.params, dict)
        return WorkResult(payload(int(spec["bytes"]), int(spec["item"])), 0.0)

    return work


def agree(node: str) -> dict[str, Any]:
    """The compute kind's rule here: the digest of the value ``threshold`` observations agree on."""

    def aggregate(request: Any, values: Any, threshold: int) -> bytes | None:
        counts: dict[bytes, int] = {}
        for v in values:
            if v:
                counts[sha256(v)] = counts.get(sha256(v), 0) + 1
        best = max(counts.items(), key=lambda kv: kv[1], default=(b"", 0))
        return encode(best[0]) if best[1] >= threshold else None

    return {"compute": aggregate}


def sent_bytes(sim: Simulator) -> tuple[int, dict[str, int]]:
    by_type: dict[str, int] = {}
    for t in sim.traffic.values():
        for k, v in t.bytes_by_type.items():
            by_type[k] = by_type.get(k, 0) + v
    return sum(t.bytes_sent for t in sim.traffic.values()), by_type


def run(n: int, t: int, sizes: tuple[int, ...], seed: int = 0) -> list[dict[str, Any]]:
    """One oracle chain; per size, ``t`` concurrent requests; PedalCore's figures and the model's."""
    g = n // 3
    groups = {f"g{k}": [f"P.o{g * k + i:03d}" for i in range(g)] for k in range(3)}
    sim = Simulator(seed, lambda a, b: Link(latency_s=0.001, bandwidth_bps=1e9))
    chain = build_oracle_chain(sim, "P", groups, sources={}, seed=sha256(f"pedalcore/{seed}".encode())[:22],
                               work=data_work, aggregators=agree)
    sim.run(until=60.0, stop=chain.ready)
    if not chain.ready():
        raise RuntimeError("the groups' key generation did not finish in 60 simulated seconds")
    rows, item = [], 0
    for size in sizes:
        sim.run(until=sim.now + 2.0)  # quiet chain between sizes
        before, before_types = sent_bytes(sim)
        done, t0, wall = len(chain.latencies()), sim.now, time.perf_counter()
        for _ in range(t):
            item += 1
            chain.request("blob", 1000 * item, kind="compute", params=encode({"bytes": size, "item": item}))
        sim.run(until=sim.now + 600.0, stop=lambda: len(chain.latencies()) >= done + t)  # noqa: B023 -- called at once
        got = sorted(chain.latencies().items(), key=lambda kv: chain.watch.called_back_at[kv[0]])[done:]
        if len(got) < t:
            raise RuntimeError(f"{len(got)} of {t} requests of {size} bytes were called back")
        end = max(chain.watch.called_back_at[r] for r, _ in got)
        after, after_types = sent_bytes(sim)
        model = run_scheme("pedal", n, t, size)
        rows.append({"nodes": n, "transactions": t, "data_bytes": size,
                     "pedalcore_processing_s": round(end - t0, 4), "pedalcore_traffic_bytes": after - before,
                     "pedalcore_mean_latency_s": round(sum(v for _, v in got) / len(got), 4),
                     "model_processing_s": round(model["processing_s"], 4),
                     "model_traffic_bytes": int(model["traffic_bytes"]),
                     "traffic_ratio_pedalcore_to_model": round((after - before) / model["traffic_bytes"], 3),
                     "top_message_types": ", ".join(f"{k}={v - before_types.get(k, 0)}" for k, v in sorted(
                         after_types.items(), key=lambda kv: -(kv[1] - before_types.get(kv[0], 0)))[:4]),
                     "wall_s": round(time.perf_counter() - wall, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    from edgeledger.scenario.figures import PAPER, save

    import matplotlib.pyplot as plt

    mb = [r["data_bytes"] / 1e6 for r in rows]
    with plt.rc_context(PAPER):
        fig, (a, b) = plt.subplots(1, 2, figsize=(5.2, 2.1), layout="constrained")
        a.plot(mb, [r["pedalcore_processing_s"] for r in rows], marker="o", label="PedalCore")
        a.plot(mb, [r["model_processing_s"] for r in rows], marker="s", linestyle="--", label="model")
        a.set_xlabel("data size (MB)")
        a.set_ylabel("processing time (s)")
        b.plot(mb, [r["pedalcore_traffic_bytes"] / 1e6 for r in rows], marker="o", label="PedalCore")
        b.plot(mb, [r["model_traffic_bytes"] / 1e6 for r in rows], marker="s", linestyle="--", label="model")
        b.set_xlabel("data size (MB)")
        b.set_ylabel("traffic (MB)")
        for ax in (a, b):
            ax.grid(alpha=0.3, linewidth=0.5)
        a.legend(frameon=False)
    save(fig, out / "fig8cd", ("png",))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--nodes", type=int, default=None)
    p.add_argument("--transactions", type=int, default=None)
    p.add_argument("--out", default=str(HERE / "results" / "fig8cd"))
    args = p.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    n, t = args.nodes or size["nodes"], args.transactions or size["transactions"]
    out = Path(args.out + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = run(n, t, size["sizes"])
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, out)
    ratios = [r["traffic_ratio_pedalcore_to_model"] for r in rows]
    summary = {"nodes": n, "transactions": t, "sizes_bytes": list(size["sizes"]),
               "pedalcore_processing_s": [r["pedalcore_processing_s"] for r in rows],
               "model_processing_s": [r["model_processing_s"] for r in rows],
               "traffic_ratio_min": min(ratios), "traffic_ratio_max": max(ratios),
               "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
