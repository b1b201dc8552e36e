"""The asyncio HTTP driver: the same sans-IO node, on a real network (aiohttp).

Why aiohttp: one library gives both the server and a client with persistent, pooled
connections and streaming bodies, on plain asyncio, with no ASGI stack in between.

Outbound messages are queued per peer and sent in FIFO batches (``POST /v1/messages``,
a msgpack list of signed :class:`Envelope` bytes) by one worker per peer, with
exponential back-off retries; a peer that stays unreachable has its messages dropped
(and counted) — consensus and the FL round already tolerate loss. Each peer's queue is
bounded (``max_queue`` messages, ``max_queue_bytes`` bytes): when a slow or unreachable peer
fills it, the *oldest* queued message is dropped and counted as ``queue_full`` (newer PBFT
messages supersede older ones, and the protocol recovers lost ones by retransmission, view
change and state transfer). Inbound envelopes are size-limited, checked for their chain and
addressee, rate-limited per claimed sender and source address *before* any signature is
verified, then checked for replay and signature, and decoded into the node's typed messages
before the node sees them. With a :class:`WireLog` the highest accepted sequence per sender
is durable before the node sees a batch, so a replay to a restarted node is refused too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, CancelTimer, Deferred, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import EdgeLedgerError, SignatureError
from edgeledger.net.envelope import SEQUENCE_LEASE, Envelope, ReplayWindow, WireLog, check_envelope, open_envelope, seal
from edgeledger.net.sim import Host

__all__ = ["HttpDriver", "DriverStats", "MAX_REQUEST_BYTES"]

log = logging.getLogger("edgeledger.net.http")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_BATCH = 256
MAX_QUEUE = 4096  # messages queued per peer before the oldest is dropped
MAX_QUEUE_BYTES = 256 * 1024 * 1024  # bytes queued per peer (model blobs are large) before the oldest is dropped
MAX_BUCKETS = 4096  # rate-limit buckets kept (least recently used ones are forgotten)


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
    dropped_by_reason: Counter = field(default_factory=Counter)  # queue_full, unreachable, link_cut
    rejected_by_reason: Counter = field(default_factory=Counter)  # rate_limited, replay, signature, ...


class RateLimit:
    """Token buckets: ``rate`` requests per second with bursts of ``burst`` per key (a claimed
    sender and its source address, or a client address); at most ``MAX_BUCKETS`` keys are kept,
    the least recently used forgotten first (a flood of invented keys cannot grow memory)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()

    def allow(self, key: Any, now: float, cost: float = 1.0) -> bool:
        tokens, last = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= cost
        self.buckets[key] = (tokens - cost if allowed else tokens, now)
        if len(self.buckets) > MAX_BUCKETS:
            self.buckets.popitem(last=False)
        return allowed


