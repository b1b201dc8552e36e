"""A partition test on real processes, in the spirit of Jepsen.

Four validator processes (and the devices whose keys the clients sign with) run on
127.0.0.1. Concurrent clients submit ``kv.set`` transactions to random validators; a
transaction is *acknowledged* when ``POST /v1/tx`` answered 202 (a refused or failed request
is not: its outcome is unknown to the client). A nemesis, from one seed, injects faults for a
bounded time: random partitions of the validators (links cut both ways through the admin
``/v1/admin/links`` API, then healed) and SIGKILL of a validator followed by a restart on the
same data directory. Then the faults stop, every link heals, and the checker waits for the
network to recover and reads every node's chain: every acknowledged transaction must be
committed exactly once (with a valid receipt) on every node, and all chains must agree.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.deploy.cluster import Cluster, restart_node, start_cluster, stop_cluster
from edgeledger.ledger.kv import KVSet
from edgeledger.ledger.transaction import make_transaction
from edgeledger.scenario.schema import apply_overrides, parse_scenario

__all__ = ["PartitionResult", "run_partition_test", "VALIDATORS"]

VALIDATORS = ["edge-0", "edge-1", "edge-2", "edge-3"]
CLIENTS = ["device-0", "device-1", "device-2", "device-3"]
SETTINGS = ["name=\"jepsen\"", "topology.edges=4", "topology.devices_per_edge=1", "topology.validators=[\"edge\"]",
            "fl.enabled=false", "attacks=[]", "fl.clients_per_round=4", "consensus.view_change_timeout_s=1.0",
            "consensus.view_change_timeout_max_s=8.0"]


@dataclass
class PartitionResult:
    seed: int
    operations: int = 0  # submissions attempted
    acknowledged: int = 0
    indeterminate: int = 0  # refused or failed requests (their outcome is unknown to the client)
    faults: Counter = field(default_factory=Counter)
    acknowledged_lost: int = 0
    duplicated: int = 0
    chains_agree: bool = False
    recovered: bool = False
    recovery_s: float = 0.0
    height: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"seed": self.seed, "operations": self.operations, "acknowledged": self.acknowledged,
                "indeterminate": self.indeterminate, "faults": sum(self.faults.values()),
                "partitions": self.faults["partition"], "kills": self.faults["kill"],
                "acknowledged_lost": self.acknowledged_lost, "duplicated": self.duplicated,
                "chains_agree": self.chains_agree, "recovered": self.recovered,
                "recovery_s": round(self.recovery_s, 2), "height": self.height}


def _scenario(root: Path) -> Path:
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    data = apply_overrides(data, SETTINGS)
    parse_scenario(data)
    path = root / "jepsen.toml"
    path.write_text(tomli_w.dumps(data))
    return path


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
            return resp.status, await resp.json()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
        return 0, None


class _Run:
    def __init__(self, cluster: Cluster, scenario: Path, seed: int, rate_per_client: float) -> None:
        self.cluster, self.scenario, self.rng = cluster, scenario, random.Random(seed)
        self.rate = rate_per_client
        self.result = PartitionResult(seed=seed)
        self.acked: set[str] = set()
        self.stop = asyncio.Event()
        root = cluster.root
        self.keys = {c: derive_key("ed25519", (root / c / "identity.seed").read_bytes()) for c in CLIENTS}
        self.auth = {"Authorization": f"Bearer {cluster.token}"}

    def url(self, node: str) -> str:
        return str(self.cluster.processes[node]["url"])

    async def client(self, session: aiohttp.ClientSession, name: str, k: int) -> None:
        rng = random.Random(self.rng.random())
        nonce = 0
        while not self.stop.is_set():
            nonce += 1
            tx = make_transaction(self.keys[name], name, nonce, "kv.set", KVSet(key=f"{name}/{nonce}", value=b"v"))
            self.result.operations += 1
            try:
                async with session.post(f"{self.url(rng.choice(VALIDATORS))}/v1/tx", data=encode(tx),
                                        timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    if resp.status == 202:
                        self.acked.add(tx.tx_id.hex())
                    else:
                        self.result.indeterminate += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                self.result.indeterminate += 1
            await asyncio.sleep(rng.expovariate(self.rate))

    async def links(self, session: aiohttp.ClientSession, node: str, body: dict[str, list[str]]) -> None:
        try:
            async with session.post(f"{self.url(node)}/v1/admin/links", json=body, headers=self.auth,
                                    timeout=aiohttp.ClientTimeout(total=3)) as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass  # a killed node: nothing to cut

    async def heal(self, session: aiohttp.ClientSession) -> None:
        await asyncio.gather(*(self.links(session, v, {"unblock": VALIDATORS}) for v in VALIDATORS))

    async def nemesis(self, session: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.uniform(1.0, 2.5))
            if self.stop.is_set():
                return
            n = sum(self.result.faults.values())
            if (self.rng.random() < 0.6 or n == 0) and n != 1:  # the first is a partition, the second a kill
                nodes = VALIDATORS[:]
                self.rng.shuffle(nodes)
                cut = self.rng.choice((1, 2))
                side_a, side_b = nodes[:cut], nodes[cut:]
                await asyncio.gather(*(self.links(session, a, {"block": side_b}) for a in side_a),
                                     *(self.links(session, b, {"block": side_a}) for b in side_b))
                self.result.faults["partition"] += 1
                await asyncio.sleep(self.rng.uniform(1.5, 4.0))
                await self.heal(session)
            else:
                victim = self.rng.choice(VALIDATORS)
                pid = int(self.cluster.processes[victim]["pid"])
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                self.result.faults["kill"] += 1
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                restart_node(self.cluster, victim, self.scenario)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and (await _get(session, f"{self.url(victim)}/v1/health"))[0] != 200:
                    await asyncio.sleep(0.2)

    async def chain_of(self, session: aiohttp.ClientSession, node: str, known: dict[str, list[Any]]) -> None:
        """Read ``node``'s blocks past those already read into ``known[node]``."""
        status, head = await _get(session, f"{self.url(node)}/v1/head")
        if status != 200:
            return
        blocks = known.setdefault(node, [])
        for h in range(len(blocks) + 1, head["height"] + 1):
            status, block = await _get(session, f"{self.url(node)}/v1/blocks/{h}")
            if status != 200:
                return
            blocks.append(block)

    async def check(self, session: aiohttp.ClientSession, timeout: float) -> None:
        r = self.result
        known: dict[str, list[Any]] = {}
        start = time.monotonic()
        while True:
            await asyncio.gather(*(self.chain_of(session, v, known) for v in VALIDATORS))
            valid = {v: Counter(tx["id"] for b in known.get(v, []) for tx in b["transactions"]
                                if tx.get("receipt") and tx["receipt"]["ok"]) for v in VALIDATORS}
            lost = {v: [t for t in self.acked if valid[v][t] == 0] for v in VALIDATORS}
            heights = {v: len(known.get(v, [])) for v in VALIDATORS}
            if not any(lost.values()) and len(set(heights.values())) == 1:
                r.recovered = True
                break
            if time.monotonic() - start > timeout:
                r.problems.append(f"not recovered after {timeout} s: heights {heights}, "
                                  f"missing {[(v, len(x)) for v, x in lost.items()]}")
                break
            await asyncio.sleep(0.5)
        r.recovery_s = time.monotonic() - start
        r.acknowledged = len(self.acked)
        r.acknowledged_lost = len({t for x in lost.values() for t in x})
        r.duplicated = sum(1 for v in VALIDATORS for t in self.acked if valid[v][t] > 1)
        common = min(heights.values())
        r.height = common
        r.chains_agree = common > 0 and all(
            len({known[v][h]["hash"] for v in VALIDATORS}) == 1 for h in range(common))

    async def run(self, seconds: float, recovery_timeout: float) -> PartitionResult:
        async with aiohttp.ClientSession() as session:
            await self._wait_up(session)
            tasks = [asyncio.create_task(self.client(session, c, k)) for k, c in enumerate(CLIENTS)]
            nemesis = asyncio.create_task(self.nemesis(session))
            await asyncio.sleep(seconds)
            self.stop.set()
            await asyncio.gather(*tasks, nemesis)
            await self.heal(session)
            await self.check(session, recovery_timeout)
        return self.result

    async def _wait_up(self, session: aiohttp.ClientSession, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for node in VALIDATORS + CLIENTS:
            while (await _get(session, f"{self.url(node)}/v1/health"))[0] != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node} did not come up in {timeout} s")
                await asyncio.sleep(0.25)


def run_partition_test(root: Path, seconds: float, seed: int = 1, rate_per_client: float = 15.0,
                       recovery_timeout: float = 90.0) -> PartitionResult:
    """Start the network under ``root``, run clients and the nemesis for ``seconds``, heal, check."""
    root.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(root)
    cluster = start_cluster(scenario, parse_scenario(tomllib.loads(scenario.read_text())), root / "nodes")
    try:
        return asyncio.run(_Run(cluster, scenario, seed, rate_per_client).run(seconds, recovery_timeout))
    finally:
        stop_cluster(cluster)
