"""Time series for the /observe dashboard, from a node's own metrics.

A live node records what it sees as it happens (:class:`LiveRecorder`: committed blocks,
consensus commit latencies, a once-a-second sample of its traffic counters and PBFT view); a
finished simulation run has the same in ``metrics.csv`` and ``traffic.csv``
(:func:`run_series`). Both become one JSON shape (:func:`series_json`): per-second
transactions, commit-latency percentiles per window, bytes in/out per second and view changes,
with the last, partial second left out (a rate over half a second reads as a false drop).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["LiveRecorder", "TxPerPeriod", "series_json", "percentile", "per_second", "tx_per_day"]

WINDOW_S = 5.0  # commit-latency percentiles are taken over windows this long
KEEP = 3600  # seconds of history a live node keeps


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` by linear interpolation (numpy's default)."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    k = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def per_second(events: Iterable[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """Sum of event values per whole second from ``start``; the partial second before ``end`` is dropped."""
    seconds = int(math.floor(end - start))
    if seconds <= 0:
        return []
    sums = [0.0] * seconds
    for t, value in events:
        i = int(math.floor(t - start))
        if 0 <= i < seconds:
            sums[i] += value
    return [(float(i), v) for i, v in enumerate(sums)]


def _latency_windows(latencies: Iterable[tuple[float, float]], start: float, end: float) -> list[dict[str, float]]:
    windows: dict[int, list[float]] = {}
    for t, value in latencies:
        if start <= t < end:
            windows.setdefault(int((t - start) // WINDOW_S), []).append(value)
    return [{"t": round(i * WINDOW_S, 3), "p50": percentile(v, 50), "p95": percentile(v, 95),
             "p99": percentile(v, 99), "n": len(v)} for i, v in sorted(windows.items())]


def _rates(samples: Sequence[tuple[float, int, int, int]], start: float) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Bytes in/out per second and the view (with cumulative view changes) from cumulative samples."""
    traffic, views = [], []
    changes = 0
    for (t0, in0, out0, v0), (t1, in1, out1, v1) in zip(samples, samples[1:]):
        dt = t1 - t0
        if dt <= 0:
            continue
        traffic.append({"t": round(t1 - start, 3), "in": max(in1 - in0, 0) / dt, "out": max(out1 - out0, 0) / dt})
        changes += max(v1 - v0, 0)
        views.append({"t": round(t1 - start, 3), "view": v1, "changes": changes})
    return traffic, views


def series_json(commits: Sequence[tuple[float, int]], latencies: Sequence[tuple[float, float]],
                samples: Sequence[tuple[float, int, int, int]], start: float, end: float,
                rounds: Sequence[dict[str, Any]], clock: str) -> dict[str, Any]:
    """The dashboard's series: ``commits`` (time, transactions in the block), ``latencies`` (time,
    seconds), ``samples`` (time, bytes in, bytes out, view; cumulative), FL ``rounds``; times in
    seconds of ``clock`` ("wall" or "simulated") from ``start``."""
    tx = per_second(((t, float(n)) for t, n in commits), start, end)
    traffic, views = _rates(samples, start)
    return {"clock": clock, "start": start, "tx_per_s": [{"t": t, "tx": v} for t, v in tx],
            "latency": _latency_windows(latencies, start, end), "window_s": WINDOW_S,
            "traffic": traffic, "views": views, "rounds": list(rounds)}


