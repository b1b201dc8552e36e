"""Run a scenario in the simulator: build, start, run to completion, collect everything.

Progress goes to a callback (the CLI draws it with rich); the run itself is deterministic:
the same scenario and seed give the same blocks, hashes and metrics.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeledger.effects import Metric, Rejected
from edgeledger.errors import InvariantViolation
from edgeledger.net.sim import Simulator
from edgeledger.scenario.assembly import Network, build_network
from edgeledger.scenario.schema import Scenario

__all__ = ["RunResult", "MetricRow", "run_scenario", "Timings"]


@dataclass(frozen=True)
class MetricRow:
    time: float
    round: int
    node: str
    metric: str
    value: float


@dataclass
class Timings:
    """Wall-clock split of a run (measured by the runner, outside the protocol cores)."""

    training_s: float = 0.0
    evaluation_s: float = 0.0
    total_s: float = 0.0


@dataclass
class RunResult:
    scenario: Scenario
    network: Network
    sim: Simulator
    metrics: list[MetricRow]
    rejections: list[tuple[float, str, str, str, str]]  # time, node, sender, what, reason
    timings: Timings
    summary: dict[str, Any] = field(default_factory=dict)
    #: every simulated second, per validator: (time, node, bytes received, bytes sent, view) cumulative
    samples: list[tuple[float, str, int, int, int]] = field(default_factory=list)


Progress = Callable[[dict[str, Any]], None]


def _timed(obj: Any, method: str, timings: Timings, attr: str) -> None:
    inner = getattr(obj, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            setattr(timings, attr, getattr(timings, attr) + time.perf_counter() - t0)

    setattr(obj, method, wrapper)


def run_scenario(scenario: Scenario, progress: Progress | None = None,
                 instrument: Callable[[Network], None] | None = None) -> RunResult:
    """Build and run ``scenario``; ``instrument`` may wrap the built network's parts (benchmarks)."""
    from edgeledger.scenario.preflight import check_scenario

    t_start = time.perf_counter()
    check_scenario(scenario)  # every plug-in name and parameter, before anything is built
    network = build_network(scenario)
    if instrument is not None:
        instrument(network)
    metrics: list[MetricRow] = []
    rejections: list[tuple[float, str, str, str, str]] = []
    timings = Timings()

    def watch(learner: Any) -> None:
        _timed(learner, "train", timings, "training_s")
        _timed(learner, "evaluate", timings, "evaluation_s")

    network.watch_learners(watch)  # the cloud's, and each device's when it is built
    if network.trainer is not None:  # a round's trainings run in the pool's flush
        _timed(network.trainer, "flush", timings, "training_s")

    headline = "utility" if scenario.fl.task == "offloading" else "accuracy"  # what a round reports first

    def on_metric(node: str, m: Metric, now: float) -> None:
        metrics.append(MetricRow(round(now, 9), m.round, node, m.name, float(m.value)))
        if progress is not None and m.name == f"fl.{headline}":  # only a round's closer reports it (any node)
            progress({"round": m.round, "rounds": scenario.fl.rounds, headline: m.value, "metric": headline,
                      "value": m.value, "height": network.infrastructure["cloud"].store.height, "sim_time": now})

    def on_reject(node: str, r: Rejected, now: float) -> None:
        rejections.append((round(now, 9), node, r.sender, r.what, r.reason))

    sim = Simulator(scenario.seed, network.link_for, on_metric, on_reject)
    network.attach(sim)
    samples: list[tuple[float, str, int, int, int]] = []
    _sample_every_second(sim, network, samples)
    try:
        sim.run(until=scenario.max_sim_time_s, stop=lambda: network.aggregator.done)
        sim.run(until=sim.now + 2.0)  # let the last block reach every validator
    finally:
        if network.trainer is not None:
            network.trainer.close()
    timings.total_s = time.perf_counter() - t_start
    result = RunResult(scenario, network, sim, metrics, rejections, timings, samples=samples)
    result.summary = summarise(result)
    return result


def _sample_every_second(sim: Simulator, network: Network, samples: list[tuple[float, str, int, int, int]]) -> None:
    """Record each validator's traffic and consensus view once per simulated second (the dashboard's
    bytes and view-change series). Reads counters only: the run's blocks and metrics do not change."""
    validators = [v for v in network.validators if v in network.infrastructure]

    def sample() -> None:
        for node_id in validators:
            traffic = sim.traffic.get(node_id)
            consensus = network.infrastructure[node_id].consensus
            samples.append((round(sim.now, 9), node_id, traffic.bytes_received if traffic else 0,
                            traffic.bytes_sent if traffic else 0, int(getattr(consensus, "view", 0) or 0)))
        sim.call_later(1.0, sample)

    sim.call_at(0.0, sample)


#: summary.json names the malicious nodes one by one up to this many (counts by kind always)
LISTED_NODES = 100


def check_agreement(network: Network) -> int:
    """Every validator's chain is a prefix of the longest one; returns the common height."""
    stores = [network.infrastructure[v].store for v in network.validators]
    longest = max(stores, key=lambda s: s.height)
    for store in stores:
        for h in range(1, store.height + 1):
            if store.block(h).hash != longest.block(h).hash:  # type: ignore[union-attr]
                raise InvariantViolation(f"validators disagree at height {h}")
    return min(s.height for s in stores)


def summarise(result: RunResult) -> dict[str, Any]:
    network, sim = result.network, result.sim
    cloud = network.infrastructure["cloud"]
    history = network.aggregator.history
    head = cloud.store.head()
    blocks = cloud.store.blocks()
    reasons = Counter(r[3] for r in result.rejections)
    return {
        "name": result.scenario.name,
        "seed": result.scenario.seed,
        "rounds_completed": network.aggregator.completed,
        "rounds": result.scenario.fl.rounds,
        "final_accuracy": history[-1].get("accuracy") if history else None,
        "final_loss": history[-1].get("loss") if history else None,
        "accuracy_per_round": [h.get("accuracy") for h in history],
        "blocks": cloud.store.height,
        "transactions": sum(len(b.transactions) for b in blocks),
        "head_hash": head.hash.hex() if head else None,
        "validators_agree_to_height": check_agreement(network),
        "bytes_sent": sim.total_bytes(),
        "messages_sent": sum(t.messages_sent for t in sim.traffic.values()),
        "messages_dropped": sum(t.messages_dropped for t in sim.traffic.values()),
        "updates_rejected": sum(1 for r in result.rejections if r[3] == "fl.update"),
        "downloads_rejected": sum(1 for r in result.rejections if r[3] == "fl.announce"),
        "rejections_by_kind": dict(sorted(reasons.items())),
        "malicious_by_kind": dict(sorted(Counter(network.malicious.values()).items())),
        **({"malicious": dict(sorted(network.malicious.items()))} if len(network.malicious) <= LISTED_NODES else {}),
        "simulated_time_s": round(sim.now, 6),
        "wall_time_s": round(result.timings.total_s, 3),
        "training_wall_s": round(result.timings.training_s, 3),
    }
