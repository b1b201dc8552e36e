"""Real processes over HTTP: committed tx/s, submit-to-commit latency at 500 tx/s, RSS per validator.

``rss_mb_chain_only_node`` is a validator's resident memory once the chain-only network is up,
before any load (the base install's node on a small board; goal < 60 MB); ``rss_mb_max_validator``
is the most any validator used under the load.

Starts 4 validator processes (plus a center, a non-validating cloud and 4 client devices)
on 127.0.0.1 with `edgeledger up`'s machinery, signs kv.set transactions with the devices'
own keys, submits them over POST /v1/tx spread across the validators, and timestamps each
commit from the validators' server-sent block events.

Usage: python benchmarks/http_network.py [--quick] [--seconds S] [--rate 500]
The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.kv import KVSet
from edgeledger.ledger.transaction import make_transaction
from edgeledger.scenario.schema import apply_overrides, parse_scenario
from edgeledger.deploy.cluster import start_cluster, stop_cluster

VALIDATORS = ["edge-0", "edge-1", "edge-2", "edge-3"]
CLIENTS = ["device-0", "device-1", "device-2", "device-3"]


def scenario_file(root: Path) -> Path:
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    data = apply_overrides(data, ["name=\"bench\"", "topology.edges=4", "topology.devices_per_edge=1",
                                  "topology.validators=[\"edge\"]", "fl.enabled=false", "attacks=[]",
                                  "fl.clients_per_round=4", "consensus.max_block_txs=2000",
                                  "consensus.batch_timeout_s=0.02"])
    path = root / "bench.toml"
    path.write_text(tomli_w.dumps(data))
    parse_scenario(data)
    return path


class Tracker:
    """Commit time of every transaction, from one validator's block events."""

    def __init__(self) -> None:
        self.committed: dict[str, float] = {}
        self.failed: set[str] = set()  # committed with an invalid receipt (Caliper counts them as failures)
        self.submitted: dict[str, float] = {}

    async def follow(self, session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        seen = 0
        async with session.get(f"{url}/observe/events", timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for raw in resp.content:
                if stop.is_set():
                    return
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                height = json.loads(line[5:])["height"]
                now = time.perf_counter()
                for h in range(seen + 1, height + 1):
                    async with session.get(f"{url}/v1/blocks/{h}") as b:
                        block = await b.json()
                    for tx in block["transactions"]:
                        self.committed.setdefault(tx["id"], now)
                        if tx.get("receipt") and not tx["receipt"]["ok"]:
                            self.failed.add(tx["id"])
                seen = max(seen, height)


async def submit_all(session: aiohttp.ClientSession, urls: list[str], txs: list[tuple[str, bytes]],
                     tracker: Tracker, rate: float | None, concurrency: int) -> float:
    """Submit ``txs``; at ``rate`` tx/s (fixed-rate controller) or as fast as ``concurrency`` allows."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(txs)):
        queue.put_nowait(i)
    start = time.perf_counter()

    async def worker(w: int) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            tx_id, body = txs[i]
            tracker.submitted[tx_id] = time.perf_counter()
            async with session.post(f"{urls[i % len(urls)]}/v1/tx", data=body) as resp:
                if resp.status != 202:
                    print("refused:", resp.status, await resp.text(), file=sys.stderr)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - start


def sign_batch(keys: dict, start_nonce: int, count: int, tag: str) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        client = CLIENTS[i % len(CLIENTS)]
        nonce = start_nonce + i // len(CLIENTS)
        tx = make_transaction(keys[client], client, nonce, "kv.set", KVSet(key=f"{tag}/{i}", value=b"x" * 32))
        out.append((tx.tx_id.hex(), encode(tx)))
    return out


async def measure(root: Path, cluster, seconds: float, rate: float) -> dict:
    keys = {c: derive_key("ed25519", (root / "nodes" / c / "identity.seed").read_bytes()) for c in CLIENTS}
    urls = [cluster.processes[v]["url"] for v in VALIDATORS]
    procs = [psutil.Process(int(cluster.processes[v]["pid"])) for v in VALIDATORS]
    rss_peak = [0.0]

    async def sample_rss(stop: asyncio.Event) -> None:
        while not stop.is_set():
            rss_peak[0] = max(rss_peak[0], *(p.memory_info().rss / 2**20 for p in procs))
            await asyncio.sleep(0.25)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        stop = asyncio.Event()
        tracker = Tracker()
        follow = asyncio.create_task(tracker.follow(session, urls[0], stop))
        sampler = asyncio.create_task(sample_rss(stop))
        await asyncio.sleep(0.5)
        # phase 1: saturation
        n_sat = int(seconds * 1500)
        sat = sign_batch(keys, 1, n_sat, "sat")
        t0 = time.perf_counter()
        await submit_all(session, urls, sat, tracker, None, 64)
        await _drain(tracker, [t for t, _ in sat], 30)
        done = [tracker.committed[t] for t, _ in sat if t in tracker.committed and t not in tracker.failed]
        sat_tps = len(done) / (max(done) - t0) if done else 0.0
        sat_failed = sum(1 for t, _ in sat if t in tracker.failed)
        # phase 2: fixed rate
        n_rate = int(seconds * rate)
        fixed = sign_batch(keys, 1 + n_sat // len(CLIENTS) + 1, n_rate, "rate")
        elapsed = await submit_all(session, urls, fixed, tracker, rate, 64)
        await _drain(tracker, [t for t, _ in fixed], 30)
        lat = sorted(tracker.committed[t] - tracker.submitted[t] for t, _ in fixed
                     if t in tracker.committed and t not in tracker.failed)
        stop.set()
        follow.cancel()
        await sampler
    return {
        "committed_tx_per_s": round(sat_tps, 1),
        "saturation_committed": len(done), "saturation_failed": sat_failed, "saturation_submitted": n_sat,
        "offered_tx_per_s": round(n_rate / elapsed, 1),
        "p50_latency_s_at_500": round(statistics.median(lat), 4) if lat else None,
        "p99_latency_s_at_500": round(lat[int(0.99 * (len(lat) - 1))], 4) if lat else None,
        "committed_at_500": len(lat), "submitted_at_500": n_rate,
        "rss_mb_max_validator": round(rss_peak[0], 1),
    }


async def _drain(tracker: Tracker, ids: list[str], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(t not in tracker.committed for t in ids):
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per phase")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per phase (default 20)")
    parser.add_argument("--rate", type=float, default=500.0, help="offered load of phase 2 (tx/s)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = scenario_file(root)
        cluster = start_cluster(path, parse_scenario(tomllib.loads(path.read_text())), root / "nodes")
        try:
            _wait_up(cluster)
            time.sleep(2.0)  # settled, before any load: what a chain-only node costs at rest
            idle = max(psutil.Process(int(cluster.processes[v]["pid"])).memory_info().rss / 2**20 for v in VALIDATORS)
            result = asyncio.run(measure(root, cluster, seconds, args.rate))
            result["rss_mb_chain_only_node"] = round(idle, 1)  # goal < 60 (issue 18)
        finally:
            stop_cluster(cluster)
    print(f"{'figure':<28}{'value':>12}")
    for k, v in result.items():
        print(f"{k:<28}{v!s:>12}")
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