class HttpDriver:
    """Hosts one node: turns its effects into HTTP requests and timers, and requests into inputs."""

    def __init__(self, host: Host, key: PrivateKey, verify: Callable[[str, bytes, bytes], bool],
                 peers: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 on_metric: Callable[[str, Metric, float], None] | None = None,
                 rate_per_peer: float = 20_000.0, retries: int = 6, cipher: Any = None,
                 public_key_of: Callable[[str], bytes] | None = None, ssl: Any = None, chain_id: str = "",
                 wire_log: WireLog | None = None, max_queue: int = MAX_QUEUE,
                 max_queue_bytes: int = MAX_QUEUE_BYTES) -> None:
        self.host, self.key, self.verify, self.clock = host, key, verify, clock
        self.peers: dict[str, str] = dict(peers or {})
        self.on_metric = on_metric
        self.stats = DriverStats()
        self.retries = retries
        self.cipher = cipher  # wire encryption of envelope bodies (None: clear text, signed)
        self.public_key_of = public_key_of
        self.ssl = ssl  # an ssl.SSLContext trusting the cluster CA, when the cluster uses TLS
        self.chain_id = chain_id  # every envelope names it, signed: no replays across chains
        self.wire_log = wire_log
        self.window = ReplayWindow(floor=wire_log.floors() if wire_log is not None else {})
        self.limit = RateLimit(rate_per_peer, rate_per_peer)
        self.max_queue, self.max_queue_bytes = max_queue, max_queue_bytes
        self._queued_bytes: Counter = Counter()
        self._last_refusal = ""
        self.rejections: deque[tuple[float, str, str, str]] = deque(maxlen=1000)
        self.listeners: list[Callable[[str, Any], None]] = []  # dashboards: (event, data)
        self._sequence = int(time.time() * 1000) << 16  # monotonic across restarts (with a wire log, by lease)
        self._lease = 0
        if wire_log is not None:
            self._sequence = max(self._sequence, wire_log.lease())
        self.blocked: set[str] = set()  # peers whose link is cut (fault injection by an admin)
        self._queues: dict[str, deque[tuple[bytes, Any]]] = {}
        self._ready: dict[str, asyncio.Event] = {}
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
        if self.wire_log is not None:
            self.wire_log.close()

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
    def _next_sequence(self) -> int:
        self._sequence += 1
        if self.wire_log is not None and self._sequence >= self._lease:  # reserve durably before use
            self._lease = self._sequence + SEQUENCE_LEASE
            self.wire_log.extend_lease(self._lease)
        return self._sequence

    def _enqueue(self, to: str, message: Any, body: bytes | None = None) -> None:
        body = encode(message) if body is None else body
        if self.cipher is not None and self.public_key_of is not None:
            body = self.cipher.seal(self.public_key_of(to), body)  # per recipient, under the signed envelope
        data = seal(self.key, self.host.node_id, to, self._next_sequence(), body, self.chain_id)
        tag = type(message).__struct_config__.tag or type(message).__name__
        self.stats.by_type_out[tag] += len(data)
        queue = self._queues.get(to)
        if queue is None:
            queue = self._queues[to] = deque()
            self._ready[to] = asyncio.Event()
            self._workers[to] = asyncio.get_running_loop().create_task(self._worker(to, queue))
        queue.append((data, message))
        self._queued_bytes[to] += len(data)
        while len(queue) > self.max_queue or (self._queued_bytes[to] > self.max_queue_bytes and len(queue) > 1):
            old, _ = queue.popleft()  # the oldest goes: newer consensus messages supersede it
            self._queued_bytes[to] -= len(old)
            self._drop(1, "queue_full")
        self._ready[to].set()

    def _drop(self, count: int, reason: str) -> None:
        self.stats.dropped += count
        self.stats.dropped_by_reason[reason] += count

    def queued(self, to: str | None = None) -> int:
        """Messages waiting to be sent (to ``to``, or to every peer)."""
        if to is not None:
            return len(self._queues.get(to, ()))
        return sum(len(q) for q in self._queues.values())

    async def _worker(self, to: str, queue: deque[tuple[bytes, Any]]) -> None:
        ready = self._ready[to]
        while True:
            if not queue:
                ready.clear()
                await ready.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            self._queued_bytes[to] -= sum(len(d) for d, _ in batch)
            payload = encode([data for data, _ in batch])
            if not await self._post(to, payload):
                self._drop(len(batch), "link_cut" if to in self.blocked else "unreachable")
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
            envelopes = decode(data, list[bytes])
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        # no await from here on: the batch is checked, made durable and handed to the node atomically
        now = self.clock()
        opened = [m for raw in envelopes if (m := self._open(raw, request.remote or "?", now)) is not None]
        if self.wire_log is not None and opened:  # durable before the node acts on any of them
            highest: dict[str, int] = {}
            for env, _ in opened:
                highest[env.sender] = max(highest.get(env.sender, 0), env.sequence)
            self.wire_log.save(highest)
        for env, message in opened:
            self.stats.messages_in += 1
            self.apply(self.host.on_message(env.sender, message, now))
        if envelopes and not opened:  # nothing usable: an error with the first reason
            return web.json_response({"error": f"none of {len(envelopes)} envelopes accepted: {self._last_refusal}"},
                                     status=400)
        return web.json_response({"accepted": len(opened), "of": len(envelopes)}, status=202)

    def _open(self, raw: bytes, source: str, now: float) -> tuple[Envelope, Any] | None:
        """Check one envelope, cheapest first: chain and addressee, rate limit (before any signature
        check), replay, signature, link, body; None (counted, with a reason) when refused."""
        reason = "malformed_or_misaddressed"
        try:
            env = check_envelope(raw, self.host.node_id, self.chain_id)
            reason = "rate_limited"
            if not self.limit.allow((env.sender, source), now):
                raise EdgeLedgerError(f"rate limit exceeded for {env.sender!r} from {source}")
            reason = "replay"
            open_envelope(env, self.host.node_id, self.verify, self.window, self.chain_id)
            reason = "link_cut"
            if env.sender in self.blocked:
                raise EdgeLedgerError(f"link to {env.sender!r} is cut")
            reason = "undecodable"
            body = self.cipher.open(self.key, env.body) if self.cipher is not None else env.body
            return env, self.host.decode_message(body)
        except EdgeLedgerError as exc:
            reason = "signature" if isinstance(exc, SignatureError) else reason
            self.stats.rejected_by_reason[reason] += 1
            self._last_refusal = str(exc)
            self.apply([Rejected("?", "envelope", str(exc))])
            return None

    def _accept(self, raw: bytes) -> int:
        """Check and deliver one envelope outside a request (tests); 1 when accepted."""
        opened = self._open(raw, "local", self.clock())
        if opened is None:
            return 0
        if self.wire_log is not None:
            self.wire_log.save({opened[0].sender: opened[0].sequence})
        self.stats.messages_in += 1
        self.apply(self.host.on_message(opened[0].sender, opened[1], self.clock()))
        return 1
