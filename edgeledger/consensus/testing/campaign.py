"""Run many scenarios: a plan of families, a progress bar, parallel workers, a corpus of failures.

A plan names how many scenarios of each kind to run; :func:`scenario_ids` interleaves the
kinds (so any prefix of a campaign mixes them and a mutant is met early) and walks the
systematic Twins space in a permuted order (so a partial run still covers it evenly). Every
failing scenario is reported with the command that replays it and can be appended to a
corpus file that CI replays (STYLE rule 12).

    python -m edgeledger.consensus.testing.campaign --quick            # about a minute
    python -m edgeledger.consensus.testing.campaign --stop-on-first    # (mutation testing)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgeledger.consensus.testing import run_scenario
from edgeledger.consensus.testing.strategies import STRATEGIES
from edgeledger.consensus.testing.twins import twins_space_size

__all__ = ["PLANS", "scenario_ids", "run_campaign", "CampaignReport", "read_corpus", "append_corpus"]

#: scenarios per kind: systematic Twins (n=4, 2 rounds: the whole space; n=4, 3 rounds and n=7,
#: 1 round: sampled),
#: random Twins, scripted strategies (per strategy), mixed strategies, random schedules
PLANS: dict[str, dict[str, int]] = {
    "quick": {"twins4": 1000, "twins4r3": 300, "twins7": 150, "twins-random": 300, "strategy": 12, "mixed": 200,
              "random": 600},
    "ci": {"twins4": 150, "twins4r3": 30, "twins7": 20, "twins-random": 40, "strategy": 2, "mixed": 30,
           "random": 100},
    "full": {"twins4": 16384, "twins4r3": 4000, "twins7": 2000, "twins-random": 2000, "strategy": 200,
             "mixed": 2000, "random": 10000},
}
TWINS_KINDS = ("twins4", "twins4r3", "twins7", "twins-random")


def _permuted(size: int, count: int, offset: int) -> Iterator[int]:
    """``count`` distinct indices of ``range(size)`` spread over it (an affine permutation)."""
    step = int(size * 0.6180339887) | 1
    while math.gcd(step, size) != 1:
        step += 2
    for k in range(min(count, size)):
        yield (offset + k * step) % size


def _kind_ids(kind: str, count: int, first_seed: int) -> Iterator[str]:
    if kind == "twins4":
        yield from (f"twins:4:2:{i}" for i in _permuted(twins_space_size(4, 2), count, first_seed))
    elif kind == "twins4r3":
        yield from (f"twins:4:3:{i}" for i in _permuted(twins_space_size(4, 3), count, first_seed))
    elif kind == "twins7":
        yield from (f"twins:7:1:{i}" for i in _permuted(twins_space_size(7, 1), count, first_seed))
    elif kind == "twins-random":
        yield from (f"twins-random:{7 if k % 3 == 2 else 4}:{first_seed + k}" for k in range(count))
    elif kind == "strategy":
        yield from (f"strategy:{name}:{first_seed + k}" for k in range(count) for name in sorted(STRATEGIES))
    elif kind == "mixed":
        yield from (f"mixed:{first_seed + k}" for k in range(count))
    elif kind == "random":
        yield from (f"random:large:{first_seed + k}" for k in range(count))
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of twins4, twins7, twins-random, strategy, mixed, random")


def scenario_ids(plan: dict[str, int], first_seed: int = 0) -> list[tuple[str, str]]:
    """(kind, id) pairs of a plan, interleaved round-robin over its kinds."""
    streams = {kind: _kind_ids(kind, count, first_seed) for kind, count in plan.items() if count > 0}
    out: list[tuple[str, str]] = []
    while streams:
        for kind in list(streams):
            nxt = next(streams[kind], None)
            if nxt is None:
                del streams[kind]
            else:
                out.append((kind, nxt))
    return out


@dataclass
class CampaignReport:
    runs: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (id, first violation)
    simulated_s: float = 0.0
    double_votes: int = 0
    wall_s: float = 0.0
    first_failure_s: float | None = None

    def figures(self) -> dict[str, object]:
        twins = sum(self.runs[k] for k in TWINS_KINDS)
        return {"schedules": sum(self.runs.values()) - twins, "twins_scenarios": twins,
                "violations": len(self.failures), "double_votes": self.double_votes,
                "simulated_s": round(self.simulated_s, 1), "wall_s": round(self.wall_s, 1),
                "runs_by_kind": dict(self.runs)}


def _run_one(scenario_id: str) -> tuple[str, list[str], float, int]:
    outcome = run_scenario(scenario_id)
    return scenario_id, outcome.violations, outcome.simulated_s, outcome.double_votes


def run_campaign(ids: list[tuple[str, str]], workers: int = 1, stop_on_first: bool = False,
                 progress: bool = True) -> CampaignReport:
    """Run ``ids`` (see :func:`scenario_ids`) and collect what failed."""
    report = CampaignReport()
    kinds = dict((sid, kind) for kind, sid in ids)
    start = time.perf_counter()
    bar = _progress_bar(len(ids)) if progress else None
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    results = pool.imap_unordered(_run_one, [sid for _, sid in ids], chunksize=8) if pool else map(
        _run_one, (sid for _, sid in ids))
    try:
        for sid, violations, simulated, double in results:
            report.runs[kinds[sid]] += 1
            report.simulated_s += simulated
            report.double_votes += double
            if violations:
                report.failures.append((sid, violations[0]))
                report.first_failure_s = report.first_failure_s or time.perf_counter() - start
                if bar is None:
                    print(f"VIOLATION {sid}: {violations[0]}\n  replay: edgeledger consensus replay {sid}",
                          file=sys.stderr)
                else:
                    bar[0].console.print(f"[red]VIOLATION[/red] {sid}: {violations[0]}\n"
                                         f"  replay: edgeledger consensus replay {sid}")
                if stop_on_first:
                    break
            if bar is not None:
                bar[0].advance(bar[1])
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar[0].stop()
    report.wall_s = time.perf_counter() - start
    return report


def _progress_bar(total: int):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), transient=True)
    task = progress.add_task("scenarios", total=total)
    progress.start()
    return progress, task


def read_corpus(path: Path) -> list[str]:
    """Scenario ids in a corpus file (one per line; ``#`` starts a comment)."""
    if not path.exists():
        return []
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def append_corpus(path: Path, failures: list[tuple[str, str]]) -> int:
    """Add failing ids not yet in the corpus; returns how many were added."""
    known = set(read_corpus(path))
    new = [(sid, why) for sid, why in failures if sid not in known]
    if new:
        with path.open("a") as fh:
            for sid, why in new:
                fh.write(f"{sid}  # {why[:150]}\n")
    return len(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the PBFT Byzantine campaign.")
    parser.add_argument("--plan", choices=sorted(PLANS), default="quick")
    parser.add_argument("--quick", action="store_const", const="quick", dest="plan")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--stop-on-first", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    report = run_campaign(scenario_ids(PLANS[args.plan], args.first_seed), args.workers, args.stop_on_first,
                          progress=not args.no_progress)
    figures = report.figures()
    figures["first_failure"] = report.failures[0] if report.failures else None
    figures["first_failure_s"] = report.first_failure_s
    print(json.dumps(figures))
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
