"""Where the stacked FL program's time goes against the machine's GEMM rate (issue 22).

Two measurements on one thread, per CPU-second (the neighbours' load on a shared machine moves
wall-clock rates, not these much):

* ``torch.profiler`` over one epoch of K stacked clients (``batched`` executor, the MNIST CNN,
  600 samples each, B = 10): the share of each ATen op;
* each grouped convolution of the model alone (forward, weight gradient, input gradient) in the
  stacked layout (channels-last, ``groups = K``), with two alternatives: im2col (``unfold``)
  plus a batched GEMM, and NCHW with oneDNN disabled; against a 1024^3 matmul;
* ``kernel_bound_ratio_to_gemm``: a step's FLOP over the convolutions' time alone (each pass by
  its fastest variant, every other op free), the most any executor on these kernels can reach.

Usage: python benchmarks/fl_layers.py [--quick] [--clients K]
Needs EDGELEDGER_DATA (MNIST). The last line is one JSON object of the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

try:
    import edgeledger  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.fl.datasets import load_dataset, use_checkout_datasets
from edgeledger.fl.executors import ModelSpec, TrainSpec, build_executor
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fl_round import macs_per_sample  # noqa: E402  (the round's FLOP as fl_round.py counts it)

#: MNIST: --data-root, $EDGELEDGER_DATA, else ../shared/datasets beside this checkout.
use_checkout_datasets(__file__)


CL = torch.channels_last


def cpu_ms(fn: Callable[[], object], reps: int) -> float:
    """Milliseconds of this thread's CPU per call (after one warm-up call)."""
    fn()
    t0 = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t0) / reps * 1e3


def gemm_gflops_cpu(seconds: float) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    reps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * 1024**3 * reps / (time.process_time() - t0) / 1e9


def op_shares(k: int, samples: int) -> dict[str, float]:
    """Share of the CPU time of each ATen op over one epoch of ``k`` stacked clients."""
    from torch.profiler import ProfilerActivity, profile

    train, _ = load_dataset("mnist", None)
    spec = ModelSpec("mnist_cnn", train.input_shape, train.n_classes)
    params = get_flat_params(build_model(spec.name, spec.input_shape, spec.n_classes, seed=0))
    jobs = [TrainSpec(params, train.subset(np.arange(samples * c, samples * (c + 1))), 1, 10, 0.01, seed=c)
            for c in range(k)]
    executor = build_executor("batched", spec, threads=1)
    executor.train_many([TrainSpec(params, j.data.subset(np.arange(20)), 1, 10, 0.01, j.seed) for j in jobs])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        executor.train_many(jobs)
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in rows) or 1.0
    return {name: t / total for name, t in sorted(rows, key=lambda r: -r[1])}


def conv_layers(k: int, b: int, reps: int) -> list[dict[str, float]]:
    """Each grouped convolution of the MNIST CNN alone: ms per call and GFLOP/s per CPU-second."""
    return [one_conv(k, b, cin, cout, size, reps) for cin, cout, size in [(1, 10, 28), (10, 20, 12)]]


def one_conv(k: int, b: int, cin: int, cout: int, size: int, reps: int) -> dict[str, float]:
    """One 5x5 grouped convolution (``cin -> cout`` channels per client on ``size``^2 images)."""
    ho = size - 4
    x = torch.randn(b, k * cin, size, size).contiguous(memory_format=CL)
    w = torch.randn(k * cout, cin, 5, 5).contiguous(memory_format=CL)
    g = torch.randn(b, k * cout, ho, ho).contiguous(memory_format=CL)
    bwd = torch.ops.aten.convolution_backward
    common = ([1, 1], [0, 0], [1, 1], False, [0, 0], k)
    flop = 2 * k * b * cout * cin * 25 * ho * ho
    row: dict = {"layer": f"conv {cin}->{cout}, 5x5, {size}x{size}", "mflop_per_call": round(flop / 1e6, 1)}
    row["forward_ms"] = cpu_ms(lambda: F.conv2d(x, w, None, 1, 0, 1, k), reps)
    # The whole backward pass as training calls it (one call: input gradient where needed, weight, bias).
    row["backward_ms"] = cpu_ms(lambda: bwd(g, x, w, [k * cout], *common, [cin > 1, True, True]), reps)
    row["weight_grad_ms"] = cpu_ms(lambda: bwd(g, x, w, [k * cout], *common, [False, True, True]), reps)
    if cin > 1:
        row["input_grad_ms"] = cpu_ms(lambda: bwd(g, x, w, [k * cout], *common, [True, False, False]), reps)
    xk = x.reshape(b, k, cin, size, size).transpose(0, 1).contiguous()
    gk = g.reshape(b, k, cout, ho, ho).transpose(0, 1).contiguous()

    def unfolded() -> torch.Tensor:  # [K, B, cin*25, ho*ho]
        return F.unfold(xk.reshape(k * b, cin, size, size), 5).reshape(k, b, cin * 25, ho * ho)

    def unfold_forward() -> torch.Tensor:
        return torch.matmul(w.reshape(k, cout, cin * 25).unsqueeze(1), unfolded())

    def unfold_weight_grad() -> torch.Tensor:
        u = unfolded().permute(0, 2, 1, 3).reshape(k, cin * 25, b * ho * ho)
        return torch.bmm(gk.reshape(k, b, cout, ho * ho).permute(0, 2, 1, 3).reshape(k, cout, -1), u.transpose(1, 2))

    row["im2col_forward_ms"] = cpu_ms(unfold_forward, reps)
    row["im2col_weight_grad_ms"] = cpu_ms(unfold_weight_grad, reps)
    xn, wn, gn = x.contiguous(), w.contiguous(), g.contiguous()
    with torch.backends.mkldnn.flags(enabled=False):
        row["nchw_no_onednn_forward_ms"] = cpu_ms(lambda: F.conv2d(xn, wn, None, 1, 0, 1, k), reps)
        row["nchw_no_onednn_backward_ms"] = cpu_ms(
            lambda: bwd(gn, xn, wn, [k * cout], *common, [cin > 1, True, True]), reps)
    row["forward_gflops"] = flop / row["forward_ms"] / 1e6
    row["weight_grad_gflops"] = flop / row["weight_grad_ms"] / 1e6
    return {key: round(v, 3) if isinstance(v, float) else v for key, v in row.items()}


