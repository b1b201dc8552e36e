"""Flower's simulation against edgeledger's best executor on one FL workload, in the same run.

The workload is ``benchmarks/fl_round.py``'s: 100 IID MNIST clients of 600 samples, 10 per
round, 5 local epochs, batch 10, SGD lr 0.01, the MNIST CNN. Flower (``flwr[simulation]``,
FedAvg through ``run_simulation`` on its Ray backend, 2 actors of one CPU each) trains each
client with the plain PyTorch loop a Flower user writes (``benchmarks/fl_round.plain_round``);
a round is timed from the strategy's ``configure_fit`` to its ``aggregate_fit``. edgeledger
runs the same clients with ``process`` (2 workers, ``batched`` inside). Both keep the fastest
of ``--rounds`` rounds (neighbours on a shared machine slow whole seconds down).

Flower pins older versions of typer, rich, ray and cryptography than edgeledger installs, so
put it in its own environment that still sees the system's packages::

    python -m venv --system-site-packages .venv-flower
    .venv-flower/bin/pip install 'flwr[simulation]'
    EDGELEDGER_DATA=... .venv-flower/bin/python benchmarks/fl_flower.py [--quick]

Without Flower the script prints one line saying so and a JSON line with ``speedup_vs_flower``
null. The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fl_round import plain_round  # noqa: E402  (the same hand-written loop as fl_round.py)

from edgeledger.fl.datasets import load_dataset, use_checkout_datasets  # noqa: E402
from edgeledger.fl.executors import ModelSpec, TrainSpec, build_executor  # noqa: E402
from edgeledger.fl.models import build_model  # noqa: E402
from edgeledger.fl.params import get_flat_params, set_flat_params  # noqa: E402
from edgeledger.fl.partition import partition_iid  # noqa: E402

#: MNIST: --data-root, $EDGELEDGER_DATA, else ../shared/datasets beside this checkout.
use_checkout_datasets(__file__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 clients per round, 1 epoch, 2 rounds (CI size)")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--per-round", type=int, default=None, help="default 10 (4 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="default 5 (1 with --quick)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds, the fastest kept (default 3; 2 quick)")
    p.add_argument("--actors", type=int, default=2, help="Flower's Ray actors (one CPU each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="folder holding mnist/ (default $EDGELEDGER_DATA, else ../shared/datasets)")
    return p.parse_args(argv)


def _flower_missing() -> str | None:
    try:
        import flwr  # noqa: F401
        from flwr.simulation import run_simulation  # noqa: F401
    except ImportError as exc:
        return f"Flower is not installed here ({exc}); pip install 'flwr[simulation]' in its own venv (see the docstring)"
    return None


@functools.lru_cache(maxsize=1)
def _partitions(data_root: str | None, clients: int, seed: int):  # noqa: ANN202
    """The data set and its IID split, loaded once per process (a Ray actor imports this module by
    name, so the cache lives as long as the actor)."""
    train, _ = load_dataset("mnist", data_root)
    return train, partition_iid(train.y, clients, np.random.default_rng(seed))


def run_flower(args: argparse.Namespace) -> list[float]:
    """Seconds per round of Flower's simulation (one per round)."""
    from flwr.client import ClientApp, NumPyClient
    from flwr.common import Context, ndarrays_to_parameters
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.simulation import run_simulation

    data_root, seed, clients, epochs = args.data_root, args.seed, args.clients, args.epochs

    class MnistClient(NumPyClient):  # what Flower's PyTorch tutorial writes
        def __init__(self, cid: int) -> None:
            torch.set_num_threads(1)
            from fl_flower import _partitions as load  # by name: the actor's own module and cache

            train, parts = load(data_root, clients, seed)  # loaded once per actor, not per client
            self.data, self.cid = train.subset(parts[cid]), cid
            self.model = build_model("mnist_cnn", train.input_shape, train.n_classes, seed=seed)

        def fit(self, parameters, config):  # noqa: ANN001, ANN201
            flat = np.concatenate([p.ravel() for p in parameters]).astype(np.float32)
            job = TrainSpec(flat, self.data, epochs, 10, 0.01, seed=1000 + self.cid)
            out = plain_round(self.model, flat, [job])[0]
            set_flat_params(self.model, out)
            return [p.detach().numpy().copy() for p in self.model.state_dict().values()], len(self.data), {}

    def client_fn(context: Context):  # noqa: ANN202
        return MnistClient(int(context.node_config["partition-id"])).to_client()

    times: list[float] = []
    started: list[float] = []
    failed: list[int] = []

    class TimedFedAvg(FedAvg):
        def configure_fit(self, server_round, parameters, client_manager):  # noqa: ANN001, ANN201
            started.append(time.perf_counter())
            return super().configure_fit(server_round, parameters, client_manager)

        def aggregate_fit(self, server_round, results, failures):  # noqa: ANN001, ANN201
            times.append(time.perf_counter() - started[-1])
            failed.append(max(len(failures), args.per_round - len(results)))  # clients without a result
            return super().aggregate_fit(server_round, results, failures)

    model = build_model("mnist_cnn", (1, 28, 28), 10, seed=seed)
    initial = ndarrays_to_parameters([p.detach().numpy() for p in model.state_dict().values()])

    def server_fn(context: Context) -> ServerAppComponents:
        strategy = TimedFedAvg(fraction_fit=args.per_round / clients, fraction_evaluate=0.0,
                               min_fit_clients=args.per_round, min_evaluate_clients=0,
                               min_available_clients=clients, initial_parameters=initial)
        return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=args.rounds + 1))

    here = str(Path(__file__).resolve().parent)  # Ray's workers import fl_flower and fl_round by name
    os.environ["PYTHONPATH"] = os.pathsep.join([here, str(Path(here).parent), os.environ.get("PYTHONPATH", "")])
    run_simulation(server_app=ServerApp(server_fn=server_fn), client_app=ClientApp(client_fn=client_fn),
                   num_supernodes=clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"address": "local", "num_cpus": args.actors,
                                                 "include_dashboard": False}})
    if sum(failed) or len(times) < 2:
        raise RuntimeError(f"Flower's rounds failed ({sum(failed)} client failures, {len(times)} rounds "
                           "aggregated): see its log above; no speed-up is reported")
    return times[1:]  # the first round also starts the actors and loads the data


