"""Deterministic discrete-event network driver (docs/design.md: simulation).

Every event sits in one heap ordered by ``(time, sequence)``, so equal-time events run in
the order they were scheduled and a run replays bit for bit from its seed. A message on
link (a, b) costs ``latency + bytes / bandwidth``; each directed link transmits one message
at a time (FIFO), so a large model blob delays what is queued behind it. Loss draws from
the simulator's own seeded generator. Every byte and message is accounted per node and by
message type.

The driver turns the effects of hosted nodes into events: ``Send``/``Broadcast`` become
deliveries of the message's canonical bytes (decoded by the receiver with its own typed
decoder, so malformed input is rejected where it lands), ``SetTimer`` a timer event.

Large populations: besides single hosts the simulator takes *host groups*
(:class:`HostGroup`): a group answers for many node ids (100,000 devices) and hands out a
host for an id only when an event reaches it, then is told the event is handled
(``settle``) so it can fold the host back into a compact record. Traffic counters exist for
the nodes that sent or received something.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgeledger.codec import encode
from edgeledger.effects import (
    Broadcast,
    CancelTimer,
    Effect,
    Metric,
    Rejected,
    Send,
    SetTimer,
)
from edgeledger.errors import DecodeError

__all__ = ["Link", "Traffic", "TrafficBook", "Host", "HostGroup", "Simulator"]


@dataclass(frozen=True)
class Link:
    """A directed link's model: one-way latency (s), bandwidth (bit/s), loss probability."""

    latency_s: float = 0.005
    bandwidth_bps: float = 100e6
    loss: float = 0.0


class TypeCounter(Counter):  # type: ignore[type-arg]
    """A Counter built without ``Counter.__init__`` (a Python-level call): one per node that sent."""

    def __init__(self) -> None:
        pass


@dataclass(slots=True)
class Traffic:
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_dropped: int = 0
    bytes_by_type: Counter[str] = field(default_factory=TypeCounter)


class TrafficBook(dict):  # type: ignore[type-arg]
    """``node id -> Traffic``; reading a node that never sent nor received anything gives zeros
    (without storing an entry, so a population of idle devices costs nothing here)."""

    def __missing__(self, node_id: str) -> Traffic:
        return Traffic()


class Host(Protocol):
    """What the simulator needs from a hosted node (implemented by ``edgeledger.node.Node``)."""

    node_id: str

    def decode_message(self, data: bytes) -> Any: ...

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]: ...

    def on_timer(self, name: str, now: float) -> list[Effect]: ...


class HostGroup(Protocol):
    """Many hosts behind one object (a device population): ``host`` gives the host an event for
    ``node_id`` goes to, ``settle`` says the event was handled (the group may fold the host away)."""

    def __contains__(self, node_id: object) -> bool: ...

    def host(self, node_id: str) -> Host: ...

    def settle(self, node_id: str) -> None: ...


