"""Where the demo's wall time goes: training, aggregation+evaluation, consensus, ledger, simulation.

Usage: python benchmarks/demo.py [--quick] [--seed N]
Prints a table and, as its last line, one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from importlib import resources

import torch

from edgeledger.scenario.assembly import Network
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def _wrap(obj, method, acc, key):
    inner = getattr(obj, method)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0

    setattr(obj, method, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    sets = ["fl.rounds=3"] if args.quick else []
    if args.seed is not None:
        sets.append(f"seed={args.seed}")
    scenario = parse_scenario(apply_overrides(data, sets))
    acc = {"training_s": 0.0, "aggregation_evaluation_s": 0.0, "consensus_s": 0.0, "ledger_commit_s": 0.0}

    def instrument(network: Network) -> None:
        for node in network.nodes.values():
            if node.consensus is not None:
                for m in ("submit", "receive", "timer"):
                    _wrap(node.consensus, m, acc, "consensus_s")
            _wrap(node, "_commit", acc, "ledger_commit_s")
        for node_id, learner in network.learners.items():
            if node_id in network.device_cores:
                _wrap(learner, "train", acc, "training_s")
        agg = network.aggregator
        _wrap(agg, "_close", acc, "aggregation_evaluation_s")

    result = run_scenario(scenario, instrument=instrument)
    total = result.timings.total_s
    sim_overhead = total - sum(acc.values())
    s = result.summary
    rows = {**{k: round(v, 3) for k, v in acc.items()}, "simulation_and_setup_s": round(sim_overhead, 3)}
    print(f"{'part':<28}{'seconds':>10}{'share':>8}")
    for k, v in rows.items():
        print(f"{k:<28}{v:>10.3f}{v / total:>8.1%}")
    print(f"{'total wall':<28}{total:>10.3f}")
    print(f"final accuracy {s['final_accuracy']:.4f}, {s['blocks']} blocks, {s['transactions']} transactions, "
          f"{s['bytes_sent']:,} bytes simulated, {s['simulated_time_s']:.2f} s simulated")
    print(json.dumps({"wall_s": round(total, 3), **rows, "final_accuracy": round(s["final_accuracy"], 4),
                      "blocks": s["blocks"], "transactions": s["transactions"], "bytes_sent": s["bytes_sent"],
                      "rounds": s["rounds_completed"]}))


if __name__ == "__main__":
    main()
