"""Run a benchmark file: bring up the network, run every round, monitor, and build the report.

Rounds run in file order on one network (state carries over, e.g. kv_query reads what a
kv_create round wrote). Each round: set-up transactions (not measured), then the measured
round with its rate controller and workers, with resources sampled throughout.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from edgeledger.bench.driver import CommitTracker, RoundPlan, Signer, run_round, run_setup
from edgeledger.bench.metrics import throughput_series
from edgeledger.bench.monitor import ResourceMonitor
from edgeledger.bench.system_under_test import Network, start_network
from edgeledger.bench.rate import controllers
from edgeledger.bench.report import machine_description, round_entry, write_report
from edgeledger.bench.schema import BenchConfig
from edgeledger.bench.workloads import WorkloadContext, workloads
from edgeledger.errors import ConfigError

__all__ = ["run_bench"]


async def _run_rounds(cfg: BenchConfig, net: Network, log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    urls = net.submit_urls(cfg.network.submit_to)
    signer = Signer(net.keys)
    shared: dict[str, Any] = {}
    entries, traces = [], {}
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        tracker = CommitTracker()
        tracker.start(session, urls[0])
        await asyncio.sleep(0.3)
        try:
            for k, rc in enumerate(cfg.rounds):
                wl = workloads.get(rc.workload.name)(rc.workload.params,
                                                     WorkloadContext(rc.label, random.Random(cfg.seed * 1000 + k), shared,
                                                                     net.consortium))
                senders = net.senders(wl.sender_roles)
                if wl.kind == "write" and not senders:
                    raise ConfigError(f"round {rc.label!r}: no signing keys for roles {wl.sender_roles or 'any'} "
                                      "(remote networks need network.keys_dir)")
                senders = senders or sorted(net.nodes)
                setup = wl.prepare(senders)
                keyless = sorted({sender for sender, _ in setup if sender not in net.keys})
                if keyless:
                    raise ConfigError(f"round {rc.label!r}: set-up must be signed by {keyless}, whose keys the bench "
                                      "does not hold (put <account>/identity.seed in network.keys_dir)")
                await run_setup(session, urls[0], signer, setup, tracker, net.endorser_urls())
                ctl = controllers.get(rc.rate_control.type).from_opts(dict(rc.rate_control.opts), rc)
                monitor = ResourceMonitor(session, {n: (i.url, i.pid) for n, i in net.nodes.items()},
                                          cfg.monitor_interval_s)
                await monitor.start()
                log(f"round {rc.label}: {rc.workload.name}, {rc.tx_number or f'{rc.tx_duration_s} s'} tx, "
                    f"{rc.rate_control.type} {rc.rate_control.opts}, {rc.workers} workers")
                log(f"  execution model: {wl.execution_model()}")
                trace = await run_round(session, urls, senders, signer, wl, ctl,
                                        RoundPlan(rc.tx_number, rc.tx_duration_s, rc.workers, rc.timeout_s), tracker,
                                        net.endorser_urls())
                resources = await monitor.stop()
                entry = round_entry(rc, wl, trace, resources, monitor.timeline())
                entries.append(entry)
                traces[rc.label] = (sorted(r.finish - r.submit for r in trace if r.ok and r.finish is not None),
                                    throughput_series(trace))
                log(f"  succ {entry['succ']} fail {entry['fail']} send {entry['send_rate_tps']:.1f} tps "
                    f"throughput {entry['throughput_tps']:.1f} tps avg latency {entry['latency_avg_s']}")
        finally:
            await tracker.stop()
    return entries, traces


def run_bench(cfg: BenchConfig, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``cfg``; write ``out/report.json``, ``out/report.html`` and plots; return the report dict."""
    if cfg.network.kind == "sim":
        from edgeledger.bench.sim import run_sim_bench  # here, not at the top: the simulation loads torch

        return run_sim_bench(cfg, out, log)
    plugins = sorted({p for r in cfg.rounds for p in workloads.get(r.workload.name).plugins})
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="edgeledger-bench-") as tmp:
        work = out / "network" if cfg.network.kind == "local" else Path(tmp)
        log(f"edgeledger bench {cfg.name}: starting the {cfg.network.kind} network")
        net = start_network(cfg.network, work, plugins)
        try:
            entries, traces = asyncio.run(_run_rounds(cfg, net, log))
        finally:
            net.stop()
    report = {"machine": machine_description(), "benchmark": cfg.name, "description": cfg.description,
              "network": {**net.description, "validators": len(net.validators)},
              "started_unix": round(started, 3), "wall_s": round(time.time() - started, 1), "rounds": entries}
    write_report(out, report, traces)
    return report
