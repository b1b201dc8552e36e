"""Drive one round against HTTP nodes: rate-controlled submission, commit tracking, receipts.

Each worker is a lane that owns one sending identity and submits its transactions one
after another to one node, so a sender's nonces reach the chain in order (nonces start at
the current time in microseconds, so they stay above any earlier run's). Commit times come
from one node's server-sent block events; a transaction's latency is commit seen - submit.
Reads (query rounds) finish when the node answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from edgeledger.bench.metrics import TxRecord
from edgeledger.bench.rate import LoadView, RateController
from edgeledger.bench.workloads import ReadOp, TxOp, Workload
from edgeledger.codec import decode, encode
from edgeledger.ledger.contracts import EndorseRequest, ProposalResponse, assemble
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.blobs import upload_blob

__all__ = ["CommitTracker", "Signer", "RoundPlan", "run_round", "run_setup"]


class CommitTracker:
    """Commit time of every transaction id, from ``{url}/observe/events`` and ``/v1/blocks/{h}``."""

    def __init__(self) -> None:
        self.committed: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, session: aiohttp.ClientSession, url: str) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow(session, url))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _follow(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(f"{url}/v1/head") as resp:
            seen = int((await resp.json())["height"])
        while True:
            try:
                async with session.get(f"{url}/observe/events", timeout=aiohttp.ClientTimeout(total=None)) as resp:
                    async for raw in resp.content:
                        line = raw.decode().strip()
                        if not line.startswith("data:"):
                            continue
                        payload = json.loads(line[5:])
                        if "height" not in payload:
                            continue
                        now = time.time()
                        for h in range(seen + 1, int(payload["height"]) + 1):
                            async with session.get(f"{url}/v1/blocks/{h}") as b:
                                block = await b.json()
                            for tx in block["transactions"]:
                                self.committed.setdefault(tx["id"], now)
                            seen = h
                        self.changed.set()
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                await asyncio.sleep(0.2)


class Signer:
    """Per-sender keys and increasing nonces."""

    def __init__(self, keys: dict[str, PrivateKey]) -> None:
        self.keys = keys
        base = time.time_ns() // 1000
        self.nonces = {s: base for s in keys}

    def next_nonce(self, sender: str) -> int:
        self.nonces[sender] += 1
        return self.nonces[sender]

    def sign(self, sender: str, op: TxOp, nonce: int | None = None) -> tuple[str, bytes]:
        nonce = self.next_nonce(sender) if nonce is None else nonce
        tx = make_transaction(self.keys[sender], sender, nonce, op.kind, op.payload)
        return tx.tx_id.hex(), encode(tx)


#: role -> endorsing peers' URLs (``Network.endorser_urls``)
Endorsers = dict[str, list[str]]


async def _endorse(session: aiohttp.ClientSession, op: TxOp, sender: str, nonce: int, endorsers: Endorsers,
                   lane: int) -> tuple[TxOp | None, str]:
    """Fabric's execute: one peer per role in ``op.endorse`` (rotating by lane) simulates and signs;
    returns the op carrying the assembled call, or None and why."""
    request = EndorseRequest(sender=sender, call=op.payload, nonce=nonce)
    chosen: list[str] = []
    for k, role in enumerate(op.endorse):
        peers = [u for u in endorsers.get(role, []) if u not in chosen]
        if not peers:
            return None, f"no endorsing peer with role {role!r} left (have {sorted(endorsers)})"
        chosen.append(peers[(lane + k) % len(peers)])
    responses = []
    for url in chosen:
        async with session.post(f"{url}/v1/endorse", data=encode(request)) as resp:
            if resp.status != 200:
                return None, f"endorse HTTP {resp.status}: {(await resp.text())[:200]}"
            responses.append(decode(await resp.read(), ProposalResponse))
    try:
        call = assemble(request, responses)
    except EdgeLedgerError as exc:
        return None, f"endorsement: {exc}"[:200]
    return TxOp(op.kind, call, op.blob), ""


_IDENTITIES: dict[str, tuple[str, str]] = {}


async def _identity_of(session: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    """(node id, chain id) of the node at ``url`` (from /v1/health, asked once)."""
    if url not in _IDENTITIES:
        async with session.get(f"{url}/v1/health") as resp:
            body = await resp.json()
        _IDENTITIES[url] = (body.get("node", ""), body.get("chain_id", ""))
    return _IDENTITIES[url]


@dataclass
class RoundPlan:
    tx_number: int | None
    duration_s: float | None
    workers: int
    timeout_s: float


async def _send(session: aiohttp.ClientSession, url: str, op: TxOp | ReadOp, signer: Signer, sender: str,
                rec: TxRecord, endorsers: Endorsers | None = None, lane: int = 0) -> str | None:
    """Submit one operation; returns the tx id to await, or None when it finished here."""
    try:
        if isinstance(op, ReadOp):
            rec.submit = time.time()
            async with session.get(f"{url}{op.path}") as resp:
                await resp.read()
                rec.finish, rec.ok = time.time(), resp.status == 200
                rec.reason = "" if rec.ok else f"HTTP {resp.status}"
            return None
        rec.submit = time.time()
        nonce = signer.next_nonce(sender)
        if op.endorse:
            endorsed, why = await _endorse(session, op, sender, nonce, endorsers or {}, lane)
            if endorsed is None:
                rec.finish, rec.reason = time.time(), why
                return None
            op = endorsed
        tx_id, body = signer.sign(sender, op, nonce)
        if op.blob is not None:  # uploaded signed by the sender, to the node it names (PUT /v1/blobs)
            node_id, chain_id = await _identity_of(session, url)
            status, text = await upload_blob(session, url, op.blob, signer.keys[sender], sender, chain_id, node_id)
            if status != 201:
                rec.finish, rec.reason = time.time(), f"blob upload HTTP {status}: {text}"
                return None
        async with session.post(f"{url}/v1/tx", data=body) as resp:
            if resp.status != 202:
                rec.finish, rec.reason = time.time(), f"HTTP {resp.status}: {(await resp.text())[:200]}"
                return None
        return tx_id
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        rec.finish, rec.reason = time.time(), f"{type(exc).__name__}: {exc}"
        return None


async def run_round(session: aiohttp.ClientSession, urls: list[str], senders: list[str], signer: Signer,
                    workload: Workload, ctl: RateController, plan: RoundPlan,
                    tracker: CommitTracker, endorsers: Endorsers | None = None) -> list[TxRecord]:
    """Run one round; return one record per transaction (Caliper's trace)."""
    if not senders:
        raise ConfigError("no identity can send transactions in this network (keys_dir has no member keys)")
    # workers may share a sender: the ledger's nonce window accepts a sender's nonces out of order
    trace: list[TxRecord] = []
    done_count = [0]  # finished records (failed at submit, or committed): in flight = len(trace) - done
    pending: dict[str, TxRecord] = {}
    finished: deque[float] = deque()
    queues: list[asyncio.Queue[int | None]] = [asyncio.Queue() for _ in range(plan.workers)]
    done_event = asyncio.Event()

    async def lane(k: int) -> None:
        sender, url = senders[k % len(senders)], urls[k % len(urls)]
        while (i := await queues[k].get()) is not None:
            rec = trace[i]
            tx_id = await _send(session, url, workload.op(i, sender), signer, sender, rec, endorsers, k)
            if tx_id is None:
                finished.append(time.time())
                done_count[0] += 1
                done_event.set()
            else:
                rec.tx_id = tx_id
                pending[tx_id] = rec

    lanes = [asyncio.get_running_loop().create_task(lane(k)) for k in range(plan.workers)]
    start = time.time()
    i = 0
    while (plan.tx_number is None or i < plan.tx_number) and (plan.duration_s is None or time.time() - start < plan.duration_s):
        done_count[0] += _collect(pending, tracker, finished)
        while finished and finished[0] < time.time() - 1.0:
            finished.popleft()
        in_flight = len(trace) - done_count[0]
        at = ctl.send_at(i, LoadView(time.time() - start, in_flight, float(len(finished))))
        if at is None:
            done_event.clear()
            tracker.changed.clear()
            await _first(done_event.wait(), tracker.changed.wait(), timeout=0.05)
            continue
        delay = start + at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        trace.append(TxRecord(submit=time.time()))
        queues[i % plan.workers].put_nowait(i)
        i += 1
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*lanes)
    deadline = time.time() + plan.timeout_s
    while time.time() < deadline:
        _collect(pending, tracker, finished)
        if not pending:
            break
        tracker.changed.clear()
        await _first(tracker.changed.wait(), timeout=0.2)
    for rec in pending.values():
        rec.reason = f"not committed within timeout_s={plan.timeout_s}"
    if workload.check_receipts:
        await _check_receipts(session, urls[0], trace)
    return trace


