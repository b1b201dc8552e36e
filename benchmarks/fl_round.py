"""FL round benchmark (issue 4, execution engine): seconds per round for every executor and
for a plain one-thread PyTorch loop, measured in the same run, plus the round's FLOP count
and the machine's matmul GFLOP/s. Prints a table, then one JSON object as its last line.

Headline figures (issue 22): ``gemm_gflops_2threads`` (measured in this run), ``best_gflops``,
``ratio_to_gemm`` and ``speedup_vs_plain_loop``. Because wall-clock rates on a shared machine
move with the neighbours' load, the same comparison is also made per CPU-second
(``ratio_to_gemm_per_core_cpu``: the round's FLOP over the CPU seconds of every process of the
best executor, against one thread's matmul per CPU-second), next to the *layer ceiling*: the rate
the model's own layers reach as one plain network on the round's total batch (shared weights,
no groups), which no stacking of per-client copies can beat (``layer_ceiling_ratio_to_gemm``).

Standard workload: 100 clients (IID, 600 MNIST samples each), 10 per round, 5 local
epochs, batch 10, SGD lr 0.01, the MNIST CNN.

    python benchmarks/fl_round.py --quick     # 4 clients x 1 epoch, well under two minutes
    python benchmarks/fl_round.py             # the standard workload
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
import torch.nn.functional as F
from torch import nn

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.errors import ConfigError
from edgeledger.fl.datasets import Dataset, load_dataset, use_checkout_datasets
from edgeledger.fl.executors import ModelSpec, TrainSpec, build_executor
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.fl.partition import partition_iid

#: MNIST: --data-root, $EDGELEDGER_DATA, else ../shared/datasets beside this checkout.
use_checkout_datasets(__file__)


#: (label, executor name, options) in the order they run; OPT_IN ones run only via --only
#: (two intra-op threads collapse when another process holds a core of a 2-core box).
EXECUTORS = [
    ("sequential", "sequential", {}),
    ("batched", "batched", {"threads": 1}),
    ("batched_vmap", "batched", {"threads": 1, "stacked": False}),
    ("batched_2threads", "batched", {"threads": 2}),
    ("process", "process", {"workers": 2}),
    ("process_batched", "process", {"workers": 2, "inner": "batched"}),
    ("ray", "ray", {"workers": 2, "num_cpus": 2, "address": "local"}),  # a local Ray instance (start-up untimed)
]
OPT_IN = {"batched_2threads"}
LATE = {"ray"}  # timed in a second phase, after the others are closed
PHASE_ONE: set[str] = set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 clients per round, 1 epoch (CI-sized)")
    p.add_argument("--clients", type=int, default=100, help="clients in the federation (default 100)")
    p.add_argument("--per-round", type=int, default=None, help="clients trained per round (default 10; 4 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="local epochs (default 5; 1 with --quick)")
    p.add_argument("--batch-size", type=int, default=10, help="local minibatch size (default 10)")
    p.add_argument("--model", default="mnist_cnn", help="registered model to train (default mnist_cnn, the issue's workload; pedal_mnist_cnn is Pedal's Table I CNN)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved timed rounds per executor; the minimum is kept (default 2; 3 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of the partition, the client draw and the model")
    p.add_argument("--only", default=None, help="comma-separated executor labels to run (default all)")
    p.add_argument("--data-root", default=None, help="folder holding mnist/ (default $EDGELEDGER_DATA, else ../shared/datasets)")
    return p.parse_args(argv)


# --- the reference: a plain PyTorch loop, written here on purpose -------------------------


def plain_round(model: nn.Module, global_params: np.ndarray, jobs: list[TrainSpec]) -> list[np.ndarray]:
    """What a researcher writes by hand: torch.optim.SGD, one client after the other."""
    out = []
    for job in jobs:
        set_flat_params(model, global_params)
        opt = torch.optim.SGD(model.parameters(), lr=job.lr)
        x, y = torch.from_numpy(job.data.x), torch.from_numpy(job.data.y)
        gen = torch.Generator().manual_seed(job.seed)
        model.train()
        for _ in range(job.epochs):
            order = torch.randperm(len(y), generator=gen)
            for start in range(0, len(y), job.batch_size):
                idx = order[start : start + job.batch_size]
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        out.append(get_flat_params(model).copy())
    return out


# --- cost model ---------------------------------------------------------------------------


def macs_per_sample(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass through the conv and linear layers."""
    total = 0

    def hook(module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += out[0].numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return total


def matmul_gflops(threads: int, n: int = 1024, seconds: float = 1.0, clock=time.perf_counter) -> float:
    """Measured float32 GEMM throughput with ``threads`` intra-op threads (wall clock, or ``clock``:
    ``time.process_time`` gives the rate per CPU-second, which neighbours on a shared box do not move)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps, t0 = 0, clock()
    while clock() - t0 < seconds:
        a @ b
        reps += 1
    elapsed = clock() - t0
    torch.set_num_threads(previous)
    return 2 * n**3 * reps / elapsed / 1e9


def cpu_seconds() -> float:
    """CPU seconds of this process and every process it started (worker pools), so far."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def layer_ceiling_gflops(model: nn.Module, input_shape: tuple[int, ...], batch: int, seconds: float = 1.0) -> float:
    """GFLOP per CPU-second of one thread for forward + backward of ``model`` as one plain network on
    ``batch`` samples: the layers' own rate at the round's total batch with shared weights, the
    most any stacking of per-client copies could reach on a core (the same kernels, no groups)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.randn(batch, *input_shape)
    y = torch.randint(0, 10, (batch,))
    flop = macs_per_sample(model, input_shape) * 2 * 3 * batch
    step = lambda: F.cross_entropy(model(x), y).backward()  # noqa: E731
    step()
    reps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        step()
        reps += 1
    elapsed = time.process_time() - t0
    model.zero_grad(set_to_none=True)
    torch.set_num_threads(previous)
    return flop * reps / elapsed / 1e9


# --- the run ------------------------------------------------------------------------------


def make_jobs(args: argparse.Namespace, train: Dataset, global_params: np.ndarray) -> list[TrainSpec]:
    rng = np.random.default_rng(args.seed)
    parts = partition_iid(train.y, args.clients, rng)
    chosen = sorted(rng.choice(args.clients, size=args.per_round, replace=False).tolist())
    return [
        TrainSpec(global_params, train.subset(parts[c]), args.epochs, args.batch_size, args.lr, seed=1000 + c)
        for c in chosen
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.per_round = args.per_round or (4 if args.quick else 10)
    args.epochs = args.epochs or (1 if args.quick else 5)
    args.rounds = args.rounds or (3 if args.quick else 2)
    torch.set_num_threads(1)
    print(
        f"workload: {args.per_round} of {args.clients} clients per round, {args.epochs} epoch(s), "
        f"batch {args.batch_size}, lr {args.lr}, {args.model}, seed {args.seed}"
        + ("  [--quick: reduced from 10 clients x 5 epochs]" if args.quick else ""),
        flush=True,
    )
    train, _ = load_dataset("mnist", args.data_root)
    spec = ModelSpec(args.model, train.input_shape, train.n_classes)
    model = build_model(spec.name, spec.input_shape, spec.n_classes, seed=args.seed)
    global_params = get_flat_params(model)
    jobs = make_jobs(args, train, global_params)
    samples = sum(len(j.data) * j.epochs for j in jobs)
    round_flop = macs_per_sample(model, spec.input_shape) * 2 * 3 * samples
    gf1, gf2 = matmul_gflops(1), matmul_gflops(2)
    gf1_cpu = matmul_gflops(1, clock=time.process_time)
    ceiling = layer_ceiling_gflops(build_model(spec.name, spec.input_shape, spec.n_classes, seed=args.seed),
                                   spec.input_shape, args.per_round * args.batch_size)
    print(f"round: {samples} sample-passes, {round_flop / 1e9:.1f} GFLOP (conv+linear MACs x2 x3)")
    print(f"matmul 1024^3: {gf1:.0f} GFLOP/s on 1 thread, {gf2:.0f} GFLOP/s on 2 threads "
          f"-> round lower bound {round_flop / gf2 / 1e9:.2f} s", flush=True)
    print(f"per CPU-second of one thread: matmul {gf1_cpu:.0f} GFLOP/s; this model's layers as one plain network on "
          f"{args.per_round * args.batch_size} samples {ceiling:.0f} GFLOP/s (the stacking ceiling, "
          f"{ceiling / gf1_cpu:.2f} of matmul)", flush=True)

    warm = [TrainSpec(global_params, j.data.subset(np.arange(20)), 1, args.batch_size, args.lr, j.seed) for j in jobs[:2]]
    only = set(args.only.split(",")) if args.only else None
    plain = {"plain_loop": lambda: plain_round(model, global_params, jobs)}
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds (all processes) of the fastest repetition
    results: dict[str, list[np.ndarray]] = {}
    plain_round(model, global_params, warm)
    # Two phases: Ray's daemons (raylet, GCS, ...) take CPU while a Ray instance is up, so the
    # Ray executor is timed after the others are closed, beside the plain loop again.
    for phase in (PHASE_ONE, LATE):
        runners = dict(plain)
        opened = []
        for label, name, options in EXECUTORS:
            wanted = label in only if only is not None else label not in OPT_IN
            if (wanted or label == "sequential") and (label in LATE) == (phase is LATE):
                executor = build_executor(name, spec, **options)
                try:
                    executor.train_many(warm)  # builds models, starts and warms worker processes
                except ConfigError as exc:  # an optional engine that is not installed (ray)
                    print(f"  {label}: skipped ({exc})", flush=True)
                    executor.close()
                    continue
                opened.append(executor)
                runners[label] = (lambda e: lambda: [o.params for o in e.train_many(jobs)])(executor)
        if len(runners) == 1:
            continue
        # Interleaved repetitions, minimum kept: neighbours on a shared box slow whole seconds down.
        for r in range(args.rounds):
            for label, fn in runners.items():
                c0, t0 = cpu_seconds(), time.perf_counter()
                out = fn()
                elapsed, used = time.perf_counter() - t0, cpu_seconds() - c0
                if elapsed < times.get(label, float("inf")):
                    times[label], cpu[label] = elapsed, used
                if label != "plain_loop":
                    results[label] = out
            print(f"  repetition {r + 1}/{args.rounds} done" + (" (ray phase)" if phase is LATE else ""), flush=True)
        for executor in opened:
            executor.close()
    for label, seconds in times.items():
        print(f"  {label:<18} {seconds:8.2f} s/round  ({times['plain_loop'] / seconds:.2f}x vs plain_loop)")

    diffs = {
        label: float(max(np.abs(a - b).max() for a, b in zip(results[label], results["sequential"], strict=True)))
        for label in results
    }
    # Context for the diff: SGD on this CNN is chaotic (a max-pool or ReLU decision that flips
    # amplifies rounding), so also measure how far a 1e-7 nudge of the start moves client 0.
    first = jobs[0]
    nudged = first.params + np.random.default_rng(args.seed).normal(0, 1e-7, first.params.shape)
    with build_executor("sequential", spec) as sequential:
        moved = sequential.train_many([TrainSpec(nudged.astype(np.float32), first.data, first.epochs,
                                                  first.batch_size, first.lr, first.seed)])[0].params
    sensitivity = float(np.abs(moved - results["sequential"][0]).max())
    per_client = [float(np.abs(a - b).max()) for a, b in zip(results.get("batched", []), results["sequential"])]
    print(f"batched vs sequential, max |diff| per client: {[f'{d:.1e}' for d in per_client]}; "
          f"sequential moved by a 1e-7 nudge of the start: {sensitivity:.1e}")
    best = min((k for k in times if k != "plain_loop"), key=times.__getitem__)
    best_gflops = round_flop / times[best] / 1e9
    per_core = round_flop / max(cpu[best], 1e-9) / 1e9
    summary = {
        "gemm_gflops_2threads": round(gf2, 1),
        "best_gflops": round(best_gflops, 1),
        "ratio_to_gemm": round(best_gflops / gf2, 3),
        "speedup_vs_plain_loop": round(times["plain_loop"] / times[best], 2),
        "gemm_gflops_1thread_cpu": round(gf1_cpu, 1),
        "best_gflops_per_core_cpu": round(per_core, 1),
        "ratio_to_gemm_per_core_cpu": round(per_core / gf1_cpu, 3),
        "layer_ceiling_gflops_1thread_cpu": round(ceiling, 1),
        "layer_ceiling_ratio_to_gemm": round(ceiling / gf1_cpu, 3),
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "load_average": round(os.getloadavg()[0], 2),
        "workload": {"clients": args.clients, "per_round": args.per_round, "epochs": args.epochs,
                     "batch_size": args.batch_size, "lr": args.lr, "model": args.model, "quick": args.quick},
        "round_gflop": round(round_flop / 1e9, 2),
        "matmul_gflops_1thread": round(gf1, 1),
        "matmul_gflops_2threads": round(gf2, 1),
        "round_s": {k: round(v, 3) for k, v in times.items()},
        "round_s_plain_loop": round(times["plain_loop"], 3),
        "round_s_best": round(times[best], 3),
        "best_executor": best,
        "achieved_gflops_best": round(best_gflops, 1),
        "max_abs_diff_vs_sequential": diffs.get("batched", float("nan")),
        "max_abs_diff_vs_sequential_median_client": float(np.median(per_client)) if per_client else None,
        "sequential_diff_after_1e-7_nudge": sensitivity,
        "timed_rounds_each": args.rounds,
        "max_abs_diff_by_executor": diffs,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
