"""The asyncio HTTP driver: the same sans-IO node, on a real network (aiohttp).

Why aiohttp: one library gives both the server and a client with persistent, pooled
connections and streaming bodies, on plain asyncio, with no ASGI stack in between.

Outbound messages are queued per peer and sent in FIFO batches (``POST /v1/messages``,
one signed :class:`EnvelopeBatch`: one signature for the whole batch) by one worker per
peer, with exponential back-off retries; a peer that stays unreachable has its messages
dropped (and counted) — consensus and the FL round already tolerate loss. Inbound batches
(and single envelopes, a msgpack list of signed :class:`Envelope` bytes) are size-limited,
rate-limited per sender, checked (known sender, signature, addressee, replay) and decoded
into the node's typed messages before the node sees them.

Signature checks of transactions a batch carries (relayed client requests) run on a worker
thread before the node handles the batch, when the node offers them
(``pending_signatures`` / ``check_signatures`` / ``record_verified``): PyNaCl releases the
GIL, so the event loop keeps serving while the thread verifies, and the node then finds
them verified (issue 22).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, CancelTimer, Deferred, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import EdgeLedgerError
from edgeledger.net.envelope import EnvelopeBatch, ReplayWindow, open_batch, open_envelope, seal_batch
from edgeledger.net.sim import Host

__all__ = ["HttpDriver", "DriverStats", "MAX_REQUEST_BYTES"]

log = logging.getLogger("edgeledger.net.http")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_BATCH = 1024  # messages per outbound batch
MAX_BATCH_BYTES = 8 * 1024 * 1024  # and bytes (a batch may close earlier, never split a message)
PREVERIFY_MIN = 8  # fewer unchecked transactions than this are verified inline


@dataclass
class DriverStats:
    bytes_out: int = 0
    bytes_in: int = 0
    messages_out: int = 0
    messages_in: int = 0
    dropped: int = 0
    rejected: int = 0
    retries: int = 0
    by_type_out: Counter = field(default_factory=Counter)


class _RateLimit:
    """Token bucket per sender: ``rate`` envelopes per second with bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, sender: str, now: float, cost: float = 1.0) -> bool:
        tokens, last = self.buckets.get(sender, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self.buckets[sender] = (tokens, now)
            return False
        self.buckets[sender] = (tokens - cost, now)
        return True


class HttpDriver:
    """Hosts one node: turns its effects into HTTP requests and timers, and requests into inputs."""

    def __init__(self, host: Host, key: PrivateKey, verify: Callable[[str, bytes, bytes], bool],
                 peers: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 on_metric: Callable[[str, Metric, float], None] | None = None,
                 rate_per_peer: float = 20_000.0, retries: int = 6, cipher: Any = None,
                 public_key_of: Callable[[str], bytes] | None = None, ssl: Any = None) -> None:
        self.host, self.key, self.verify, self.clock = host, key, verify, clock
        self.peers: dict[str, str] = dict(peers or {})
        self.on_metric = on_metric
        self.stats = DriverStats()
        self.retries = retries
        self.cipher = cipher  # wire encryption of envelope bodies (None: clear text, signed)
        self.public_key_of = public_key_of
        self.ssl = ssl  # an ssl.SSLContext trusting the cluster CA, when the cluster uses TLS
        self.window = ReplayWindow()
        self.limit = _RateLimit(rate_per_peer, rate_per_peer)
        self.rejections: deque[tuple[float, str, str, str]] = deque(maxlen=1000)
        self.listeners: list[Callable[[str, Any], None]] = []  # dashboards: (event, data)
        self._sequence = int(time.time() * 1000) << 16  # monotonic across restarts
        self.blocked: set[str] = set()  # peers whose link is cut (fault injection by an admin)
        self._queues: dict[str, asyncio.Queue[tuple[bytes, Any]]] = {}
        self._verifiers: ThreadPoolExecutor | None = None
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=4, keepalive_timeout=30,
                                           ssl=self.ssl if self.ssl is not None else True),
            timeout=aiohttp.ClientTimeout(total=30, connect=2))

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        for handle in self._timers.values():
            handle.cancel()
        if self._session is not None:
            await self._session.close()
        if self._verifiers is not None:
            self._verifiers.shutdown(wait=False, cancel_futures=True)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.handle_messages)]

    # -- effects -----------------------------------------------------------------------------
    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._enqueue(effect.to, effect.message)
            elif isinstance(effect, Broadcast):
                body = encode(effect.message)
                for to in effect.to:
                    self._enqueue(to, effect.message, body)
            elif isinstance(effect, SetTimer):
                self._set_timer(effect.name, effect.delay_s)
            elif isinstance(effect, CancelTimer):
                handle = self._timers.pop(effect.name, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, Metric):
                if self.on_metric:
                    self.on_metric(self.host.node_id, effect, self.clock())
                self._notify("metric", effect)
            elif isinstance(effect, Rejected):
                self.stats.rejected += 1
                self.rejections.append((self.clock(), effect.sender, effect.what, effect.reason))
                log.info("rejected %s from %s: %s", effect.what, effect.sender, effect.reason)
            elif isinstance(effect, Deferred):
                asyncio.get_running_loop().create_task(self._run_deferred(effect))

    def _notify(self, event: str, data: Any) -> None:
        for listener in list(self.listeners):
            listener(event, data)

    async def _run_deferred(self, effect: Deferred) -> None:
        result = await asyncio.get_running_loop().run_in_executor(None, effect.run)
        self.apply(effect.done(result, self.clock()))

    def _set_timer(self, name: str, delay: float) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(max(delay, 0.0), self._fire, name)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.apply(self.host.on_timer(name, self.clock()))

    def submit_local(self, effects: list[Effect]) -> None:
        """Apply effects produced outside a message (API submissions, start-up)."""
        self.apply(effects)

    # -- outbound ----------------------------------------------------------------------------
    def _enqueue(self, to: str, message: Any, body: bytes | None = None) -> None:
        body = encode(message) if body is None else body
        if self.cipher is not None and self.public_key_of is not None:
            body = self.cipher.seal(self.public_key_of(to), body)  # per recipient, under the signed envelope
        tag = type(message).__struct_config__.tag or type(message).__name__
        self.stats.by_type_out[tag] += len(body)
        queue = self._queues.get(to)
        if queue is None:
            queue = self._queues[to] = asyncio.Queue()
            self._workers[to] = asyncio.get_running_loop().create_task(self._worker(to, queue))
        queue.put_nowait((body, message))

    async def _worker(self, to: str, queue: asyncio.Queue[tuple[bytes, Any]]) -> None:
        while True:
            batch = [await queue.get()]
            size = len(batch[0][0])
            while not queue.empty() and len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
                batch.append(queue.get_nowait())
                size += len(batch[-1][0])
            self._sequence += 1  # one signature for the batch
            payload = seal_batch(self.key, self.host.node_id, to, self._sequence, [body for body, _ in batch])
            if not await self._post(to, payload):
                self.stats.dropped += len(batch)
                self._undeliverable(to, [message for _, message in batch])
                continue
            self.stats.bytes_out += len(payload)
            self.stats.messages_out += len(batch)

    def _undeliverable(self, to: str, messages: list[Any]) -> None:
        """Tell the node what could not be delivered, so its services may take a detour."""
        handler = getattr(self.host, "on_undeliverable", None)
        if handler is not None:
            for message in messages:
                self.apply(handler(to, message, self.clock()))

    async def _post(self, to: str, payload: bytes) -> bool:
        if to in self.blocked:
            return False
        delay = 0.05
        for attempt in range(self.retries):
            url = self.peers.get(to)
            if url is not None and self._session is not None:
                try:
                    async with self._session.post(f"{url}/v1/messages", data=payload,
                                                  headers={"content-type": "application/msgpack"}) as resp:
                        if resp.status < 500:
                            if resp.status >= 400:
                                log.warning("%s refused a batch: %s %s", to, resp.status, await resp.text())
                            return resp.status < 400
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    log.debug("send to %s failed (attempt %d): %s", to, attempt + 1, exc)
            self.stats.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return False

    # -- inbound -----------------------------------------------------------------------------
    async def handle_messages(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            return web.json_response({"error": f"body over {MAX_REQUEST_BYTES} bytes"}, status=413)
        data = await request.read()
        self.stats.bytes_in += len(data)
        try:
            batch = decode(data, EnvelopeBatch)
        except EdgeLedgerError:
            batch = None
        if batch is not None:
            accepted, total = await self._accept_batch(batch), len(batch.bodies)
        else:
            try:
                envelopes = decode(data, list[bytes])
            except EdgeLedgerError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            accepted, total = 0, len(envelopes)
            for raw in envelopes:  # no await inside: each envelope is handled atomically
                accepted += self._accept(raw)
        status = 202 if accepted == total else 400
        return web.json_response({"accepted": accepted, "of": total}, status=status)

    async def _accept_batch(self, batch: EnvelopeBatch) -> int:
        """Check the batch once, decode every message, verify the transactions they carry off the
        event loop, then hand the messages to the node in order with no await in between."""
        now = self.clock()
        try:
            open_batch(batch, self.host.node_id, self.verify, self.window)
            if not self.limit.allow(batch.sender, now, float(len(batch.bodies))):
                raise EdgeLedgerError(f"rate limit exceeded for {batch.sender!r}")
            if batch.sender in self.blocked:
                raise EdgeLedgerError(f"link to {batch.sender!r} is cut")
        except EdgeLedgerError as exc:
            self.apply([Rejected("?", "envelope", str(exc))])
            return 0
        messages = []
        for body in batch.bodies:
            try:
                clear = self.cipher.open(self.key, body) if self.cipher is not None else body
                messages.append(self.host.decode_message(clear))
            except EdgeLedgerError as exc:
                self.apply([Rejected(batch.sender, "envelope", str(exc))])
        await self._preverify(messages)
        now = self.clock()
        effects: list[Effect] = []
        with self._group():  # group commit: the batch's writes are durable before any of its effects leave
            for message in messages:
                self.stats.messages_in += 1
                effects += self.host.on_message(batch.sender, message, now)
        self.apply(effects)
        return len(messages)

    def _group(self) -> AbstractContextManager[None]:
        group = getattr(self.host, "durable_group", None)
        return group() if group is not None else nullcontext()

    async def _preverify(self, messages: list[Any]) -> None:
        """Verify, on a worker thread, the transaction signatures ``messages`` carry that the node
        has not checked yet; the node records the good ones (and rejects the bad ones itself later)."""
        pending = getattr(self.host, "pending_signatures", None)
        txs = pending(messages) if pending is not None else []
        if len(txs) < PREVERIFY_MIN:
            return
        self.host.record_verified(await self.verify_off_loop(txs))

    async def verify_off_loop(self, txs: list[Any]) -> list[bytes]:
        """The ids of the ``txs`` whose signatures check out, verified on two worker threads."""
        if self._verifiers is None:
            self._verifiers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify")
        loop = asyncio.get_running_loop()
        half = (len(txs) + 1) // 2
        parts = [txs[:half], txs[half:]] if len(txs) >= 2 * PREVERIFY_MIN else [txs]
        done = await asyncio.gather(*(loop.run_in_executor(self._verifiers, self.host.check_signatures, part)
                                      for part in parts if part))
        return [tx_id for ids in done for tx_id in ids]

    def _accept(self, raw: bytes) -> int:
        now = self.clock()
        try:
            env = open_envelope(raw, self.host.node_id, self.verify, self.window)
            if not self.limit.allow(env.sender, now):
                raise EdgeLedgerError(f"rate limit exceeded for {env.sender!r}")
            body = self.cipher.open(self.key, env.body) if self.cipher is not None else env.body
            message = self.host.decode_message(body)
            if env.sender in self.blocked:
                raise EdgeLedgerError(f"link to {env.sender!r} is cut")
        except EdgeLedgerError as exc:
            self.apply([Rejected("?", "envelope", str(exc))])
            return 0
        self.stats.messages_in += 1
        self.apply(self.host.on_message(env.sender, message, now))
        return 1
