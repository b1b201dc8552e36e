"""Digital-twin benchmark: SewingChain's control layer in the simulator and as real processes.

Simulated plant (:func:`edgeledger.twins.experiment.run_plant`; ``--quick``: 3 edges x 2 machines,
480 operating hours each; full: 4 x 4, 960 h): 4 PBFT validators, each edge an oracle member and a
gateway, 5 ms chain links, 2 ms machine links (one machine's with 30 % loss, one actuator that answers
half the first deliveries 0.45 s late against a 0.3 s timeout); one lying gateway rewriting 15 % of its
batches, a cloud store rewriting 3 % of stored batches before the oracle reads them and 3 % of the
attested history afterwards. The predictor is trained by the computing oracle (5 rounds) before the
plant goes live; the machines are held out from its training fleets.

* ``command_rtt_s_p50`` / ``_p99`` -- simulated seconds from the engineer's command transaction to its
  settled acknowledgement committed at the observation node (retries included);
* ``reading_to_twin_s_p50`` -- from the end of a sensor batch to its attested reading committed;
* ``tampered_detected_pct`` -- tampered readings (gateway) and stored batches (cloud) detected: refused
  by the oracle group, or found by the reader's audit; ``false_alarms`` counts honest ones flagged;
* ``maintenance_precision`` / ``_recall`` -- the crew's inspections after on-chain maintenance orders
  against the machines' failures; ``baseline_*`` -- time-based inspection at the same number of orders.

On processes (``edgeledger twin up`` on 127.0.0.1: 4 validators, 3 edges, an observation node, 3 device
processes with the lossy and the slow device): ``command_rtt_s_p50_processes`` / ``_p99_processes`` are
wall-clock seconds from submitting a command transaction to the observation node serving its settled
acknowledgement (polled every 10 ms), commands spread over the three machines;
``reading_to_twin_s_p50_processes`` from a batch's device timestamp to the observation node serving it
(polled every 50 ms). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from edgeledger.twins.experiment import run_plant
from edgeledger.twins.factory import FactoryConfig


def simulated(quick: bool, seed: int) -> dict[str, float]:
    config = FactoryConfig(seed=seed, edges=3 if quick else 4, machines_per_edge=2 if quick else 4,
                           hours=480 if quick else 960)
    start = time.perf_counter()
    report, _ = run_plant(config)
    figures = report.figures()
    figures["sim_wall_s"] = time.perf_counter() - start
    figures["sim_machines"] = float(config.edges * config.machines_per_edge)
    return figures


def processes(quick: bool, seed: int) -> dict[str, float]:
    from edgeledger.deploy.cluster import stop_cluster
    from edgeledger.deploy.twin_cluster import (
        get_json,
        observer_url,
        start_twin_network,
        submit_call,
        wait_twins_ready,
    )
    from edgeledger.deploy.twin_plan import plan_twin_network

    commands = 9 if quick else 45
    root = Path(tempfile.mkdtemp(prefix="twin-bench-"))  # kept (with the logs) when the run fails
    plan = plan_twin_network(3, 1, period_s=0.5, seed=seed, fl_rounds=2)
    started = time.perf_counter()
    cluster = start_twin_network(plan, root)
    try:
        wait_twins_ready(cluster)
        setup_s = time.perf_counter() - started
        url = observer_url(cluster)
        seen: dict[tuple[str, int], float] = {}
        deadline = time.monotonic() + (4.0 if quick else 15.0)
        while time.monotonic() < deadline:  # watch readings arrive
            code, body = get_json(f"{url}/v1/twins")
            now = time.time()
            for t in (x for e in body.get("edges", []) for x in e["twins"]) if code == 200 else []:
                r = t["reading"]
                if r and (t["id"], r["seq"]) not in seen:
                    seen[(t["id"], r["seq"])] = now - r["time_ms"] / 1000
            time.sleep(0.05)
        freshness = sorted(list(seen.values())[len(plan.machines):])  # the first sighting may be old news
        rtts, settled = [], {}
        for i in range(commands):
            twin = plan.machines[i % len(plan.machines)].twin_id
            t0 = time.perf_counter()
            tx = submit_call(cluster, "engineer", "command", [twin, "set_speed", [800 + 100 * (i % 5)]])
            while True:
                code, body = get_json(f"{url}/v1/twins/commands?twin={twin}")
                found = [c for c in body.get("commands", []) if c["tx"] == tx] if code == 200 else []
                if found and found[0]["status"] not in ("pending", "retrying"):
                    break
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError(f"command {tx[:16]} not settled within 30 s (logs in {root})")
                time.sleep(0.01)
            settled[found[0]["status"]] = settled.get(found[0]["status"], 0) + 1
            if found[0]["status"] in ("acked", "acked-late"):
                rtts.append(time.perf_counter() - t0)
    finally:
        stop_cluster(cluster)
    shutil.rmtree(root, ignore_errors=True)
    return {"command_rtt_s_p50_processes": float(np.percentile(rtts, 50)),
            "command_rtt_s_p99_processes": float(np.percentile(rtts, 99)),
            "commands_acked_processes": float(len(rtts)), "commands_processes": float(commands),
            "commands_refused_processes": float(settled.get("refused", 0)),  # the machine was down (failed)
            "commands_failed_processes": float(settled.get("failed", 0)),  # every attempt lost
            "reading_to_twin_s_p50_processes": statistics.median(freshness) if freshness else float("nan"),
            "twin_processes": float(len(plan.members) + len(plan.machines)), "twin_processes_setup_s": setup_s}


def run(quick: bool, seed: int) -> dict[str, float]:
    results = simulated(quick, seed)
    results.update(processes(quick, seed))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: a smaller plant, fewer commands")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = run(args.quick, args.seed)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}} {value:12.4f}")
    print(json.dumps({k: round(v, 4) for k, v in results.items()}))


if __name__ == "__main__":
    main()