def run_edgeledger(args: argparse.Namespace) -> list[float]:
    """Seconds per round of edgeledger's ``process`` executor (2 workers, ``batched`` inside)."""
    train, _ = load_dataset("mnist", args.data_root)
    spec = ModelSpec("mnist_cnn", train.input_shape, train.n_classes)
    model = build_model(spec.name, spec.input_shape, spec.n_classes, seed=args.seed)
    params = get_flat_params(model)
    rng = np.random.default_rng(args.seed)
    parts = partition_iid(train.y, args.clients, rng)
    times = []
    with build_executor("process", spec, workers=2, inner="batched") as executor:
        warm = [TrainSpec(params, train.subset(parts[c][:20]), 1, 10, 0.01, seed=c) for c in range(2)]
        executor.train_many(warm)
        for _ in range(args.rounds):
            chosen = sorted(rng.choice(args.clients, size=args.per_round, replace=False).tolist())
            jobs = [TrainSpec(params, train.subset(parts[c]), args.epochs, 10, 0.01, seed=1000 + c) for c in chosen]
            t0 = time.perf_counter()
            outs = executor.train_many(jobs)
            times.append(time.perf_counter() - t0)
            params = np.mean([o.params for o in outs], axis=0).astype(np.float32)  # FedAvg of equal sizes
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.per_round = args.per_round or (4 if args.quick else 10)
    args.epochs = args.epochs or (1 if args.quick else 5)
    args.rounds = args.rounds or (2 if args.quick else 3)
    workload = {"clients": args.clients, "per_round": args.per_round, "epochs": args.epochs, "batch_size": 10,
                "lr": 0.01, "model": "mnist_cnn", "quick": args.quick, "flower_actors": args.actors}
    missing = _flower_missing()
    if missing is not None:
        print(missing)
        print(json.dumps({"speedup_vs_flower": None, "reason": missing, "workload": workload}))
        return 0
    import flwr

    print(f"workload: {workload}", flush=True)
    ours = run_edgeledger(args)
    print(f"edgeledger process+batched: {[f'{t:.2f}' for t in ours]} s/round", flush=True)
    try:
        flower = run_flower(args)
    except RuntimeError as exc:
        print(exc)
        print(json.dumps({"speedup_vs_flower": None, "reason": str(exc), "workload": workload}))
        return 1
    print(f"Flower {flwr.__version__} simulation ({args.actors} actors): {[f'{t:.2f}' for t in flower]} s/round",
          flush=True)
    result = {
        "speedup_vs_flower": round(min(flower) / min(ours), 2),
        "round_s_flower": round(min(flower), 3),
        "round_s_edgeledger": round(min(ours), 3),
        "flower_version": flwr.__version__,
        "edgeledger_executor": "process(workers=2, inner=batched)",
        "rounds_timed": {"flower": len(flower), "edgeledger": len(ours)},
        "load_average": round(os.getloadavg()[0], 2),
        "workload": workload,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
