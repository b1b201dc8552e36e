"""Mutation testing of the PBFT core: apply each deliberate bug, run the Byzantine campaign until a
scenario fails (the mutant is killed), and report how many die and how fast.

    python benchmarks/consensus_mutants.py --quick         # every mutant against the quick plan
    python benchmarks/consensus_mutants.py --only votes-not-persisted
Last line: JSON with ``mutants``, ``killed``, ``median_s_to_kill`` (and per-mutant details).
A surviving mutant is a gap in the campaign, not in the mutant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.consensus.testing.mutants import MUTANTS, Mutant, apply  # noqa: E402


def run_mutant(mutant: Mutant, plan: str, timeout_s: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = apply(mutant, Path(tmp))
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "edgeledger.consensus.testing.campaign", "--plan", plan,
                                   "--stop-on-first", "--no-progress"], cwd=tmp,
                                  env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"mutant": mutant.name, "killed": False, "seconds": timeout_s, "by": None, "why": "timeout"}
        seconds = time.perf_counter() - start
        try:
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"mutant": mutant.name, "killed": proc.returncode != 0, "seconds": seconds, "by": None,
                    "why": (proc.stderr or proc.stdout)[-300:]}
        first = figures.get("first_failure")
        return {"mutant": mutant.name, "killed": bool(first), "seconds": round(seconds, 2),
                "by": first[0] if first else None, "why": first[1][:160] if first else None,
                "scenarios": sum(figures["runs_by_kind"].values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick plan per mutant (about a minute in all)")
    parser.add_argument("--plan", default=None, help="campaign plan per mutant (default: full, or quick with --quick)")
    parser.add_argument("--only", action="append", default=[], help="run only this mutant (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (one process each)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant before it counts as surviving")
    args = parser.parse_args(argv)
    plan = args.plan or ("quick" if args.quick else "full")
    timeout = args.timeout or (240.0 if plan == "quick" else 3600.0)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutant in {args.only}; expected some of {[m.name for m in MUTANTS]}")
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda m: run_mutant(m, plan, timeout), chosen))
    for r in results:
        mark = "killed " if r["killed"] else "SURVIVED"
        print(f"{mark} {r['mutant']:<36} {r['seconds']:>7.1f} s  by {r['by']}: {r['why']}")
    killed = [r for r in results if r["killed"]]
    figures = {"mutants": len(results), "killed": len(killed),
               "median_s_to_kill": round(statistics.median(r["seconds"] for r in killed), 2) if killed else None,
               "max_s_to_kill": round(max(r["seconds"] for r in killed), 2) if killed else None,
               "wall_s": round(time.perf_counter() - start, 1), "plan": plan,
               "survivors": [r["mutant"] for r in results if not r["killed"]]}
    print(json.dumps(figures))
    return 0 if len(killed) == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
