"""Pedal Section V-C through the computing oracle (SewingChain Algorithm 2), on a simulated PBFT chain.

Every round is one compute request to the oracle network: the VRF-elected master's group (10
of the 100 oracle nodes) trains the global model named on chain on its members' own data
partitions, the master aggregates the signed updates, every member recomputes the aggregate
before it signs its threshold share, and the chain records the new global model's digest.
Members that free-ride upload random parameters (Pedal's "random results"). The grid: IID /
non-IID (2 label shards per node, 200 shards) x 0/10/20/30% free riders x the group's rule
(``pedal``: the oracle's, rank by held-out accuracy and average the best third; ``fedavg``:
the same oracle path averaging every update), each run ``--repeats`` times (seeds derived
from the base seed), on MNIST, KMNIST, Fashion-MNIST and CIFAR-10 with Pedal's models
(Table I: ``pedal_mnist_cnn`` for MNIST and KMNIST; Table II, our reading: ``pedal_fmnist_cnn``;
Table III: ``pedal_cifar_vgg``). A data set whose files are not under the data root is
reported with the command that fetches it.

    python experiments/pedal_oracle/vc.py --datasets mnist           # 16 settings x 3 runs, 30 rounds
    python experiments/pedal_oracle/vc.py --quick                    # digits, 4 rounds, a smoke check
    edgeledger data download kmnist --data-root /path/to/datasets         # then --datasets kmnist

Simulation shortcut (stated): the members of a group run the same deterministic aggregation
in one process, so its result is memoised by (request, updates); every member still takes the
master's proposal only if it equals that result. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from edgeledger.codec import decode, encode  # noqa: E402
from edgeledger.crypto.hashing import derive_seed, sha256  # noqa: E402
from edgeledger.errors import DatasetError, DecodeError, EdgeLedgerError  # noqa: E402
from edgeledger.fl.datasets import load_dataset, use_checkout_datasets  # noqa: E402
from edgeledger.fl.params import params_from_bytes, params_to_bytes  # noqa: E402
from edgeledger.ledger.blobs import MemoryBlobStore  # noqa: E402
from edgeledger.ledger.contracts import contract_state  # noqa: E402
from edgeledger.net.sim import Link, Simulator  # noqa: E402
from edgeledger.oracle.computing import (  # noqa: E402
    FLRound, FLTask, ModelUpdate, compute_work, evaluate_model, initial_model, pedal_model_aggregation, round_params,
    verify_global_model,
)
from edgeledger.oracle.simnet import FEED, build_oracle_chain  # noqa: E402
from edgeledger.scenario.repeats import format_pm, mean_std, plot_band, repeat_seeds  # noqa: E402

#: The data sets: --data-root, $EDGELEDGER_DATA, else ../shared/datasets beside this checkout.
use_checkout_datasets(__file__)


MODELS = {"mnist": "pedal_mnist_cnn", "kmnist": "pedal_mnist_cnn", "fashion_mnist": "pedal_fmnist_cnn",
          "cifar10": "pedal_cifar_vgg", "digits": "mlp"}
FULL = {"oracles": 100, "group": 10, "rounds": 30, "epochs": 5, "lr_micro": 10_000, "batch": 10}
QUICK = {"oracles": 30, "group": 10, "rounds": 4, "epochs": 1, "lr_micro": 100_000, "batch": 16}
PARTITIONS = {"IID": "iid", "non-IID": "shards"}
MALICIOUS = (0.0, 0.1, 0.2, 0.3)
RULES = ("pedal", "fedavg")
#: Every setting of the grid: (label, partition, share of free riders, rule), in run order.
GRID = [(f"{plabel} / {int(fraction * 100)}% / {rule}", part, fraction, rule) for plabel, part in PARTITIONS.items()
        for fraction in MALICIOUS for rule in RULES]


def fedavg_model_aggregation(blobs: MemoryBlobStore) -> Any:
    """The comparison rule on the same oracle path: the data-size weighted mean of every valid update."""

    def aggregate(request: Any, values: Any, threshold: int) -> bytes | None:
        try:
            spec = decode(request.params, FLRound)
        except DecodeError:
            return None
        n_params, seen, rows, weights = initial_model(spec.task).shape[0], set(), [], []
        for value in values:
            try:
                u = decode(value, ModelUpdate)
                params = params_from_bytes(u.params)
            except (DecodeError, EdgeLedgerError, ValueError):
                continue
            if (u.round != spec.round or u.weight <= 0 or sha256(u.params) != u.digest or params.shape != (n_params,)
                    or u.node_id in seen or u.digest in seen):
                continue
            seen |= {u.node_id, u.digest}
            rows.append(params)
            weights.append(float(u.weight))
        if len(rows) < threshold:
            return None
        mean = np.average(np.stack(rows), axis=0, weights=np.asarray(weights)).astype(np.float32)
        return encode(blobs.put(params_to_bytes(mean)))

    return aggregate


def memoised(rule: str, blobs: dict[str, MemoryBlobStore], storage: MemoryBlobStore) -> Any:
    """Per node, the group's rule; its result computed once per (request, updates) and shared (see the
    docstring). The model goes to the node's blobs and the storage layer (where next round's drawn
    work nodes fetch it, verified by digest), as :func:`pedal_model_aggregation` leaves it."""
    memo: dict[bytes, tuple[bytes | None, bytes | None]] = {}
    scratch = MemoryBlobStore()
    inner = pedal_model_aggregation(scratch) if rule == "pedal" else fedavg_model_aggregation(scratch)

    def for_node(node: str) -> dict[str, Any]:
        def aggregate(request: Any, values: Any, threshold: int) -> bytes | None:
            key = sha256(encode([request.params, list(values), threshold]))
            if key not in memo:
                result = inner(request, values, threshold)
                memo[key] = (result, scratch.get(decode(result, bytes)) if result is not None else None)
            result, model = memo[key]
            if model is not None:
                blobs[node].put(model)  # the member holds the model it checked, as the real rule leaves it
                storage.put(model)
            return result

        return {"compute": aggregate}

    return for_node


def run_one(dataset: str, partition: str, fraction: float, rule: str, seed: int, size: dict[str, int],
            data_root: str | None) -> dict[str, Any]:
    """One oracle network training one task; returns its accuracy per round and its wall time."""
    t0 = time.perf_counter()
    n, g = size["oracles"], size["group"]
    groups = {f"g{k}": [f"V.o{g * k + i:03d}" for i in range(g)] for k in range(n // g)}
    oracles = sorted(m for members in groups.values() for m in members)
    k_bad = int(round(fraction * n))
    rng = np.random.default_rng(derive_seed(seed, "free-riders"))
    riders = {oracles[i] for i in rng.choice(n, size=k_bad, replace=False)} if k_bad else set()
    task = FLTask(dataset=dataset, model=MODELS[dataset], rounds=size["rounds"], epochs=size["epochs"],
                  lr_micro=size["lr_micro"], batch_size=size["batch"], seed=seed, n_clients=n, partition=partition)
    blobs = {o: MemoryBlobStore() for o in oracles}
    storage = MemoryBlobStore()  # the shared storage layer
    sim = Simulator(seed, lambda a, b: Link(latency_s=0.005, bandwidth_bps=1e9))
    rejected: list[Any] = []
    sim.on_reject = lambda node, r, now: rejected.append(r)
    chain = build_oracle_chain(
        sim, "V", groups, sources={}, seed=sha256(f"pedal-vc/{seed}".encode())[:22],
        work=lambda o: compute_work(blobs[o], part=oracles.index(o), seconds_per_round=1.0, tamper=o in riders,
                                    storage=storage),
        aggregators=memoised(rule, blobs, storage))
    sim.run(until=2.0)
    digest, curve = b"", []
    for r in range(1, task.rounds + 1):
        done = len(chain.latencies())
        chain.request("fl-task", 1000 * r, kind="compute", params=round_params(task, r, digest))
        sim.run(until=sim.now + 600.0, stop=lambda: len(chain.latencies()) > done)  # noqa: B023 -- called at once
        if len(chain.latencies()) == done:
            raise RuntimeError(f"round {r} was not called back ({len(rejected)} rejections)")
        request_id = max(chain.latencies(), key=lambda q: chain.watch.called_back_at[q])
        digest = contract_state(chain.nodes["V.v0"].state.kv, FEED, f"reading/{request_id}")
        curve.append(evaluate_model(task, verify_global_model(storage, digest)))
    return {"accuracy": curve, "wall_s": round(time.perf_counter() - t0, 1), "free_riders": sorted(riders),
            "simulated_s": round(sim.now, 3)}


def available(dataset: str, data_root: str | None) -> str | None:
    """None when the data set loads, else how to fetch it."""
    try:
        load_dataset(dataset, data_root)
        return None
    except (DatasetError, OSError) as exc:
        root = data_root or os.environ.get("EDGELEDGER_DATA") or "DIR"
        fetch = f"edgeledger data download {dataset} --data-root {root}"
        return f"{exc}" if "data download" in str(exc) else f"{exc}; fetch it with: {fetch}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mnist,kmnist,fashion_mnist,cifar10")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="digits, 30 oracle nodes, 4 rounds of E=1")
    p.add_argument("--only", default="", help="comma-separated setting labels to run (e.g. 'IID / 30%% / pedal')")
    p.add_argument("--rounds", type=int, default=None, help="rounds per run (default: 30, Pedal's; quick: 4)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--summarise", action="store_true", help="only tabulate the runs the --out folder's runs.csv holds")
    p.add_argument("--out", default=str(HERE / "results" / "vc"))
    args = p.parse_args(argv)
    unknown = [d.strip() for d in args.datasets.split(",") if d.strip() and d.strip() not in MODELS]
    if unknown:
        p.error(f"unknown data set {unknown[0]!r}; expected some of: {', '.join(sorted(set(MODELS) - {'digits'}))}")
    labels = [label for label, *_ in GRID]
    stray = [s.strip() for s in args.only.split(",") if s.strip() and s.strip() not in labels]
    if stray:
        p.error(f"no setting is labelled {stray[0]!r}; the labels look like {labels[0]!r} ({len(labels)} in all)")
    if args.repeats < 1 or (args.rounds is not None and args.rounds < 1):
        p.error("--repeats and --rounds must be at least 1")
    import torch

    torch.set_num_threads(1)
    size = dict(QUICK if args.quick else FULL)
    if args.rounds is not None:
        size["rounds"] = args.rounds
    datasets = ["digits"] if args.quick else [d.strip() for d in args.datasets.split(",") if d.strip()]
    out = Path(args.out + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    seeds = repeat_seeds(args.seed, args.repeats)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    rows_path = out / "runs.csv"
    # Resume: runs already written are kept, keyed by their length too, so a run of another
    # --rounds is never taken for this one (the folder may hold both).
    done: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    if rows_path.exists():
        for row in csv.DictReader(open(rows_path)):
            result = json.loads(row["result"])
            done[(row["dataset"], row["setting"], int(row["seed"]), len(result["accuracy"]))] = result
    summary: dict[str, Any] = {"size": ("quick" if args.quick else "full") + (f", {size['rounds']} rounds" if args.rounds else ""), **size, "repeats": args.repeats, "seeds": seeds,
                               "datasets": {}}
    for dataset in datasets:
        missing = available(dataset, args.data_root)
        on_record = any(k[0] == dataset and k[3] == size["rounds"] for k in done)
        if missing is not None:
            print(f"{dataset}: not run -- {missing}", flush=True)
            if not on_record:
                summary["datasets"][dataset] = {"status": "not run", "reason": missing}
                continue
            print(f"{dataset}: tabulating the runs {rows_path} already holds", flush=True)
        results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for seed in seeds:  # repeat by repeat: a stopped run leaves every setting with as many runs as the others
            for label, part, fraction, rule in GRID:
                key = (dataset, label, seed, size["rounds"])
                if (only and label not in only) or ((args.summarise or missing is not None) and key not in done):
                    continue
                if key not in done:
                    done[key] = run_one(dataset, part, fraction, rule, seed, size, args.data_root)
                    with open(rows_path, "a", newline="") as fh:
                        w = csv.writer(fh)
                        if fh.tell() == 0:
                            w.writerow(["dataset", "setting", "seed", "result"])
                        w.writerow([dataset, label, seed, json.dumps(done[key])])
                r = done[key]
                results[label].append(r)
                print(f"{dataset} {label} seed {seed}: accuracy {r['accuracy'][-1]:.4f} ({r['wall_s']} s)", flush=True)
        summary["datasets"][dataset] = write_dataset(out, dataset, results, size)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({d: {k: v for k, v in s.items() if k != "settings"} | (
        {"final": {label: x["final"] for label, x in s["settings"].items()}} if "settings" in s else {})
        for d, s in summary["datasets"].items()}))
    return 0


def write_dataset(out: Path, dataset: str, results: dict[str, list[dict[str, Any]]], size: dict[str, int]) -> dict:
    """The data set's table (mean ± std of the final accuracy over the runs), curves with bands."""
    settings = {}
    for label, runs in results.items():
        mean, std, n = mean_std(r["accuracy"][-1] for r in runs)
        settings[label] = {"final": format_pm([r["accuracy"][-1] for r in runs]), "mean": mean, "std": std, "runs": n,
                           "wall_s": [r["wall_s"] for r in runs]}
    lines = [f"Pedal V-C via the computing oracle, {dataset} ({MODELS[dataset]}): final accuracy, mean ± std over "
             f"{max((s['runs'] for s in settings.values()), default=0)} runs; {size['oracles']} oracle nodes, groups "
             f"of {size['group']}, {size['rounds']} rounds of E={size['epochs']}", "",
             "| partition / free riders | " + " | ".join(RULES) + " |", "|" + " --- |" * (len(RULES) + 1)]
    for plabel in PARTITIONS:
        for fraction in MALICIOUS:
            head = f"{plabel} / {int(fraction * 100)}%"
            most = max((x["runs"] for x in settings.values()), default=0)
            cells = [(x["final"] + (f" (n={x['runs']})" if x["runs"] < most else "")) if x else "—"
                     for x in (settings.get(f"{head} / {rule}") for rule in RULES)]
            lines.append(f"| {head} | " + " | ".join(cells) + " |")
    (out / f"{dataset}.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(PARTITIONS), figsize=(12, 4.5), dpi=100, squeeze=False)
    for ax, plabel in zip(axes[0], PARTITIONS):
        for label, runs in results.items():
            if label.startswith(plabel + " /"):
                plot_band(ax, [dict(enumerate(r["accuracy"], 1)) for r in runs], label.removeprefix(plabel + " / "),
                          linestyle="-" if label.endswith("pedal") else "--")
        ax.set_title(f"{dataset}, {plabel}")
        ax.set_xlabel("round (one compute request)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("test accuracy (report two thirds)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{dataset}-accuracy.png")
    plt.close(fig)
    return {"status": "done", "settings": settings}


if __name__ == "__main__":
    raise SystemExit(main())
