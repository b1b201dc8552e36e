"""Soak: 4 validator processes at 500 tx/s for 30 minutes, dashboards coming and going; does memory grow?

Starts the chain-only network of benchmarks/http_network.py (4 validators, devices as clients),
submits kv.set transactions at a fixed rate spread across the validators, while dashboard
clients open and close /observe/events streams and poll /observe/api/overview. Every 2 s it
samples each validator's resident memory. ``rss_growth_pct_last_two_thirds`` compares each
validator's mean RSS over the last tenth of the run with its mean over the tenth that starts
at one third (the warm-up, caches filling, is the first third), the largest growth of the four
(goal < 5%). ``failed`` counts transactions refused, not committed by the end of the drain, or
committed with an invalid receipt (goal 0); ``agree`` is whether every validator has the same
block at every height of the shortest chain.

Usage: python benchmarks/soak.py [--quick] [--minutes M] [--rate 500]
The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_network import CLIENTS, VALIDATORS, Tracker, _wait_up, scenario_file  # noqa: E402

from edgeledger.codec import encode  # noqa: E402
from edgeledger.crypto.keys import derive_key  # noqa: E402
from edgeledger.deploy.cluster import start_cluster, stop_cluster  # noqa: E402
from edgeledger.ledger.kv import KVSet  # noqa: E402
from edgeledger.ledger.transaction import make_transaction  # noqa: E402
from edgeledger.scenario.schema import parse_scenario  # noqa: E402


async def submit(session, urls, keys, tracker, rate, seconds, refused):
    start = time.perf_counter()
    i = 0
    nonces = {c: 0 for c in CLIENTS}
    pending: set[asyncio.Task] = set()

    async def post(url, tx_id, body):
        try:
            async with session.post(f"{url}/v1/tx", data=body) as resp:
                if resp.status != 202:
                    refused.append((resp.status, (await resp.text())[:200]))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            refused.append((0, str(exc)))

    while time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * rate)
        while i < due:
            client = CLIENTS[i % len(CLIENTS)]
            nonces[client] += 1
            tx = make_transaction(keys[client], client, nonces[client], "kv.set",
                                  KVSet(key=f"soak/{i % 5000}", value=b"x" * 32))  # keys are rewritten: state stays small
            tx_id = tx.tx_id.hex()
            tracker.submitted[tx_id] = time.perf_counter()
            task = asyncio.create_task(post(urls[i % len(urls)], tx_id, encode(tx)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        await asyncio.sleep(0.01)
    await asyncio.gather(*pending)
    return i


async def dashboards(session, urls, stop):
    """Browsers that open the live dashboard's event stream, read a little, and go away."""
    rng = random.Random(7)
    opened = 0
    while not stop.is_set():
        url = rng.choice(urls)
        try:
            async with session.get(f"{url}/observe/events", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                opened += 1
                until = time.monotonic() + rng.uniform(0.5, 3.0)
                while time.monotonic() < until:
                    await asyncio.wait_for(resp.content.readline(), timeout=5)
            async with session.get(f"{url}/observe/api/overview") as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
        await asyncio.sleep(rng.uniform(0.1, 1.0))
    return opened


async def sample_rss(procs, samples, stop):
    t0 = time.perf_counter()
    while not stop.is_set():
        samples.append((time.perf_counter() - t0, [p.memory_info().rss / 2**20 for p in procs]))
        await asyncio.sleep(2.0)


def growth_pct(samples, duration):
    """The largest growth among validators: mean RSS over the last tenth vs over the tenth from one third."""
    window = max(duration / 10, 4.0)
    early = [s for t, s in samples if duration / 3 <= t < duration / 3 + window]
    late = [s for t, s in samples if t >= duration - window]
    if not early or not late:
        return None
    out = []
    for k in range(len(early[0])):
        a, b = statistics.mean(s[k] for s in early), statistics.mean(s[k] for s in late)
        out.append(100.0 * (b - a) / a)
    return round(max(out), 2)


async def soak(root, cluster, seconds, rate):
    keys = {c: derive_key("ed25519", (root / "nodes" / c / "identity.seed").read_bytes()) for c in CLIENTS}
    urls = [cluster.processes[v]["url"] for v in VALIDATORS]
    procs = [psutil.Process(int(cluster.processes[v]["pid"])) for v in VALIDATORS]
    samples, refused = [], []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        stop = asyncio.Event()
        tracker = Tracker()
        follow = asyncio.create_task(tracker.follow(session, urls[0], stop))
        sampler = asyncio.create_task(sample_rss(procs, samples, stop))
        viewers = asyncio.create_task(dashboards(session, urls, stop))
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        n = await submit(session, urls, keys, tracker, rate, seconds, refused)
        elapsed = time.perf_counter() - t0
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and any(t not in tracker.committed for t in tracker.submitted):
            await asyncio.sleep(0.2)
        stop.set()
        follow.cancel()
        opened = await viewers
        await sampler
        heads = []
        for url in urls:
            async with session.get(f"{url}/v1/head") as resp:
                heads.append(await resp.json())
        low = min(h["height"] for h in heads)
        hashes = set()
        for url in urls:
            async with session.get(f"{url}/v1/blocks/{low}") as resp:
                hashes.add((await resp.json())["hash"])
    ok = [t for t in tracker.submitted if t in tracker.committed and t not in tracker.failed]
    lat = sorted(tracker.committed[t] - tracker.submitted[t] for t in ok)
    return {
        "minutes": round(seconds / 60, 2), "offered_tx_per_s": round(n / elapsed, 1),
        "committed_tx_per_s": round(len(ok) / elapsed, 1),
        "p50_latency_s": round(statistics.median(lat), 4) if lat else None,
        "p99_latency_s": round(lat[int(0.99 * (len(lat) - 1))], 4) if lat else None,
        "failed": n - len(ok), "refused": len(refused),
        "rss_mb_max_validator": round(max(max(s) for _, s in samples), 1),
        "rss_mb_first_sample": round(max(samples[0][1]), 1),
        "rss_growth_pct_last_two_thirds": growth_pct(samples, seconds),
        "dashboard_streams_opened": opened, "height": low, "agree": len(hashes) == 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 minutes instead of 30")
    parser.add_argument("--minutes", type=float, default=None, help="minutes of load (default 30)")
    parser.add_argument("--rate", type=float, default=500.0, help="offered load (tx/s)")
    parser.add_argument("--max-block-txs", type=int, default=2000, help="consensus.max_block_txs (as http_network.py)")
    parser.add_argument("--batch-timeout", type=float, default=0.02, help="consensus.batch_timeout_s (as http_network.py)")
    args = parser.parse_args()
    seconds = 60 * (args.minutes or (2.0 if args.quick else 30.0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = scenario_file(root, args)  # reads --max-block-txs and --batch-timeout
        cluster = start_cluster(path, parse_scenario(tomllib.loads(path.read_text())), root / "nodes")
        try:
            _wait_up(cluster)
            result = asyncio.run(soak(root, cluster, seconds, args.rate))
        finally:
            stop_cluster(cluster)
    for k, v in result.items():
        print(f"{k:<32}{v!s:>12}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