class Simulator:
    """The clock, the event heap, the links and the hosted nodes of one simulated network."""

    def __init__(self, seed: int, link_for: Callable[[str, str], Link] | None = None,
                 on_metric: Callable[[str, Metric, float], None] | None = None,
                 on_reject: Callable[[str, Rejected, float], None] | None = None) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.link_for = link_for or (lambda a, b: Link())
        self.on_metric = on_metric
        self.on_reject = on_reject
        self.hosts: dict[str, Host] = {}
        self.groups: list[HostGroup] = []
        self.traffic: dict[str, Traffic] = TrafficBook()
        self.events_run = 0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._busy_until: dict[tuple[str, str], float] = {}  # directed link -> end of its transmission
        self._busy_sweep = 4096  # sweep links idle since before now once the table grows past this
        self._timers: dict[tuple[str, str], int] = {}
        self._cut: set[frozenset[str]] = set()
        self._tags: dict[type, str] = {}  # message type -> its wire tag (the traffic accounting key)

    # -- scheduling --------------------------------------------------------------------------
    def call_at(self, time: float, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(time, self.now), self._seq, fn, args))

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        self.call_at(self.now + delay, fn, *args)

    def run(self, until: float | None = None, stop: Callable[[], bool] | None = None,
            max_events: int = 50_000_000) -> None:
        """Run events in order until the heap is empty, ``until`` is reached or ``stop()``."""
        try:
            while self._heap and self.events_run < max_events:
                if until is not None and self._heap[0][0] > until:
                    self.now = until
                    return
                time, _, fn, args = heapq.heappop(self._heap)
                self.now = time
                self.events_run += 1
                fn(*args)
                if stop is not None and stop():
                    return
        finally:
            self._forget_idle_links()

    # -- hosts and links ---------------------------------------------------------------------
    def add_host(self, host: Host) -> None:
        self.hosts[host.node_id] = host
        self.traffic[host.node_id] = Traffic()

    def add_group(self, group: HostGroup) -> None:
        """Host every node id ``group`` answers for (ids of single hosts take precedence)."""
        self.groups.append(group)

    def has_host(self, node_id: str) -> bool:
        return node_id in self.hosts or any(node_id in g for g in self.groups)

    def _host(self, node_id: str) -> tuple[Host, HostGroup | None]:
        host = self.hosts.get(node_id)
        if host is not None:
            return host, None
        for group in self.groups:
            if node_id in group:
                return group.host(node_id), group
        raise KeyError(node_id)

    def _stats(self, node_id: str) -> Traffic:
        stats = self.traffic.get(node_id)
        if stats is None:
            stats = self.traffic[node_id] = Traffic()
        return stats

    def cut(self, a: str, b: str) -> None:
        """Partition the link between ``a`` and ``b`` (both directions) until :meth:`heal`."""
        self._cut.add(frozenset((a, b)))

    def heal(self, a: str, b: str) -> None:
        self._cut.discard(frozenset((a, b)))

    def is_cut(self, a: str, b: str) -> bool:
        return bool(self._cut) and frozenset((a, b)) in self._cut

    def start(self, node_id: str, effects: list[Effect]) -> None:
        """Apply effects a node produced outside a delivery (its start-up)."""
        self.apply(node_id, effects)

    def apply(self, node_id: str, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.send(node_id, effect.to, effect.message, rate_bps=effect.rate_bps)
            elif isinstance(effect, Broadcast):
                data = encode(effect.message)
                for to in effect.to:
                    self.send(node_id, to, effect.message, data)
            elif isinstance(effect, SetTimer):
                self._set_timer(node_id, effect.name, effect.delay_s)
            elif isinstance(effect, CancelTimer):
                self._timers.pop((node_id, effect.name), None)
            elif isinstance(effect, Metric):
                if self.on_metric:
                    self.on_metric(node_id, effect, self.now)
            elif isinstance(effect, Rejected):
                if self.on_reject:
                    self.on_reject(node_id, effect, self.now)

    def _tag(self, kind: type) -> str:
        tag = self._tags.get(kind)
        if tag is None:
            config = getattr(kind, "__struct_config__", None)
            tag = self._tags[kind] = (config.tag if config is not None else None) or kind.__name__
        return tag

    def send(self, src: str, dst: str, message: Any, data: bytes | None = None, rate_bps: float | None = None) -> None:
        """Transmit ``message`` on link (src, dst): FIFO behind what the link is sending, at its
        bandwidth; with ``rate_bps`` (a granted share of the medium, see ``effects.Send``) at
        that rate, capped by the bandwidth, alongside the link's other transmissions."""
        data = encode(message) if data is None else data
        size = len(data)
        stats = self.traffic.get(src) or self._stats(src)
        stats.bytes_sent += size
        stats.messages_sent += 1
        stats.bytes_by_type[self._tags.get(type(message)) or self._tag(type(message))] += size
        link = self.link_for(src, dst)
        if self.is_cut(src, dst) or not (dst in self.hosts or self.has_host(dst)):
            stats.messages_dropped += 1
            # like a TCP connection that fails: the sender learns of it after a round trip
            self.call_later(2 * link.latency_s, self._undeliverable, src, dst, message)
            return
        if link.loss > 0 and self.rng.random() < link.loss:
            stats.messages_dropped += 1
            return
        if rate_bps is not None:  # a granted share: concurrent with the link's other transmissions
            done = self.now + size * 8 / min(rate_bps, link.bandwidth_bps)
        else:
            busy = self._busy_until
            start = max(self.now, busy.get((src, dst), 0.0))
            done = start + size * 8 / link.bandwidth_bps
            busy[(src, dst)] = done
            if len(busy) > self._busy_sweep:
                self._forget_idle_links()
        self._seq += 1
        heapq.heappush(self._heap, (done + link.latency_s, self._seq, self._deliver, (src, dst, data)))

    def _forget_idle_links(self) -> None:
        """A link idle since before now is as good as never used: drop it from the busy table, so
        the table holds the links in use, not every pair that ever talked (100,000 registrations)."""
        busy, now = self._busy_until, self.now
        if len(busy) > 1024:
            for key in [k for k, t in busy.items() if t <= now]:
                del busy[key]
        self._busy_sweep = max(4096, 2 * len(busy))

    def _deliver(self, src: str, dst: str, data: bytes) -> None:
        host = self.hosts.get(dst)
        host, group = (host, None) if host is not None else self._host(dst)
        (self.traffic.get(dst) or self._stats(dst)).bytes_received += len(data)
        try:
            message = host.decode_message(data)
        except DecodeError as exc:
            if self.on_reject:
                self.on_reject(dst, Rejected(src, "message", str(exc)), self.now)
        else:
            self.apply(dst, host.on_message(src, message, self.now))
        if group is not None:
            group.settle(dst)

    def _undeliverable(self, src: str, dst: str, message: Any) -> None:
        host, group = self._host(src)
        handler = getattr(host, "on_undeliverable", None)
        if handler is not None:
            self.apply(src, handler(dst, message, self.now))
        if group is not None:
            group.settle(src)

    def _set_timer(self, node_id: str, name: str, delay: float) -> None:
        self._seq += 1
        token = self._seq
        self._timers[(node_id, name)] = token
        self.call_later(delay, self._fire, node_id, name, token)

    def _fire(self, node_id: str, name: str, token: int) -> None:
        if self._timers.get((node_id, name)) != token:
            return  # cancelled or replaced
        del self._timers[(node_id, name)]
        host, group = self._host(node_id)
        self.apply(node_id, host.on_timer(name, self.now))
        if group is not None:
            group.settle(node_id)

    # -- accounting --------------------------------------------------------------------------
    def total_bytes(self) -> int:
        return sum(t.bytes_sent for t in self.traffic.values())
