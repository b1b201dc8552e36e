"""Scale benchmark (issue 17): what a population of 1,000 .. 1,000,000 devices costs, and PBFT with
up to 100 validators. Prints a table, then one JSON object as its last line.

Populations (each measured in its own subprocess, so ``peak_rss_mb`` is that population's):
MNIST, ``mlp``, 60 samples per device drawn with replacement (``fl.samples_per_device``), 100
clients per round, 3 rounds, 4 PBFT validators (4 edges; the cloud aggregates and observes),
5% sign-flipping devices against the trimmed mean. Per population:

- ``setup_s``: wall seconds from the scenario to the first round's model announcement: building
  the network (keys, genesis, data split) and every node's start-up, the registration of every
  device with the communication center included (a signature made and checked per device);
- ``round_s``: mean wall seconds per round after that; ``round_cpu_s`` the same in CPU seconds of
  the process (the fair measure on a shared machine: other load stretches wall time, not CPU);
- ``events_per_s``: simulator events per wall second over the whole simulation (registrations
  and rounds, local training included); ``startup_events_per_s`` over the start-up alone (the
  registrations: the engine, the network model and the signatures, no training);
  ``peak_rss_mb``: the process's peak resident memory.

The stretch population is 1,000,000 devices on the synthetic data set (same settings).
PBFT: FL scenarios with n = 4, 16, 64, 100 validators (the cloud and n - 1 edges, 2 devices
per edge, 10 clients per round, 2 rounds): ``commit_ms`` is the median simulated time from a
block's proposal (its header timestamp) to its commit by the (2f+1)-th validator,
``consensus_bytes_per_block`` the PBFT messages (pre-prepare, prepare, commit, checkpoint)
sent per committed block.

What a device costs (``--device-bytes``): the memory the process holds (Python allocations,
traced by ``tracemalloc``, after the start-up and a garbage collection) at 10,000 and 100,000
devices on the synthetic data set, the difference divided by 90,000, broken down by where it was
allocated; the device's own record (its partition slice and counters) is reported apart.

    python benchmarks/scale.py --quick          # 1,000 and 10,000 devices, n = 4 and 16 (about a minute)
    python benchmarks/scale.py                  # 1k, 10k, 100k, 1M devices and n = 4, 16, 64, 100
    python benchmarks/scale.py --device-bytes   # bytes per device (about two minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, _REPO_ROOT)

POPULATIONS = [1_000, 10_000, 100_000]
STRETCH = 1_000_000
CONSORTIA = [4, 16, 64, 100]
DATA_ROOT = os.environ.get("EDGELEDGER_DATA") or str(Path(_REPO_ROOT).parent / "shared" / "datasets")


def population_scenario(devices: int, dataset: str, rounds: int) -> Any:
    """The benchmark's scenario: the demo's settings at ``devices`` devices (4 edges, 4 validators)."""
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, [
        "name=\"scale\"", "topology.edges=4", f"topology.devices_per_edge={devices // 4}",
        'topology.validators=["edge"]', f'fl.dataset="{dataset}"', f"fl.data_root=\"{DATA_ROOT}\"",
        'fl.model="mlp"', "fl.samples_per_device=60", "fl.clients_per_round=100", f"fl.rounds={rounds}",
        'attacks=[{kind="sign_flip", fraction=0.05, params={scale=4.0}}]', "output.plots=false"]))


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_population(devices: int, dataset: str, rounds: int, profile: str | None) -> dict[str, Any]:
    """One population, in this process (the parent runs each in a fresh subprocess)."""
    import torch

    torch.set_num_threads(1)
    from edgeledger.net.sim import Simulator
    from edgeledger.scenario.assembly import build_network

    scenario = population_scenario(devices, dataset, rounds)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    network = build_network(scenario)
    agg = network.aggregator
    closes: list[tuple[float, float]] = []  # (wall, cpu) when each round's close committed

    def on_metric(node: str, metric: Any, now: float) -> None:
        if node == "cloud" and metric.name == "fl.round_committed_s":
            closes.append((time.perf_counter(), time.process_time()))

    sim = Simulator(scenario.seed, network.link_for, on_metric)
    network.attach(sim)
    sim_wall0 = time.perf_counter()
    sim.run(until=scenario.max_sim_time_s, stop=lambda: agg.announcement is not None)
    storm_wall = time.perf_counter() - sim_wall0
    setup = (time.perf_counter() - wall0, time.process_time() - cpu0)
    setup_events = sim.events_run
    marks = [(time.perf_counter(), time.process_time())]
    sim.run(until=scenario.max_sim_time_s, stop=lambda: agg.done)
    sim_wall = time.perf_counter() - sim_wall0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    marks += closes
    rounds_wall = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
    rounds_cpu = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
    if network.trainer is not None:
        network.trainer.close()
    return {
        "devices": devices, "dataset": dataset, "rounds": agg.completed,
        "setup_s": round(setup[0], 2), "setup_cpu_s": round(setup[1], 2),
        "round_s": round(statistics.fmean(rounds_wall), 3), "round_cpu_s": round(statistics.fmean(rounds_cpu), 3),
        "events": sim.events_run, "setup_events": setup_events,
        "events_per_s": round(sim.events_run / sim_wall), "peak_rss_mb": _peak_rss_mb(),
        "startup_events_per_s": round(setup_events / storm_wall) if storm_wall > 0 else None,
        "final_accuracy": round(agg.history[-1]["accuracy"], 4) if agg.history else None,
        "devices_woken": network.population.wakes, "devices_awake_at_end": network.population.awake,
        "bytes_sent": sim.total_bytes(),
    }


def measure_memory(devices: int) -> dict[str, Any]:
    """Traced Python memory after the start-up of ``devices`` devices (synthetic data), by site."""
    import gc
    import tracemalloc

    import torch

    torch.set_num_threads(1)
    from edgeledger.net.sim import Simulator
    from edgeledger.scenario.assembly import build_network

    scenario = population_scenario(devices, "synthetic", 1)
    tracemalloc.start()
    network = build_network(scenario)
    sim = Simulator(scenario.seed, network.link_for)
    network.attach(sim)
    sim.run(until=scenario.max_sim_time_s, stop=lambda: network.aggregator.announcement is not None)
    gc.collect()
    by_site: dict[str, int] = {}
    for stat in tracemalloc.take_snapshot().statistics("filename"):
        name = stat.traceback[0].filename
        key = name.split("edgeledger/")[-1] if "edgeledger/" in name else Path(name).name
        by_site[key] = by_site.get(key, 0) + stat.size
    pop = network.population
    own = pop.last_round.itemsize + 60 * 4 + 8  # last_round, 60 int32 sample indices, its offset
    return {"devices": devices, "traced_bytes": tracemalloc.get_traced_memory()[0], "by_site": by_site,
            "record_bytes": own, "awake": pop.awake}


def device_bytes() -> dict[str, Any]:
    """Bytes per device: the traced memory of 100,000 devices minus that of 10,000, over 90,000."""
    small, large = (_child(["--memory", str(d)], 1800) for d in (10_000, 100_000))
    span = large["devices"] - small["devices"]
    sites = {k: (large["by_site"].get(k, 0) - small["by_site"].get(k, 0)) / span
             for k in set(large["by_site"]) | set(small["by_site"])}
    top = dict(sorted(((k, round(v)) for k, v in sites.items() if v >= 1), key=lambda kv: -kv[1]))
    return {"bytes_per_device": round((large["traced_bytes"] - small["traced_bytes"]) / span),
            "device_record_bytes": large["record_bytes"], "bytes_per_device_by_file": top}


def measure_consortium(n: int, rounds: int = 2) -> dict[str, Any]:
    """An FL scenario whose chain is run by n PBFT validators (the cloud and n - 1 edges)."""
    import torch

    torch.set_num_threads(1)
    from edgeledger.net.sim import Simulator
    from edgeledger.scenario.assembly import build_network
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    scenario = parse_scenario(apply_overrides(data, [
        f"topology.edges={n - 1}", "topology.devices_per_edge=2", f"fl.clients_per_round={min(10, 2 * (n - 1))}",
        f"fl.rounds={rounds}", "fl.local_epochs=1", "attacks=[]", "output.plots=false"]))
    wall0 = time.perf_counter()
    network = build_network(scenario)
    commits: dict[int, list[float]] = {}
    proposed: dict[int, float] = {}
    sim = Simulator(scenario.seed, network.link_for)
    for v in network.validators:
        def on_commit(block: Any, receipts: Any) -> None:
            commits.setdefault(block.height, []).append(sim.now)
            proposed[block.height] = block.header.timestamp_ms / 1000

        network.infrastructure[v].commit_listeners.append(on_commit)
    network.attach(sim)
    sim.run(until=scenario.max_sim_time_s, stop=lambda: network.aggregator.done)
    sim.run(until=sim.now + 2.0)
    quorum = network.membership.quorum
    latencies = [sorted(times)[quorum - 1] - proposed[h] for h, times in commits.items() if len(times) >= quorum]
    consensus = sum(b for t in sim.traffic.values() for k, b in t.bytes_by_type.items()
                    if k in ("pbft.pre-prepare", "pbft.prepare", "pbft.commit", "pbft.checkpoint"))
    blocks = len(latencies)
    return {"n": n, "f": network.membership.f, "blocks": blocks,
            "commit_ms": round(1000 * statistics.median(latencies), 2) if latencies else None,
            "consensus_bytes_per_block": round(consensus / blocks) if blocks else None,
            "bytes_per_block": round(sim.total_bytes() / blocks) if blocks else None,
            "rounds": network.aggregator.completed, "wall_s": round(time.perf_counter() - wall0, 2),
            "peak_rss_mb": _peak_rss_mb()}


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    """Run this script on one case in a fresh process; its last stdout line is the JSON."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_REPO_ROOT,
                                                                                         os.environ.get("PYTHONPATH")]))})
    if out.returncode != 0:
        raise SystemExit(f"case {args} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 and 10,000 devices, n = 4 and 16 (about a minute)")
    p.add_argument("--no-stretch", action="store_true", help="skip the 1,000,000-device population")
    p.add_argument("--population", type=int, help=argparse.SUPPRESS)  # a child: measure one population
    p.add_argument("--consortium", type=int, help=argparse.SUPPRESS)  # a child: measure one consortium
    p.add_argument("--memory", type=int, help=argparse.SUPPRESS)  # a child: traced memory of one population
    p.add_argument("--device-bytes", action="store_true", help="measure what a device costs in bytes and stop")
    p.add_argument("--dataset", default="mnist", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3, help="FL rounds per population (default 3)")
    p.add_argument("--profile", help="with --population: write a cProfile of the run here")
    args = p.parse_args(argv)
    if args.population:
        print(json.dumps(measure_population(args.population, args.dataset, args.rounds, args.profile)))
        return
    if args.consortium:
        print(json.dumps(measure_consortium(args.consortium)))
        return
    if args.memory:
        print(json.dumps(measure_memory(args.memory)))
        return
    if args.device_bytes:
        result = device_bytes()
        for site, b in result["bytes_per_device_by_file"].items():
            print(f"{b:>8,} B  {site}")
        print(f"{result['bytes_per_device']:>8,} B  per device in all; the device's own record "
              f"(partition slice and counters): {result['device_record_bytes']} B")
        print(json.dumps(result))
        return
    sizes = POPULATIONS[:2] if args.quick else POPULATIONS
    rows = [_child(["--population", str(d), "--rounds", str(args.rounds)], 3600) for d in sizes]
    if not (args.quick or args.no_stretch):
        rows.append(_child(["--population", str(STRETCH), "--dataset", "synthetic", "--rounds", str(args.rounds)],
                           7200))
    consortia = [_child(["--consortium", str(n)], 1800) for n in (CONSORTIA[:2] if args.quick else CONSORTIA)]
    print(f"{'devices':>10} {'data':>9} {'setup s':>8} {'round s':>8} {'round cpu':>9} {'events/s':>9} "
          f"{'peak MB':>8} {'accuracy':>8}")
    for r in rows:
        print(f"{r['devices']:>10,} {r['dataset']:>9} {r['setup_s']:>8.1f} {r['round_s']:>8.2f} "
              f"{r['round_cpu_s']:>9.2f} {r['events_per_s']:>9,} {r['peak_rss_mb']:>8.0f} {r['final_accuracy']:>8}")
    print(f"{'PBFT n':>10} {'f':>3} {'blocks':>7} {'commit ms':>10} {'PBFT B/block':>13} {'all B/block':>12}")
    for c in consortia:
        print(f"{c['n']:>10} {c['f']:>3} {c['blocks']:>7} {c['commit_ms']:>10} {c['consensus_bytes_per_block']:>13,} "
              f"{c['bytes_per_block']:>12,}")
    by_size = {r["devices"]: r for r in rows}
    big = max(d for d in sizes)
    result: dict[str, Any] = {}
    for r in rows:
        tag = f"{r['devices'] // 1000}k" if r["devices"] < 1_000_000 else f"{r['devices'] // 1_000_000}m"
        result.update({f"setup_s_{tag}": r["setup_s"], f"round_s_{tag}": r["round_s"],
                       f"round_cpu_s_{tag}": r["round_cpu_s"], f"peak_rss_mb_{tag}": r["peak_rss_mb"],
                       f"events_per_s_{tag}": r["events_per_s"], f"startup_events_per_s_{tag}": r["startup_events_per_s"]})
    tag = f"{big // 1000}k"
    result[f"round_s_ratio_{tag}_vs_1k"] = round(by_size[big]["round_s"] / by_size[1_000]["round_s"], 3)
    result[f"round_cpu_s_ratio_{tag}_vs_1k"] = round(by_size[big]["round_cpu_s"] / by_size[1_000]["round_cpu_s"], 3)
    for c in consortia:
        result[f"pbft_commit_ms_n{c['n']}"] = c["commit_ms"]
        result[f"pbft_consensus_bytes_per_block_n{c['n']}"] = c["consensus_bytes_per_block"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
