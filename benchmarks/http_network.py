"""Real processes over HTTP: committed tx/s at saturation against the verification bound, latency at 500 tx/s.

Starts 4 validator processes (plus a center, a non-validating cloud that follows the chain
and 4 client devices) on 127.0.0.1 with `edgeledger up`'s machinery. Transactions are kv.set
calls signed with the devices' own keys before each phase.

``rss_mb_chain_only_node`` is a validator's resident memory once the chain-only network is up,
before any load (the base install's node on a small board; goal < 60 MB); ``rss_mb_max_validator``
is the most any validator used under the load.

* Saturation: batches of signed transactions (``POST /v1/txs``, each one verified and
  answered individually) from a few asyncio workers, at most ``--in-flight`` uncommitted,
  for ``--seconds``; committed tx/s over the phase after a short warm-up. ``--single`` sends
  one transaction per ``POST /v1/tx`` instead (the pre-issue-22 way, for A/B runs).
* Fixed rate: one transaction per ``POST /v1/tx`` at ``--rate`` tx/s (a device's way);
  submit-to-commit latency, with commits timestamped from a validator's block events.
* The bound: the Ed25519 verification rate of one core (measured first, in this run) times
  the cores, over the verifications per transaction (``edgeledger.bench.http_load``).
* CPU per process over the saturation phase (``psutil``), the load generator's share of it,
  and, with ``--profile DIR``, a py-spy profile of every validator, the follower and the load
  generator, classified into the stages of a transaction's path (``edgeledger.bench.http_profile``).

Usage: python benchmarks/http_network.py [--quick] [--seconds S] [--rate 500] [--profile DIR]
The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from importlib import resources
from pathlib import Path

import aiohttp
import psutil
import tomli_w

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.bench.http_load import (
    Tracker, batches, sign_transactions, submit_at_rate, submit_batches, verify_bound, verify_rate,
)
from edgeledger.bench.http_profile import CpuMeter, SpyProfile, py_spy_available, top_functions
from edgeledger.crypto.keys import derive_key
from edgeledger.deploy.cluster import start_cluster, stop_cluster
from edgeledger.scenario.schema import apply_overrides, parse_scenario

VALIDATORS = ["edge-0", "edge-1", "edge-2", "edge-3"]
CLIENTS = ["device-0", "device-1", "device-2", "device-3"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="6 s of saturation, 5 s at the fixed rate (CI size)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per phase (default 20)")
    p.add_argument("--rate", type=float, default=500.0, help="offered load of the fixed-rate phase (tx/s)")
    p.add_argument("--batch", type=int, default=250, help="transactions per POST /v1/txs (default 250)")
    p.add_argument("--in-flight", type=int, default=6000, help="most uncommitted transactions at saturation")
    p.add_argument("--workers", type=int, default=8, help="load generator connections at saturation")
    p.add_argument("--single", action="store_true", help="saturate with one transaction per POST /v1/tx")
    p.add_argument("--max-block-txs", type=int, default=2000, help="consensus.max_block_txs (default 2000)")
    p.add_argument("--batch-timeout", type=float, default=0.02, help="consensus.batch_timeout_s (default 0.02)")
    p.add_argument("--profile", type=Path, default=None, help="py-spy every process during saturation; raw "
                   "profiles and the stage summary go to this folder (needs `pip install py-spy`)")
    p.add_argument("--keep", type=Path, default=None, help="run the nodes in this folder and keep their logs")
    return p.parse_args(argv)


def scenario_file(root: Path, args: argparse.Namespace) -> Path:
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    data = apply_overrides(data, ["name=\"bench\"", "topology.edges=4", "topology.devices_per_edge=1",
                                  "topology.validators=[\"edge\"]", "fl.enabled=false", "attacks=[]",
                                  "fl.clients_per_round=4", f"consensus.max_block_txs={args.max_block_txs}",
                                  f"consensus.batch_timeout_s={args.batch_timeout}"])
    path = root / "bench.toml"
    path.write_text(tomli_w.dumps(data))
    parse_scenario(data)
    return path


async def measure(root: Path, cluster, args: argparse.Namespace, seconds: float) -> dict:
    keys = [derive_key("ed25519", (root / "nodes" / c / "identity.seed").read_bytes()) for c in CLIENTS]
    urls = [str(cluster.processes[v]["url"]) for v in VALIDATORS]
    pids = {label: int(info["pid"]) for label, info in cluster.processes.items()}
    procs = [psutil.Process(pids[v]) for v in VALIDATORS]
    rss_peak = [0.0]

    async def sample_rss(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                rss_peak[0] = max(rss_peak[0], *(p.memory_info().rss / 2**20 for p in procs))
            except psutil.Error:
                pass
            await asyncio.sleep(0.25)

    # saturation transactions: enough for 6,000 tx/s over the phase, signed before it starts
    n_sat = int(seconds * 6000)
    sat = sign_transactions(keys, CLIENTS, 1, n_sat, "sat")
    groups = batches(sat, 1 if args.single else args.batch)
    n_rate = int(seconds * args.rate)
    fixed = sign_transactions(keys, CLIENTS, 2 + n_sat // len(CLIENTS), n_rate, "rate")
    meter = CpuMeter({**pids, "loadgen": os.getpid()})
    spy = None
    if args.profile is not None:
        profiled = {**{v: pids[v] for v in VALIDATORS}, "cloud": pids["cloud"], "loadgen": os.getpid()}
        spy = SpyProfile(profiled, args.profile)
    machine0 = psutil.cpu_times()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        stop = asyncio.Event()
        tracker = Tracker()
        follow = asyncio.create_task(tracker.follow(session, urls[-1], stop))  # a backup, not the primary
        sampler = asyncio.create_task(sample_rss(stop))
        await asyncio.sleep(0.5)
        # phase 1: saturation
        warm = min(1.0, 0.15 * seconds)
        meter.start()
        machine0 = psutil.cpu_times()
        if spy is not None:
            spy.start()
        t0 = time.perf_counter()
        sent = await submit_batches(session, urls, groups, tracker, args.in_flight,
                                    64 if args.single else args.workers, t0 + seconds)
        t_end = time.perf_counter()
        cpu = meter.stop()
        machine1 = psutil.cpu_times()
        profile = spy.stop() if spy is not None else None
        window = [t for t in tracker.committed.values() if t0 + warm <= t <= t_end]
        in_phase = sum(1 for t in tracker.committed.values() if t0 <= t <= t_end)
        sat_tps = len(window) / (t_end - t0 - warm)
        sat_ids = [t.tx_id for t in sat if t.tx_id in tracker.submitted]
        await tracker.drain(sat_ids, 30)
        sat_blocks = list(tracker.blocks)
        sat_failed = sum(1 for t in sat_ids if t in tracker.failed)
        sat_lost = sum(1 for t in sat_ids if t not in tracker.committed)
        refused_sat = tracker.refused
        # phase 2: fixed rate
        elapsed = await submit_at_rate(session, urls, fixed, tracker, args.rate, 64)
        fixed_ids = [t.tx_id for t in fixed]
        await tracker.drain(fixed_ids, 30)
        lat = sorted(tracker.committed[t] - tracker.submitted[t] for t in fixed_ids
                     if t in tracker.committed and t not in tracker.failed)
        stop.set()
        follow.cancel()
        await sampler
    busy = lambda t: t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0)  # noqa: E731
    machine_busy = busy(machine1) - busy(machine0)
    ours = sum(cpu.values())
    return {
        "sat_tps": sat_tps, "committed_in_phase": in_phase, "sent": sent, "sat_blocks": sat_blocks, "sat_failed": sat_failed, "sat_lost": sat_lost,
        "refused_sat": refused_sat, "cpu": cpu, "wall": meter.wall_s, "machine_busy": machine_busy, "ours": ours,
        "profile": profile, "lat": lat, "n_rate": n_rate, "elapsed": elapsed, "rss": rss_peak[0],
        "refused_rate": tracker.refused - refused_sat,
    }


def report(m: dict, args: argparse.Namespace, verifies: float, load0: tuple, load1: tuple) -> dict:
    cores = psutil.cpu_count() or 2
    blocks = [b for b in m["sat_blocks"] if b > 0]
    mean_block = statistics.fmean(blocks) if blocks else 1.0
    bound = verify_bound(cores, verifies, len(VALIDATORS), mean_block)
    lat = m["lat"]
    cpu = m["cpu"]
    ours = m["ours"] or 1.0
    by_role = {"validators": sum(cpu[v] for v in VALIDATORS), "cloud (follower)": cpu.get("cloud", 0.0),
               "devices+center": sum(s for k, s in cpu.items() if k.startswith("device") or k == "center"),
               "loadgen": cpu["loadgen"]}
    result = {
        "committed_tx_per_s": round(m["sat_tps"], 1),
        "verify_bound_tx_per_s": round(bound, 1),
        "ratio_to_verify_bound": round(m["sat_tps"] / bound, 3),
        "p50_latency_s_at_500": round(statistics.median(lat), 4) if lat else None,
        "p99_latency_s_at_500": round(lat[int(0.99 * (len(lat) - 1))], 4) if lat else None,
        "rss_mb_max_validator": round(m["rss"], 1),
        "loadgen_cpu_share": round(cpu["loadgen"] / ours, 3),
        "cpu_ms_per_committed_tx": round(1000 * ours / max(m["committed_in_phase"], 1), 3),
        "projected_tx_per_s_on_idle_cores": round(cores * max(m["committed_in_phase"], 1) / ours, 1),
        "verify_per_s_1core": round(verifies, 0),
        "cores": cores,
        "mean_block_txs": round(mean_block, 1),
        "saturation_submitted": m["sent"], "saturation_failed": m["sat_failed"], "saturation_lost": m["sat_lost"],
        "saturation_refused": m["refused_sat"],
        "offered_tx_per_s": round(m["n_rate"] / m["elapsed"], 1),
        "committed_at_rate": len(lat), "submitted_at_rate": m["n_rate"], "refused_at_rate": m["refused_rate"],
        "cpu_s_by_role": {k: round(v, 2) for k, v in by_role.items()},
        "cpu_s_by_process": cpu,
        "saturation_wall_s": round(m["wall"], 2),
        "cpu_share_of_machine_used_by_bench": round(ours / max(m["machine_busy"], ours), 3),
        "machine_busy_cpu_s": round(m["machine_busy"], 2),
        "load_average_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "submission": "single" if args.single else f"batch{args.batch}",
        "config": {"max_block_txs": args.max_block_txs, "batch_timeout_s": args.batch_timeout,
                   "in_flight": args.in_flight, "workers": args.workers, "rate": args.rate},
    }
    if m["profile"] is not None:
        result["profile_stages"] = m["profile"]
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    load0 = os.getloadavg()
    verifies = verify_rate(1.0)
    if args.profile is not None and not py_spy_available():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        path = scenario_file(root, args)
        cluster = start_cluster(path, parse_scenario(tomllib.loads(path.read_text())), root / "nodes")
        try:
            _wait_up(cluster)
            time.sleep(2.0)  # settled, before any load: what a chain-only node costs at rest
            idle = max(psutil.Process(int(cluster.processes[v]["pid"])).memory_info().rss / 2**20 for v in VALIDATORS)
            m = asyncio.run(measure(root, cluster, args, seconds))
        finally:
            stop_cluster(cluster)
    result = report(m, args, verifies, load0, os.getloadavg())
    result["rss_mb_chain_only_node"] = round(idle, 1)  # goal < 60 (issue 18)
    if args.profile is not None:
        (args.profile / "summary.json").write_text(json.dumps(result, indent=1))
        for label in ["loadgen", "cloud", *VALIDATORS]:
            raw = args.profile / f"{label}.txt"
            if raw.exists():
                print(f"-- {label}: top self time")
                for frame, share in top_functions(raw.read_text(), 8):
                    print(f"   {share:6.3f}  {frame}")
    print(f"{'figure':<34}{'value':>14}")
    for k, v in result.items():
        if not isinstance(v, dict):
            print(f"{k:<34}{v!s:>14}")
    print(json.dumps(result))


def _wait_up(cluster, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    for label in VALIDATORS + CLIENTS:
        url = cluster.processes[label]["url"]
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{label} did not come up; see {cluster.processes[label]['log']}")
            time.sleep(0.2)


if __name__ == "__main__":
    main()
