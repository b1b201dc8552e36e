"""The asyncio HTTP driver: the same sans-IO node, on a real network (aiohttp).

Why aiohttp: one library gives both the server and a client with persistent, pooled
connections and streaming bodies, on plain asyncio, with no ASGI stack in between.

Outbound messages are queued per peer and sent in FIFO batches (``POST /v1/messages``,
one signed :class:`EnvelopeBatch`: one signature for the whole batch) by one worker per peer, with
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
A batch is checked the same way once (one signature, one rate-limit charge per message it
carries); a msgpack list of single envelopes is still accepted.

Signature checks of transactions a batch carries (relayed client requests, proposals) run on
worker threads before the node handles the batch, when the node offers them
(``pending_signatures`` / ``check_signatures`` / ``record_verified``): PyNaCl releases the GIL,
so the event loop keeps serving while the threads verify, and the node then finds them
verified. The node's writes for a batch are one group commit (``durable_group``), durable
before any of the batch's effects leave (issue 22).

Durability without an fsync on the event loop (issue 20): when the node's store commits on a
writer thread, every input (a batch, a timer, a local submission, a finished compute job) is
handled on the loop as before, but its effects are *held* until the store commit of everything
the node wrote so far has resolved (``pending_commit``); then the node tells its commit listeners
(``announce_durable``), the effects are carried out and the HTTP answer goes back. Held effects
are released strictly in input order, so a later input can never overtake an earlier one's
messages, and nothing is heard of before it is on disk. A failed store write stops the release
for good (fail-stop): the node's memory is ahead of its disk, it must not speak any more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, CancelTimer, Deferred, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import EdgeLedgerError, SignatureError
from edgeledger.net.envelope import (SEQUENCE_LEASE, Envelope, EnvelopeBatch, ReplayWindow, WireLog, check_batch,
                                     check_envelope, open_batch, open_envelope, seal_batch)
from edgeledger.net.sim import Host

__all__ = ["HttpDriver", "DriverStats", "MAX_REQUEST_BYTES"]

log = logging.getLogger("edgeledger.net.http")
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_BATCH = 1024  # messages per outbound batch
MAX_BATCH_BYTES = 8 * 1024 * 1024  # and bytes (a batch may close earlier, never splits a message)
PREVERIFY_MIN = 8  # fewer unchecked transactions than this are verified inline, by the node
MAX_QUEUE = 4096  # messages queued per peer before the oldest is dropped
MAX_QUEUE_BYTES = 32 * 1024 * 1024  # bytes queued per peer before the oldest is dropped (one larger message still goes)
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
    by_type_out: Counter[str] = field(default_factory=Counter)
    dropped_by_reason: Counter[str] = field(default_factory=Counter)  # queue_full, unreachable, link_cut
    rejected_by_reason: Counter[str] = field(default_factory=Counter)  # rate_limited, replay, signature, ...


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
        self._queued_bytes: Counter[str] = Counter()
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
        self._verifiers: ThreadPoolExecutor | None = None
        self._holding = 0  # inputs whose effects wait for their store commit
        self._last_hold: Any = None  # the commit the last held input waits on
        self.store_failure: BaseException | None = None  # a store commit failed: nothing is released any more

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
        if self._verifiers is not None:
            self._verifiers.shutdown(wait=False, cancel_futures=True)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.handle_messages)]

    # -- effects -----------------------------------------------------------------------------
    def apply(self, effects: list[Effect]) -> None:
        """Carry out ``effects`` of an input the node handled, once what it wrote is durable (see
        :meth:`release`; outside an event loop, after blocking until it is)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pending = getattr(self.host, "pending_commit", None)
            commit = pending() if pending is not None else None
            if commit is not None:
                commit.result()
            self._carry_out(effects, None)
            return
        self.release(effects)

    def _apply(self, effects: list[Effect]) -> None:
        """Carry out ``effects`` now (they are released: what they follow is durable)."""
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
        await self.release(effect.done(result, self.clock()))

    def release(self, effects: list[Effect]) -> asyncio.Future[None]:
        """Carry out ``effects`` of an input the node just handled once its writes are durable: at
        once when the node's store commits in place (or nothing waits), else when the store's
        writer has committed everything written so far, after the effects of earlier inputs.
        The returned future resolves when they are carried out (an HTTP answer waits on it)."""
        loop = asyncio.get_running_loop()
        released: asyncio.Future[None] = loop.create_future()
        pending = getattr(self.host, "pending_commit", None)
        commit = pending() if pending is not None else None
        if self.store_failure is not None:
            released.set_exception(self.store_failure)
            released.exception()  # retrieved: a caller that does not wait must not log it again
            return released
        if commit is None or (commit.done() and self._holding == 0):
            self._carry_out(effects, released)
            return released
        if commit is self._last_hold or commit.done():  # nothing new written: wait behind the last held input
            commit = self._last_hold
        self._holding += 1
        self._last_hold = commit
        commit.add_done_callback(lambda _: loop.call_soon_threadsafe(self._released, commit, effects, released))
        return released

    def _released(self, commit: Any, effects: list[Effect], released: asyncio.Future[None]) -> None:
        self._holding -= 1
        error = commit.exception() or self.store_failure
        if error is not None:
            self.store_failure = error
            log.critical("%s: store commit failed, nothing more is sent: %s", self.host.node_id, error)
            released.set_exception(error)
            released.exception()  # retrieved: a caller that does not wait must not log it again
            return
        self._carry_out(effects, released)

    def _carry_out(self, effects: list[Effect], released: asyncio.Future[None] | None) -> None:
        announce = getattr(self.host, "announce_durable", None)
        if announce is not None:
            announce()
        self._apply(effects)
        if released is not None:
            released.set_result(None)

    def _set_timer(self, name: str, delay: float) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(max(delay, 0.0), self._fire, name)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.release(self.host.on_timer(name, self.clock()))

    def submit_local(self, effects: list[Effect]) -> asyncio.Future[None]:
        """Carry out effects produced outside a message (API submissions, start-up) once what the
        node wrote is durable; the future resolves then."""
        return self.release(effects)

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
        data = body  # signed with the batch it leaves in (one signature per batch)
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
            batch = [queue.popleft()]
            size = len(batch[0][0])
            while queue and len(batch) < MAX_BATCH and size + len(queue[0][0]) <= MAX_BATCH_BYTES:
                batch.append(queue.popleft())
                size += len(batch[-1][0])
            self._queued_bytes[to] -= size
            payload = seal_batch(self.key, self.host.node_id, to, self._next_sequence(),
                                 [body for body, _ in batch], self.chain_id)
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
                self.release(handler(to, message, self.clock()))

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
            batch: EnvelopeBatch | None = decode(data, EnvelopeBatch)
        except EdgeLedgerError:
            batch = None
        if batch is not None:
            return await self._handle_batch(batch, request.remote or "?")
        try:
            envelopes = decode(data, list[bytes])
        except EdgeLedgerError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        # no await from here on: the envelopes are checked, made durable and handed to the node atomically
        now = self.clock()
        opened = [m for raw in envelopes if (m := self._open(raw, request.remote or "?", now)) is not None]
        self._save_sequences([env for env, _ in opened])
        effects: list[Effect] = []
        with self._group():
            for env, message in opened:
                self.stats.messages_in += 1
                effects += self.host.on_message(env.sender, message, now)
        await self.release(effects)
        if envelopes and not opened:  # nothing usable: an error with the first reason
            return web.json_response({"error": f"none of {len(envelopes)} envelopes accepted: {self._last_refusal}"},
                                     status=400)
        return web.json_response({"accepted": len(opened), "of": len(envelopes)}, status=202)

    def _save_sequences(self, envelopes: list[Envelope] | list[EnvelopeBatch]) -> None:
        """Make the highest accepted sequence per sender durable (before the node acts on any)."""
        if self.wire_log is not None and envelopes:
            highest: dict[str, int] = {}
            for env in envelopes:
                highest[env.sender] = max(highest.get(env.sender, 0), env.sequence)
            self.wire_log.save(highest)

    async def _handle_batch(self, batch: EnvelopeBatch, source: str) -> web.Response:
        total = len(batch.bodies)
        accepted = await self._accept_batch(batch, source)
        if total and not accepted:  # nothing usable: an error with the first reason
            return web.json_response({"error": f"none of {total} envelopes accepted: {self._last_refusal}"},
                                     status=400)
        return web.json_response({"accepted": accepted, "of": total}, status=202)

    async def _accept_batch(self, batch: EnvelopeBatch, source: str = "local") -> int:
        """Check the batch once (chain and addressee, rate limit, replay, signature, link), decode every
        message, verify the transactions they carry off the event loop, make the sequence durable,
        then hand the messages to the node in order with no await in between, as one group commit;
        how many messages were handed over."""
        if self._open_batch(batch, source, self.clock()) is None:
            return 0
        messages = []
        for body in batch.bodies:
            try:
                clear = self.cipher.open(self.key, body) if self.cipher is not None else body
                messages.append(self.host.decode_message(clear))
            except EdgeLedgerError as exc:
                self.stats.rejected_by_reason["undecodable"] += 1
                self._last_refusal = str(exc)
                self._apply([Rejected(batch.sender, "envelope", str(exc))])
        await self._preverify(messages)
        # no await from here on
        self._save_sequences([batch])
        await self.deliver(batch.sender, messages)
        return len(messages)

    async def deliver(self, sender: str, messages: list[Any]) -> None:
        """Hand checked ``messages`` from ``sender`` to the node in order with no await in between, as
        one group commit; return once their effects are carried out (after the writes are durable)."""
        now = self.clock()
        effects: list[Effect] = []
        with self._group():  # group commit: the batch's writes are durable before any of its effects leave
            for message in messages:
                self.stats.messages_in += 1
                effects += self.host.on_message(sender, message, now)
        await self.release(effects)  # held until the writes are durable (the answer too)

    def _open_batch(self, batch: EnvelopeBatch, source: str, now: float) -> EnvelopeBatch | None:
        """Check a batch, cheapest first: chain and addressee, rate limit (one token per message it
        carries, before the signature is checked), replay, signature, link; None (counted) when refused."""
        reason = "malformed_or_misaddressed"
        try:
            check_batch(batch, self.host.node_id, self.chain_id)
            reason = "rate_limited"
            if not self.limit.allow((batch.sender, source), now, float(max(len(batch.bodies), 1))):
                raise EdgeLedgerError(f"rate limit exceeded for {batch.sender!r} from {source}")
            reason = "replay"
            open_batch(batch, self.host.node_id, self.verify, self.window, self.chain_id)
            reason = "link_cut"
            if batch.sender in self.blocked:
                raise EdgeLedgerError(f"link to {batch.sender!r} is cut")
            return batch
        except EdgeLedgerError as exc:
            self._refuse(exc, reason, "envelope batch", max(len(batch.bodies), 1))
            return None

    def _refuse(self, exc: EdgeLedgerError, reason: str, what: str, count: int = 1) -> None:
        """Count ``count`` refused messages under ``reason`` (a bad signature counts as such)."""
        reason = "signature" if isinstance(exc, SignatureError) else reason
        self.stats.rejected_by_reason[reason] += count
        self._last_refusal = str(exc)
        self._apply([Rejected("?", what, str(exc))])

    def _group(self) -> AbstractContextManager[None]:
        group = getattr(self.host, "durable_group", None)
        return group() if group is not None else nullcontext()

    async def _preverify(self, messages: list[Any]) -> None:
        """Verify, on worker threads, the transaction signatures ``messages`` carry that the node has
        not checked yet; the node records the good ones (and rejects the bad ones itself later)."""
        pending = getattr(self.host, "pending_signatures", None)
        txs = pending(messages) if pending is not None else []
        if len(txs) < PREVERIFY_MIN:
            return
        self.host.record_verified(await self.verify_off_loop(txs))  # type: ignore[attr-defined]

    async def verify_off_loop(self, txs: list[Any]) -> list[bytes]:
        """The ids of the ``txs`` whose signatures check out, verified on two worker threads."""
        if self._verifiers is None:
            self._verifiers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify")
        loop = asyncio.get_running_loop()
        half = (len(txs) + 1) // 2
        parts = [txs[:half], txs[half:]] if len(txs) >= 2 * PREVERIFY_MIN else [txs]
        check = self.host.check_signatures  # type: ignore[attr-defined]
        done = await asyncio.gather(*(loop.run_in_executor(self._verifiers, check, part) for part in parts if part))
        return [tx_id for ids in done for tx_id in ids]

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
            self._refuse(exc, reason, "envelope")
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
