"""Pedal oracle benchmark: crypto primitives and end-to-end data-oracle latency in simulation.

Prints a table, then one JSON line (last line) with at least ``vrf_prove_per_s``,
``vrf_verify_per_s``, ``bls_fast_aggregate_verify_27_ms``, ``threshold_combine_19_of_27_ms``
and ``oracle_request_to_callback_s_sim`` (median simulated seconds from a requester's
transaction to its application callback, 27 oracle nodes in 3 groups on a 4-validator PBFT
chain, 1000 Mbit/s links with 5 ms latency, one lying and one slow source). Also reported:
the wall time per simulated request, the proxy's on-chain verification time, and
``oracle_dkg_setup_s_sim``: simulated seconds until every group's key is generated on chain
(from the chain's start: proxy deployment, registrations, then the key generation).

``oracle_request_to_callback_s_processes`` is the same latency measured on real processes
on 127.0.0.1 (``edgeledger oracle up``): 4 PBFT validators, oracle nodes in groups of 4
(t = 3; per group one lying gateway and one source 2 s late) and a requester, each its own
OS process over HTTP; wall-clock seconds from the requester's submission to the callback
committed at the requester (mean, with ``_p50``/``_p99``). Requests are filed 0.5 s apart,
as in the simulation; the election timeout is the deployment's 2 s (a term's master is decided
as soon as every VRF proof is in, so it only matters when a node is down). Without ``--quick``
it also prints ``xchain_request_to_callback_s_processes``: a cross-chain request (Fig. 3)
through a federal chain and two local chains, each with 4 validator processes, and a relay
group of 4 processes, and ``xchain_ready_s_processes_dkg``/``_dealer``: launch until every
gateway holds the relay key, generated on the FBC or dealt (the baseline of the same run).
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
    sim.run(until=2.0, stop=chain.ready)  # the groups generate their keys on chain (distributed key generation)
    if not chain.ready():
        raise RuntimeError("the groups' key generation did not finish within 2 simulated seconds")
    setup_s = sim.now
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
            "oracle_dkg_setup_s_sim": setup_s,
            "oracle_nodes": float(n_groups * per_group)}


def oracle_latency_processes(quick: bool, seed: int) -> dict[str, float]:
    """Request-to-callback latency on real processes (starts and stops its own network)."""
    import shutil
    import tempfile

    from edgeledger.deploy.cluster import stop_cluster
    from edgeledger.deploy.oracle_cluster import (
        file_oracle_request, start_oracle_network, wait_callbacks, wait_oracle_ready,
    )
    from edgeledger.deploy.oracle_plan import plan_oracle_network

    n_groups, requests = (1, 10) if quick else (2, 40)
    plan = plan_oracle_network(n_validators=4, n_groups=n_groups, per_group=4, lying=1, slow=1, slow_delay_s=2.0,
                               chain_id="pedal-bench", sensor_seed=seed)
    root = Path(tempfile.mkdtemp(prefix="oracle-bench-"))  # kept (with the logs) when the run fails
    start = time.perf_counter()
    cluster = start_oracle_network(plan, root)
    try:
        wait_oracle_ready(cluster, timeout=120)
        setup_s = time.perf_counter() - start
        tx_ids = []
        for _ in range(requests):
            tx_ids.append(file_oracle_request(cluster, "boiler"))
            time.sleep(0.5)
        done = wait_callbacks(cluster, tx_ids, timeout=60)
    finally:
        stop_cluster(cluster)
    shutil.rmtree(root, ignore_errors=True)
    latencies = sorted(r["latency_s"] for r in done)
    return {"oracle_request_to_callback_s_processes": statistics.fmean(latencies),
            "oracle_request_to_callback_s_processes_p50": statistics.median(latencies),
            "oracle_request_to_callback_s_processes_p99": latencies[min(len(latencies) - 1,
                                                                        round(0.99 * (len(latencies) - 1)))],
            "oracle_processes": float(len(plan.members)),
            "oracle_processes_setup_s": setup_s}


def xchain_latency_processes(requests: int = 5) -> dict[str, float]:
    """Cross-chain request (lbc1 -> FBC -> lbc2 -> callback on lbc1) latency on processes.

    FBC and two LBCs with 4 PBFT validators each, a relay group of 4 and an observation node,
    18 processes; the callback is polled on lbc1's first validator every 50 ms (so the figure
    is up to ~50 ms high). Also the seconds from launch until every gateway holds the relay
    key: generated on the FBC and installed from its certificate (``_dkg``), and, as the
    baseline of the same run, dealt by the launcher (``_dealer``, the test device). Not run
    with ``--quick``.
    """
    import shutil
    import tempfile

    from edgeledger.deploy.cluster import stop_cluster
    from edgeledger.deploy.federation_cluster import send_cross_chain, start_federation, wait_cross_chain, \
        wait_federation_ready
    from edgeledger.deploy.federation_plan import plan_federation

    out: dict[str, float] = {}
    for mode in ("dealer", "dkg"):
        root = Path(tempfile.mkdtemp(prefix="xchain-bench-"))  # kept (with the logs) when the run fails
        started = time.monotonic()
        cluster = start_federation(plan_federation(lbcs=2, validators_per_chain=4, relays=4, key_generation=mode),
                                   root)
        try:
            wait_federation_ready(cluster, timeout=120)
            out[f"xchain_ready_s_processes_{mode}"] = time.monotonic() - started
            latencies = []
            for _ in range(requests if mode == "dkg" else 0):
                tx_id, sent = send_cross_chain(cluster, "lbc1", "lbc2", 1)
                latencies.append(wait_cross_chain(cluster, "lbc1", tx_id, sent, timeout=60)["latency_s"])
        finally:
            stop_cluster(cluster)
        shutil.rmtree(root, ignore_errors=True)
    out.update({"xchain_request_to_callback_s_processes": statistics.fmean(latencies),
                "xchain_request_to_callback_s_processes_max": max(latencies)})
    return out


def run(quick: bool, seed: int) -> dict[str, float]:
    results = crypto_oracle_primitives.run(quick, seed)
    results.update(oracle_latency(quick, seed))
    results.update(oracle_latency_processes(quick, seed))
    if not quick:
        results.update(xchain_latency_processes())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and requests (about a minute)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the keys, sources and simulator")
    args = parser.parse_args()
    crypto_oracle_primitives.report(run(args.quick, args.seed), args.seed, args.quick, digits=4)


if __name__ == "__main__":
    main()