def _collect(pending: dict[str, TxRecord], tracker: CommitTracker, finished: deque[float]) -> int:
    """Move committed transactions out of ``pending``; returns how many."""
    done = [t for t in pending if t in tracker.committed]
    for tx_id in done:
        rec = pending.pop(tx_id)
        rec.finish, rec.ok, rec.committed = tracker.committed[tx_id], True, True
        finished.append(rec.finish)
    return len(done)


async def _first(*aws: Any, timeout: float) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()


async def _check_receipts(session: aiohttp.ClientSession, url: str, trace: list[TxRecord]) -> None:
    """A committed transaction whose receipt is not ok is a failure (Caliper's invalid transaction)."""
    sem = asyncio.Semaphore(16)

    async def one(rec: TxRecord) -> None:
        async with sem:
            try:
                async with session.get(f"{url}/v1/tx/{rec.tx_id}") as resp:
                    receipt = (await resp.json()).get("receipt") if resp.status == 200 else None
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                return
            if receipt is not None and not receipt.get("ok", True):
                rec.ok, rec.reason = False, f"{receipt.get('code', 'INVALID')}: {receipt.get('reason', 'invalid')}"

    await asyncio.gather(*(one(r) for r in trace if r.committed))


async def run_setup(session: aiohttp.ClientSession, url: str, signer: Signer, ops: list[tuple[str, TxOp]],
                    tracker: CommitTracker, endorsers: Endorsers | None = None, timeout: float = 30.0) -> None:
    """Submit set-up transactions one by one and wait until all are committed (not measured); an
    endorsed call waits for the set-up before it (its endorsers simulate on committed state)."""
    if not ops:
        return
    ids: list[str] = []
    deadline = time.time() + timeout

    async def committed() -> None:
        while any(t not in tracker.committed for t in ids):
            if time.time() > deadline:
                raise EdgeLedgerError(f"set-up transactions not committed within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    for sender, op in ops:
        if op.endorse:
            await committed()
            await asyncio.sleep(0.3)  # every endorser applies the block, not just the tracked one
        rec = TxRecord(submit=time.time())
        tx_id = await _send(session, url, op, signer, sender, rec, endorsers)
        if tx_id is None:
            raise EdgeLedgerError(f"set-up transaction {op.kind} refused by {url}: {rec.reason}")
        ids.append(tx_id)
    await committed()