class TxPerPeriod:
    """Transactions per calendar day (UTC), hour or minute, added block by block in bounded memory.

    A chain younger than two hours is shown per minute, one younger than two days per hour, an
    older one per day (so the curve always has points). Buckets of a width the chain has outgrown
    are dropped and no longer kept, so a node that runs for weeks holds one number per day."""

    WIDTHS = {"minute": 60, "hour": 3600, "day": 86400}
    LIMITS = {"minute": 2 * 3600, "hour": 2 * 86400}  # the span from which a width is no longer shown

    def __init__(self) -> None:
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.counts: dict[str, dict[int, int]] = {unit: {} for unit in self.WIDTHS}

    def add(self, ms: int, n: int) -> None:
        self.first_ms = ms if self.first_ms is None else min(self.first_ms, ms)
        self.last_ms = ms if self.last_ms is None else max(self.last_ms, ms)
        span_s = (self.last_ms - self.first_ms) / 1000
        for unit, width in self.WIDTHS.items():
            if unit not in self.counts:
                continue
            if span_s >= self.LIMITS.get(unit, float("inf")):
                del self.counts[unit]  # outgrown: never shown again
                continue
            key = int(ms // 1000 // width * width)
            self.counts[unit][key] = self.counts[unit].get(key, 0) + n

    def json(self) -> dict[str, Any]:
        if self.first_ms is None:
            return {"unit": "day", "points": []}
        unit = next(u for u in self.WIDTHS if u in self.counts)  # the finest width still kept
        counts, width = self.counts[unit], self.WIDTHS[unit]
        first, last = min(counts), max(counts)
        return {"unit": unit, "points": [{"t": k, "tx": counts.get(k, 0)} for k in range(first, last + 1, width)]}


def tx_per_day(stamps_ms: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """Transactions per calendar day (UTC) from (block timestamp in ms, transactions); a chain younger
    than two days is bucketed per hour, one younger than two hours per minute (so the curve has points)."""
    period = TxPerPeriod()
    for ms, n in stamps_ms:
        period.add(ms, n)
    return period.json()


class LiveRecorder:
    """What a running node's dashboard plots: fed by commit and metric listeners and a 1 s sampler."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.start = time.time()
        self.commits: deque[tuple[float, int]] = deque(maxlen=KEEP * 20)
        self.latencies: deque[tuple[float, float]] = deque(maxlen=KEEP * 20)
        self.samples: deque[tuple[float, int, int, int]] = deque(maxlen=KEEP)
        self.losses: dict[int, float] = {}
        self.round_times: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._attached = False

    def attach(self) -> None:
        """Subscribe once to the node's commits and the driver's metric events (idempotent)."""
        if self._attached or self.api.node is None:
            return
        self._attached = True
        self.api.node.commit_listeners.append(self._on_commit)
        listeners = getattr(self.api.driver, "listeners", None)
        if listeners is not None:
            listeners.append(self._on_driver_event)

    def _on_commit(self, block: Any, receipts: list[Any]) -> None:
        self.commits.append((time.time(), len(block.transactions)))

    def _on_driver_event(self, event: str, data: Any) -> None:
        if event != "metric":
            return
        if data.name == "pbft.commit_latency_s":
            self.latencies.append((time.time(), float(data.value)))
        elif data.name == "fl.loss":
            self.losses[data.round] = float(data.value)
        elif data.name == "fl.round_time_s":
            self.round_times[data.round] = float(data.value)

    def sample(self) -> None:
        """One sample of the traffic counters and the view (the sampler calls it every second)."""
        self.attach()
        driver, node = self.api.driver, self.api.node
        if driver is None or node is None:
            return
        stats = driver.stats
        self.samples.append((time.time(), stats.bytes_in, stats.bytes_out, int(getattr(node.consensus, "view", 0) or 0)))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(1.0)

    async def on_startup(self, app: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def on_cleanup(self, app: Any) -> None:
        if self._task is not None:
            self._task.cancel()

    def series(self, window_s: float = 600.0) -> dict[str, Any]:
        """The last ``window_s`` seconds (10 minutes) of the node's series and every FL round."""
        accuracy = dict(self.api.accuracy)
        rounds = [{"round": r, "accuracy": accuracy.get(r), "loss": self.losses.get(r),
                   "duration_s": self.round_times.get(r)} for r in sorted(set(accuracy) | set(self.losses))]
        now = time.time()
        start = max(self.start, now - window_s)
        samples = [s for s in self.samples if s[0] >= start - 1.0]
        return series_json(list(self.commits), list(self.latencies), samples, start, now, rounds, "wall")
