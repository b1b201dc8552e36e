"""Pedal oracle benchmark: crypto primitives and end-to-end data-oracle latency in simulation.

Prints a table, then one JSON line (last line) with at least ``vrf_prove_per_s``,
``vrf_verify_per_s``, ``bls_fast_aggregate_verify_27_ms``, ``threshold_combine_19_of_27_ms``
and ``oracle_request_to_callback_s_sim`` (median simulated seconds from a requester's
transaction to its application callback, 27 oracle nodes in 3 groups on a 4-validator PBFT
chain, 1000 Mbit/s links with 5 ms latency, one lying and one slow source). Also reported:
the wall time per simulated request and the proxy's on-chain verification time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crypto_oracle_primitives  # noqa: E402

from edgeledger.net.sim import Link, Simulator  # noqa: E402
from edgeledger.oracle import LyingSource, NoisySensor, SlowSource  # noqa: E402
from edgeledger.oracle.simnet import build_oracle_chain  # noqa: E402


def oracle_latency(quick: bool, seed: int) -> dict[str, float]:
    n_groups, per_group = 3, 9
    requests = 10 if quick else 40
    sim = Simulator(seed, lambda a, b: Link(latency_s=0.005, bandwidth_bps=1e9))
    groups = {f"g{g}": [f"L.o{g * per_group + i}" for i in range(per_group)] for g in range(n_groups)}
    sensor = NoisySensor(seed=seed)
    sources = {o: sensor for members in groups.values() for o in members}
    sources["L.o1"] = LyingSource(sensor)
    sources["L.o10"] = SlowSource(sensor, extra_delay_s=2.0)
    chain = build_oracle_chain(sim, "L", groups, sources=sources)
    sim.run(until=2.0)
    for i in range(requests):
        chain.request("boiler", 1000 * i, at=2.5 + 0.5 * i)
    start = time.perf_counter()
    sim.run(until=2.5 + 0.5 * requests + 5.0)
    wall = time.perf_counter() - start
    latencies = list(chain.latencies().values())
    if len(latencies) != requests:
        raise RuntimeError(f"only {len(latencies)} of {requests} oracle requests were called back")
    return {"oracle_request_to_callback_s_sim": statistics.median(latencies),
            "oracle_request_to_callback_s_sim_max": max(latencies),
            "oracle_wall_s_per_request": wall / requests,
            "oracle_nodes": float(n_groups * per_group)}


def run(quick: bool, seed: int) -> dict[str, float]:
    results = crypto_oracle_primitives.run(quick, seed)
    results.update(oracle_latency(quick, seed))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and requests (about a minute)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the keys, sources and simulator")
    args = parser.parse_args()
    crypto_oracle_primitives.report(run(args.quick, args.seed), args.seed, args.quick, digits=4)


if __name__ == "__main__":
    main()
