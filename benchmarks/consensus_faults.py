"""PBFT fault campaign: N seeded schedules of loss, duplication, reordering, partitions,
crash/restart and up to f Byzantine replicas; prints violations (expected 0).

    python benchmarks/consensus_faults.py --schedules 10000
    python benchmarks/consensus_faults.py --seed 1234          # replay one schedule
Last line: JSON with ``schedules``, ``violations``, ``simulated_s``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.consensus.sim_harness import generate, run_schedule  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000, help="how many random schedules to run")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first schedule")
    parser.add_argument("--seed", type=int, default=None, help="replay this one seed and print its schedule")
    parser.add_argument("--size", choices=("small", "large"), default="large",
                        help="small: n in {4,5}, <=10 txs (CI); large: n up to 7, <=24 txs")
    parser.add_argument("--quick", action="store_true", help="at most 300 small schedules (about a minute or less)")
    args = parser.parse_args(argv)
    if args.seed is not None:
        print(generate(args.seed, args.size).describe())
        result = run_schedule(args.seed, args.size)
        print("violations:", result.violations or "none", f"simulated_s={result.simulated_s:.2f}")
        return 1 if result.violations else 0
    n, size = (min(args.schedules, 300), "small") if args.quick else (args.schedules, args.size)
    start = time.perf_counter()
    violations, simulated, modes = 0, 0.0, Counter()
    for seed in range(args.first_seed, args.first_seed + n):
        result = run_schedule(seed, size)
        simulated += result.simulated_s
        modes[result.schedule.mode] += 1
        if result.violations:
            violations += 1
            print(f"VIOLATION {result.schedule.describe()}\n  {result.violations[0]}\n"
                  f"  replay: python benchmarks/consensus_faults.py --seed {seed} --size {size}")
    wall = time.perf_counter() - start
    print(f"schedules run: {n} ({dict(modes)}), size={size}")
    print(f"violations: {violations} (expected 0)")
    print(f"simulated time: {simulated:.0f} s in {wall:.1f} s wall")
    print(json.dumps({"schedules": n, "violations": violations, "simulated_s": round(simulated, 1),
                      "wall_s": round(wall, 1), "size": size}))
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
