"""A cheap load generator for a chain of real node processes (issue 22), and the figure it is judged by.

The client's work is kept out of the way of the chain's: transactions are signed before the
measured phase, grouped into ``POST /v1/txs`` batches (msgpack list of signed transactions,
each verified and answered on its own by the node) and sent by a few asyncio workers on
pooled connections; commits are followed from one validator's server-sent block events and
its ``/v1/blocks/{h}/receipts`` (transaction ids and validity, no block body). A cap on the
transactions in flight keeps the chain saturated without growing its queues without bound.

:func:`verify_bound` is the ceiling the throughput is compared with: the Ed25519 verification
work alone, ``cores * V / (n + M / B)`` for ``n`` validators that each verify every transaction
once, ``M`` signed consensus messages verified per block (each of n validators verifies the
PRE-PREPARE, and the n-1 PREPAREs and n COMMITs of the others) and ``B`` transactions per block.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import aiohttp

from edgeledger.codec import encode
from edgeledger.crypto.keys import PrivateKey, derive_key, verify_signature
from edgeledger.ledger.kv import KVSet
from edgeledger.ledger.transaction import make_transaction

__all__ = ["Tracker", "SignedTx", "sign_transactions", "batches", "submit_batches", "submit_at_rate",
           "verify_rate", "verify_bound", "consensus_verifications_per_block"]


@dataclass(frozen=True)
class SignedTx:
    tx_id: str  # hex
    body: bytes  # canonical msgpack bytes, as signed
    client: int  # index of the signing client


def sign_transactions(keys: list[PrivateKey], senders: list[str], first_nonce: int, count: int,
                      tag: str) -> list[SignedTx]:
    """``count`` kv.set transactions, round-robin over the clients, nonces from ``first_nonce`` on."""
    out = []
    for i in range(count):
        c = i % len(senders)
        tx = make_transaction(keys[c], senders[c], first_nonce + i // len(senders), "kv.set",
                              KVSet(key=f"{tag}/{i}", value=b"x" * 32))
        out.append(SignedTx(tx.tx_id.hex(), encode(tx), c))
    return out


def batches(txs: list[SignedTx], size: int) -> list[tuple[int, list[SignedTx], bytes]]:
    """Per client, consecutive groups of ``size`` (nonce order kept): ``(client, txs, request body)``."""
    by_client: dict[int, list[SignedTx]] = {}
    for tx in txs:
        by_client.setdefault(tx.client, []).append(tx)
    out = []
    for c, own in sorted(by_client.items()):
        for start in range(0, len(own), size):
            group = own[start:start + size]
            out.append((c, group, group[0].body if size == 1 else encode([t.body for t in group])))
    return out


@dataclass
class Tracker:
    """Commit time of every transaction, from one validator's block events and receipts."""

    committed: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # committed with an invalid receipt (Caliper: a failure)
    submitted: dict[str, float] = field(default_factory=dict)
    refused: int = 0
    blocks: list[int] = field(default_factory=list)  # transactions per block seen
    receipts_endpoint: bool = True

    async def follow(self, session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        seen = 0
        async with session.get(f"{url}/observe/events", timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for raw in resp.content:
                if stop.is_set():
                    return
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                try:
                    height = json.loads(line[5:])["height"]
                except (ValueError, KeyError, TypeError):
                    continue
                now = time.perf_counter()
                for h in range(seen + 1, height + 1):
                    await self._fetch(session, url, h, now)
                seen = max(seen, height)

    async def _fetch(self, session: aiohttp.ClientSession, url: str, height: int, now: float) -> None:
        if self.receipts_endpoint:
            async with session.get(f"{url}/v1/blocks/{height}/receipts") as r:
                if r.status == 200:
                    data = await r.json()
                    self._record(now, data["tx_ids"], [not ok for ok in data["ok"]])
                    return
                self.receipts_endpoint = False  # an older node: read the whole block
        async with session.get(f"{url}/v1/blocks/{height}") as b:
            block = await b.json()
        txs = block["transactions"]
        self._record(now, [t["id"] for t in txs], [bool(t.get("receipt")) and not t["receipt"]["ok"] for t in txs])

    def _record(self, now: float, ids: list[str], bad: list[bool]) -> None:
        self.blocks.append(len(ids))
        for tx_id, is_bad in zip(ids, bad):
            self.committed.setdefault(tx_id, now)
            if is_bad:
                self.failed.add(tx_id)

    async def drain(self, ids: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and any(t not in self.committed for t in ids):
            await asyncio.sleep(0.1)


async def submit_batches(session: aiohttp.ClientSession, urls: list[str], groups: list[tuple[int, list[SignedTx], bytes]],
                         tracker: Tracker, in_flight: int, workers: int, until: float) -> int:
    """Post ``groups`` (client ``c`` to ``urls[c % len(urls)]``) until they run out or ``until``
    (a ``perf_counter`` time); a worker waits while more than ``in_flight`` submitted
    transactions are uncommitted. Returns how many transactions were submitted."""
    queues: dict[int, list[tuple[int, list[SignedTx], bytes]]] = {}
    for g in groups:
        queues.setdefault(g[0], []).append(g)
    sent = 0

    async def worker(client: int, own: list[tuple[int, list[SignedTx], bytes]]) -> None:
        nonlocal sent
        url = urls[client % len(urls)]
        for _, txs, body in own:
            while sent - len(tracker.committed) > in_flight and time.perf_counter() < until:
                await asyncio.sleep(0.005)
            if time.perf_counter() >= until:
                return
            now = time.perf_counter()
            for t in txs:
                tracker.submitted[t.tx_id] = now
            sent += len(txs)
            single = len(txs) == 1 and body is txs[0].body  # one transaction per POST /v1/tx
            async with session.post(f"{url}/v1/tx" if single else f"{url}/v1/txs", data=body,
                                    headers={"content-type": "application/msgpack"}) as resp:
                if resp.status != (202 if single else 200):
                    tracker.refused += len(txs)
                    print("refused:", resp.status, (await resp.text())[:200], file=sys.stderr)
                    continue
                if not single:
                    answer = await resp.json()
                    tracker.refused += len(txs) - answer["accepted"]

    per_client = max(1, workers // max(1, len(queues)))
    tasks = []
    for client, own in queues.items():
        for w in range(per_client):  # a client's batches stay in nonce order per worker
            tasks.append(worker(client, own[w::per_client]))
    await asyncio.gather(*tasks)
    return sent


async def submit_at_rate(session: aiohttp.ClientSession, urls: list[str], txs: list[SignedTx], tracker: Tracker,
                         rate: float, concurrency: int) -> float:
    """One transaction per ``POST /v1/tx`` at ``rate`` tx/s (a device's way of submitting); returns the seconds taken."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(txs)):
        queue.put_nowait(i)
    start = time.perf_counter()

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tx = txs[i]
            tracker.submitted[tx.tx_id] = time.perf_counter()
            async with session.post(f"{urls[tx.client % len(urls)]}/v1/tx", data=tx.body) as resp:
                if resp.status != 202:
                    tracker.refused += 1
                    print("refused:", resp.status, (await resp.text())[:200], file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


def verify_rate(seconds: float = 1.0) -> float:
    """Ed25519 verifications per second of one core's CPU time (PyNaCl, a transaction-sized message).

    CPU time, not wall time: on a shared machine a wall-clock rate counts the time other
    processes hold the core, and the bound would move with the neighbours' load."""
    key = derive_key("ed25519", b"bench")
    tx = make_transaction(key, "device-0", 1, "kv.set", KVSet(key="rate/0", value=b"x" * 32))
    message, signature = tx.signing_bytes(), tx.signature
    done, t0 = 0, time.process_time()
    while (elapsed := time.process_time() - t0) < seconds:
        for _ in range(200):
            verify_signature("ed25519", key.public_key, message, signature)
        done += 200
    return done / elapsed


def consensus_verifications_per_block(n: int) -> int:
    """Signed PBFT messages verified per block over all ``n`` validators: the PRE-PREPARE, the
    n - 1 PREPAREs and the n COMMITs, each verified by the n - 1 validators that receive it."""
    return (n - 1) * (1 + (n - 1) + n)


def verify_bound(cores: int, verifies_per_s: float, n: int, block_txs: float) -> float:
    """``cores * V / (n + M / B)`` transactions per second (see the module docstring)."""
    return cores * verifies_per_s / (n + consensus_verifications_per_block(n) / max(block_txs, 1.0))
