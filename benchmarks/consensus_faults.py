"""PBFT Byzantine campaign: systematic and random Twins scenarios, scripted Byzantine strategies and
random fault schedules (loss, duplication, reordering, partitions, crashes, state transfer), with
invariants checked after every event. Prints violations (expected 0) and honest double votes (0).

    python benchmarks/consensus_faults.py --quick            # about a minute on two cores
    python benchmarks/consensus_faults.py                    # the full plan (>= 10,000 Twins, 10,000 random)
    python benchmarks/consensus_faults.py --replay twins:4:2:1234
Last line: JSON with ``schedules``, ``twins_scenarios``, ``violations``, ``double_votes``, ``simulated_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.consensus.testing import run_scenario, scenario_from_id  # noqa: E402
from edgeledger.consensus.testing.campaign import PLANS, append_corpus, run_campaign, scenario_ids  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "consensus" / "corpus.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick plan (about a minute on two cores)")
    parser.add_argument("--plan", choices=sorted(PLANS), default=None, help="default: full (quick with --quick)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first random scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--replay", default=None, help="run this one scenario id and print what happened")
    parser.add_argument("--no-corpus", action="store_true", help="do not append failures to tests/consensus/corpus.txt")
    args = parser.parse_args(argv)
    if args.replay:
        scenario = scenario_from_id(args.replay)
        print(scenario.describe())
        outcome = run_scenario(scenario)
        print("violations:", outcome.violations or "none", f"simulated_s={outcome.simulated_s:.2f}")
        return 1 if outcome.violations else 0
    plan = args.plan or ("quick" if args.quick else "full")
    report = run_campaign(scenario_ids(PLANS[plan], args.first_seed), workers=args.workers)
    figures = report.figures()
    if report.failures and not args.no_corpus:
        print(f"{append_corpus(CORPUS, report.failures)} new failing scenario(s) added to {CORPUS}")
    print(f"plan {plan}: {figures['twins_scenarios']} Twins scenarios, {figures['schedules']} other schedules "
          f"({figures['runs_by_kind']})")
    print(f"violations: {figures['violations']} (expected 0), honest double votes: {figures['double_votes']} (0)")
    print(f"simulated time: {figures['simulated_s']} s in {figures['wall_s']} s wall")
    figures["plan"] = plan
    print(json.dumps(figures))
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
