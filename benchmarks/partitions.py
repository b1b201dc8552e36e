"""Jepsen-style partition test on real processes: acknowledged transactions survive partitions and kills.

4 validator processes on 127.0.0.1, 4 concurrent clients, a seeded nemesis (random partitions
through /v1/admin/links, SIGKILL + restart of validators) for a bounded time; then everything
heals and the checker reads every chain. See edgeledger/bench/partitions.py.

Usage: python benchmarks/partitions.py [--quick] [--seconds S] [--seed N]
The last line is one JSON object: operations, faults, acknowledged_lost (goal 0), chains_agree.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgeledger.bench.partitions import run_partition_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s of faults (default 180 s)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=1, help="nemesis and client seed")
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.quick else 180.0)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_partition_test(Path(tmp), seconds, seed=args.seed)
    for problem in result.problems:
        print("problem:", problem)
    summary = result.summary()
    for k, v in summary.items():
        print(f"{k:<22}{v!s:>12}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
