"""Resource monitors per node process, as Caliper's docker/process monitors report them.

CPU % and RSS are sampled with psutil every ``interval`` seconds (local processes only);
disk bytes written come from the process's I/O counters; network bytes in/out are the
node's own ``edgeledger_network_received_bytes_total`` / ``edgeledger_network_sent_bytes_total`` from ``/metrics``
(psutil has no per-process network counters). Figures cover one round.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import psutil

__all__ = ["ResourceMonitor", "NodeSamples", "parse_metrics"]


def parse_metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


@dataclass
class NodeSamples:
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # monotonic time of each cpu/rss sample
    disk_write_start: int | None = None
    disk_write_end: int | None = None
    net_start: dict[str, float] = field(default_factory=dict)
    net_end: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float | None]:
        def stat(values: list[float], f: str) -> float | None:
            if not values:
                return None
            return round(max(values) if f == "max" else sum(values) / len(values), 2)

        net = {k: self.net_end.get(k, 0) - self.net_start.get(k, 0) if k in self.net_end else None
               for k in ("edgeledger_network_received_bytes_total", "edgeledger_network_sent_bytes_total")}
        disk = (self.disk_write_end - self.disk_write_start
                if self.disk_write_end is not None and self.disk_write_start is not None else None)
        return {"cpu_max_pct": stat(self.cpu, "max"), "cpu_avg_pct": stat(self.cpu, "avg"),
                "rss_max_mb": stat(self.rss, "max"), "rss_avg_mb": stat(self.rss, "avg"),
                "net_in_bytes": net["edgeledger_network_received_bytes_total"], "net_out_bytes": net["edgeledger_network_sent_bytes_total"],
                "disk_write_bytes": disk}


class ResourceMonitor:
    """Start at a round's beginning, stop at its end; ``summary()`` gives one row per node."""

    def __init__(self, session: aiohttp.ClientSession, nodes: dict[str, tuple[str, int | None]],
                 interval: float) -> None:
        self.session, self.interval = session, interval
        self.urls = {n: u for n, (u, _) in nodes.items()}
        self.procs: dict[str, psutil.Process] = {}
        for n, (_, pid) in nodes.items():
            if pid is not None:
                try:
                    self.procs[n] = psutil.Process(pid)
                except psutil.Error:
                    pass
        self.samples = {n: NodeSamples() for n in nodes}
        self._task: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    def _disk(self, n: str) -> int | None:
        try:
            return int(self.procs[n].io_counters().write_bytes) if n in self.procs else None
        except (psutil.Error, AttributeError):
            return None

    async def _net(self, n: str) -> dict[str, float]:
        try:
            async with self.session.get(f"{self.urls[n]}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return parse_metrics(await resp.text())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return {}

    async def start(self) -> None:
        for n, s in self.samples.items():
            s.disk_write_start = self._disk(n)
            s.net_start = await self._net(n)
            if n in self.procs:
                try:
                    self.procs[n].cpu_percent(None)  # primes the counter
                except psutil.Error:
                    pass
        self.started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def sample(self) -> None:
        """One CPU/RSS sample of every local node process."""
        for n, p in self.procs.items():
            try:
                with p.oneshot():
                    self.samples[n].cpu.append(p.cpu_percent(None))
                    self.samples[n].rss.append(p.memory_info().rss / 2**20)
                    self.samples[n].times.append(time.monotonic())
            except psutil.Error:
                pass

    def timeline(self) -> dict[str, list[list[float]]]:
        """Per node, ``[seconds since the round started, CPU %, RSS MB]`` for every sample."""
        return {n: [[round(t - self.started, 3), round(c, 1), round(r, 1)] for t, c, r in zip(s.times, s.cpu, s.rss)]
                for n, s in self.samples.items() if s.times}

    async def stop(self) -> dict[str, dict[str, float | None]]:
        if self._task is not None:
            self._task.cancel()
        self.sample()  # a short round still gets one sample
        for n, s in self.samples.items():
            s.disk_write_end = self._disk(n)
            s.net_end = await self._net(n)
        return {n: s.summary() for n, s in self.samples.items()}