def kernel_bound(layers: list[dict[str, float]], step_flop: float, gemm: float) -> dict[str, float]:
    """The most a training step can reach with the fastest measured kernel for each convolution pass.

    ``step_flop`` is the step's FLOP as ``fl_round.py`` counts it (conv + linear MACs x 2 x 3);
    the time is the convolutions' alone, each pass by its fastest variant (oneDNN channels-last,
    im2col + GEMM, NCHW without oneDNN), every other op (pooling, ReLU, linear layers, loss, SGD,
    batch gathers) taken as free. No executor built on these kernels can beat it.
    """
    ms = 0.0
    for row in layers:
        ms += min(row["forward_ms"], row["im2col_forward_ms"], row["nchw_no_onednn_forward_ms"])
        ms += min(row["backward_ms"], row["nchw_no_onednn_backward_ms"],
                  row["im2col_weight_grad_ms"] + row.get("input_grad_ms", 0.0))
    gflops = step_flop / ms / 1e6
    return {"conv_ms_per_step": round(ms, 3), "kernel_bound_gflops_cpu": round(gflops, 1),
            "kernel_bound_ratio_to_gemm": round(gflops / gemm, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions and 120 samples per client")
    p.add_argument("--clients", type=int, default=10, help="K, the stacked clients")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    reps, samples = (10, 120) if args.quick else (30, 600)
    gemm = gemm_gflops_cpu(0.5 if args.quick else 1.0)
    print(f"matmul 1024^3, one thread: {gemm:.0f} GFLOP per CPU-second")
    shares = op_shares(args.clients, samples)
    print(f"ATen ops over one epoch of {args.clients} stacked clients ({samples} samples each):")
    shown = {name: round(share, 3) for name, share in shares.items() if share >= 0.01}
    for name, share in shown.items():
        print(f"  {share:6.1%}  {name}")
    layers = conv_layers(args.clients, 10, reps)
    for row in layers:
        print(f"  {row['layer']}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "layer"))
    train, _ = load_dataset("mnist", None)
    model = build_model("mnist_cnn", train.input_shape, train.n_classes, seed=0)
    step_flop = macs_per_sample(model, train.input_shape) * 2 * 3 * args.clients * 10
    bound = kernel_bound(layers, step_flop, gemm)
    print(f"one step of {args.clients} stacked clients (B = 10): {step_flop / 1e6:.0f} MFLOP, of which the convolutions' "
          f"fastest kernels alone take {bound['conv_ms_per_step']} ms: even with every other op free, at most "
          f"{bound['kernel_bound_gflops_cpu']} GFLOP per CPU-second = {bound['kernel_bound_ratio_to_gemm']} of the "
          f"matmul rate (issue 22's goal: 0.6)")
    conv = sum(v for name, v in shares.items() if "convolution" in name)
    gemm_ops = sum(v for name, v in shares.items() if name in ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm"))
    print(json.dumps({"gemm_gflops_1thread_cpu": round(gemm, 1), "convolution_share": round(conv, 3),
                      "gemm_op_share": round(gemm_ops, 3), **bound, "conv_layers": layers, "op_shares": shown,
                      "clients": args.clients, "samples_per_client": samples, "quick": args.quick,
                      "load_average": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
