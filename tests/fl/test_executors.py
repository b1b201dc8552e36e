from __future__ import annotations

import importlib
import inspect
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgeledger.errors import ConfigError
from edgeledger.fl import models
from edgeledger.fl.datasets import Dataset, load_dataset
from edgeledger.fl.executors import (
    BatchedExecutor,
    Executor,
    ModelSpec,
    TrainOutput,
    TrainSpec,
    batch_plan,
    build_executor,
    executors,
)
from edgeledger.fl.executors.process import SharedArena, unpack
from edgeledger.fl.executors.stacked import compile_stacked
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.fl.training import evaluate

TOL = 1e-4


@models.register("test_padded_cnn")
def _build_padded_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(),  # [B, 4, 8, 8]
        nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2, bias=False),  # [B, 8, 4, 4]
        nn.AvgPool2d(2), nn.LeakyReLU(0.1),  # [B, 8, 2, 2]
        nn.Flatten(), nn.Linear(32, n_classes),
    )


def _jobs(train: Dataset, model: str, sizes: list[int], **hyper: float) -> tuple[ModelSpec, list[TrainSpec]]:
    spec = ModelSpec(model, train.input_shape, train.n_classes)
    start = get_flat_params(build_model(model, train.input_shape, train.n_classes, seed=3))
    jobs, offset = [], 0
    settings = {"epochs": 2, "batch_size": 8, "lr": 0.1} | hyper
    for i, n in enumerate(sizes):
        data = train.subset(np.arange(offset, offset + n))
        jobs.append(TrainSpec(start, data, seed=100 + i, **settings))  # type: ignore[arg-type]
        offset += n
    return spec, jobs


def _assert_close(got: list[TrainOutput], want: list[TrainOutput], tol: float) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.n_samples, g.steps) == (w.n_samples, w.steps)
        assert np.abs(g.params - w.params).max() <= tol
        assert abs(g.mean_loss - w.mean_loss) <= tol


def test_registry_holds_every_concrete_executor_under_its_name() -> None:
    assert set(executors.names()) == {"sequential", "batched", "process", "ray"}
    found, stack = [], [Executor]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if not inspect.isabstract(sub) and sub.__module__.startswith("edgeledger."):
                found.append(sub)
    assert found and all(executors.get(cls.name) is cls for cls in found)
    package = importlib.import_module("edgeledger.fl.executors")  # the package, even if a registry shadows it
    assert all(hasattr(package, name) for name in package.__all__)


def test_build_executor_rejects_unknown_options_naming_them() -> None:
    spec = ModelSpec("mlp", (64,), 10)
    with pytest.raises(ConfigError, match="bogus"):
        build_executor("sequential", spec, bogus=1)
    with pytest.raises(ConfigError, match="max_group"):
        build_executor("batched", spec, max_group=0)


def test_batch_plan_reproduces_train_local_shuffling() -> None:
    idx, weight = batch_plan(n=7, epochs=2, batch_size=3, seed=5)  # [6, 3]
    generator = torch.Generator().manual_seed(5)
    expected = torch.cat([torch.randperm(7, generator=generator) for _ in range(2)])
    assert idx.shape == (6, 3) and weight.sum() == 14
    assert torch.equal(idx[weight > 0], expected)


@pytest.mark.parametrize(
    "hyper",
    [{}, {"momentum": 0.9}, {"proximal_mu": 0.5}],
    ids=["sgd", "momentum", "fedprox"],
)
def test_batched_mlp_equals_sequential_on_unequal_digit_clients(
    digits: tuple[Dataset, Dataset], hyper: dict[str, float]
) -> None:
    # 50 and 53 samples both take 7 steps per epoch (one group, short last batches);
    # 33 and 20 form their own groups.
    spec, jobs = _jobs(digits[0], "mlp", [50, 33, 53, 20], **hyper)
    want = build_executor("sequential", spec).train_many(jobs)
    got = build_executor("batched", spec).train_many(jobs)
    _assert_close(got, want, TOL)


def test_batched_vmap_path_equals_sequential(digits: tuple[Dataset, Dataset]) -> None:
    spec, jobs = _jobs(digits[0], "mlp", [40, 45, 24])
    batched = BatchedExecutor(spec, stacked=False, max_group=2)
    assert batched._program is None
    _assert_close(batched.train_many(jobs), build_executor("sequential", spec).train_many(jobs), TOL)


def test_batched_mnist_cnn_slice_equals_sequential(data_root: Path) -> None:
    train, _ = load_dataset("mnist", data_root)
    spec, jobs = _jobs(train, "mnist_cnn", [40, 40, 37], epochs=2, batch_size=10, lr=0.05)
    batched = build_executor("batched", spec)
    assert isinstance(batched, BatchedExecutor) and batched._program is not None  # the fast path ran
    _assert_close(batched.train_many(jobs), build_executor("sequential", spec).train_many(jobs), TOL)


def test_stacked_program_runs_padded_strided_grouped_convs_like_sequential(digits: tuple[Dataset, Dataset]) -> None:
    # digits are (64,) vectors; view them as 1x8x8 images for a conv net with the layer
    # options the grouped program has to carry over (padding, stride, groups, no bias).
    train = digits[0]
    images = Dataset(train.x.reshape(-1, 1, 8, 8), train.y, train.n_classes, "digits-images")
    spec, jobs = _jobs(images, "test_padded_cnn", [24, 24, 21], epochs=2, batch_size=6, lr=0.1, momentum=0.5)
    batched = build_executor("batched", spec)
    assert isinstance(batched, BatchedExecutor) and batched._program is not None
    _assert_close(batched.train_many(jobs), build_executor("sequential", spec).train_many(jobs), TOL)


@models.register("test_every_layer_mlp")
def _build_every_layer_mlp(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ELU(), nn.Linear(16, 12), nn.SiLU(),
                         nn.Linear(12, n_classes, bias=False))


@pytest.mark.parametrize(("model", "input_shape"), [("mnist_cnn", (1, 28, 28)), ("test_padded_cnn", (1, 8, 8)),
                                                    ("test_every_layer_mlp", (64,)), ("mlp", (64,))])
def test_stacked_backward_pass_equals_autograd(model: str, input_shape: tuple[int, ...]) -> None:
    # The program's hand-written backward (ATen kernels for conv / max-pool / ReLU, GEMMs for
    # Linear, a one-layer autograd graph for other activations) against autograd through forward.
    k, b = 3, 7
    gen = torch.Generator().manual_seed(0)
    module = build_model(model, input_shape, 10, seed=1)
    program = compile_stacked(module, input_shape)
    assert program is not None
    starts = torch.stack([torch.from_numpy(get_flat_params(build_model(model, input_shape, 10, seed=s)))
                          for s in range(k)])
    xb = torch.randn((k, b, *input_shape), generator=gen)
    yb = torch.randint(0, 10, (k, b), generator=gen)
    wb = torch.ones(k, b)
    wb[1, 4:] = 0  # a short batch: padding rows weigh nothing
    weights = [w.requires_grad_() for w in program.to_internal(starts)]
    logits = program.forward(weights, xb)
    ce = torch.nn.functional.cross_entropy(logits.reshape(k * b, 10), yb.reshape(-1), reduction="none")
    want_losses = (ce.view(k, b) * wb).sum(1) / wb.sum(1)
    want = torch.autograd.grad(want_losses.sum(), weights)
    got, losses = program.grads([w.detach() for w in weights], xb, yb, wb)
    assert len(got) == len(want) and not losses.requires_grad
    assert torch.allclose(losses, want_losses.detach(), atol=1e-6)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and torch.allclose(g, w, atol=1e-6, rtol=1e-5)
    assert float(want[0].abs().max()) > 1e-3  # the gradients are not trivially zero


def test_stacked_program_declines_layers_it_cannot_run() -> None:
    assert compile_stacked(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)), (1, 8, 8)) is None  # ends in images
    assert compile_stacked(nn.Sequential(nn.Conv2d(1, 4, 3, padding="same")), (1, 8, 8)) is None
    assert compile_stacked(nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10)), (64,)) is None
    assert compile_stacked(nn.Sequential(nn.Flatten(), nn.BatchNorm1d(64)), (64,)) is None
    assert compile_stacked(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), (64,)) is not None


def test_process_executor_matches_sequential_and_reuses_its_pool(digits: tuple[Dataset, Dataset]) -> None:
    spec, jobs = _jobs(digits[0], "mlp", [30, 26, 30])
    want = build_executor("sequential", spec).train_many(jobs)
    with build_executor("process", spec, workers=2) as process:
        first = process.train_many(jobs)
        pool = process._pool
        second = process.train_many(jobs[:1])
        assert process._pool is pool
    for g, w in zip(first, want, strict=True):
        assert np.array_equal(g.params, w.params) and g.mean_loss == w.mean_loss
    assert np.array_equal(second[0].params, want[0].params)


def test_shared_arena_round_trips_jobs_copying_each_large_array_once(digits: tuple[Dataset, Dataset]) -> None:
    _, jobs = _jobs(digits[0], "mlp", [300, 200, 12])
    arena = SharedArena()
    try:
        payloads = arena.pack([jobs[:2], jobs[2:]])
        # arrays of 4 KiB and more (the clients' samples, the shared start, once) sit in the arena;
        # only smaller ones (labels, the 12-sample client's samples) travel in the pickles
        small = [a.nbytes for j in jobs for a in (j.data.x, j.data.y) if a.nbytes < 4096]
        inline = sum(small)
        assert len(small) == 4 and inline < 8000  # of 177 KB of arrays
        assert arena.name is not None and sum(len(p) for p in payloads) < inline + 2048
        first, second = unpack(payloads[0], arena.name), unpack(payloads[1], arena.name)
        for got, want in zip(first + second, jobs, strict=True):
            assert np.array_equal(got.data.x, want.data.x) and np.array_equal(got.data.y, want.data.y)
            assert np.array_equal(got.params, want.params) and got.seed == want.seed
        assert np.shares_memory(first[0].params, first[1].params)  # one copy of the global model
        name = arena.name
        del first, second
        again = arena.pack([jobs[2:]])  # fits: the block is reused
        assert arena.name == name and unpack(again[0], name)[0].data.n_classes == 10
        train = digits[0]
        four = Dataset(np.concatenate([train.x] * 4), np.concatenate([train.y] * 4), train.n_classes, "x4")
        payload = arena.pack([[replace(jobs[0], data=four)]])[0]  # 1.5 MB does not fit: a new block
        assert arena.name != name and np.array_equal(unpack(payload, arena.name)[0].data.x, four.x)
        with pytest.raises(pickle.UnpicklingError, match="arena"):
            unpack(payload, None)
    finally:
        arena.close()
    assert arena.name is None


def test_process_executor_falls_back_to_pickles_when_shared_memory_is_full(
    digits: tuple[Dataset, Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A container's /dev/shm can be 64 MB; writing past its end would kill the caller (SIGBUS).
    import edgeledger.fl.executors.process as process_module

    spec, jobs = _jobs(digits[0], "mlp", [30, 26])
    monkeypatch.setattr(process_module, "_shm_free_bytes", lambda: 20 << 20)  # 4 MB after the reserve
    arena = SharedArena()
    assert arena.pack([jobs])[0] and arena.name is not None  # 20 KB fits
    big = Dataset(np.zeros((20_000, 64), np.float32), np.zeros(20_000, np.int64), 10, "5MB")
    payload = arena.pack([[replace(jobs[0], data=big)]])[0]  # 5 MB does not: a plain pickle
    assert arena.name is None and unpack(payload, None)[0].data.x.shape == (20_000, 64)
    with build_executor("process", spec, workers=1) as process:
        process._arena = arena
        got = process.train_many([replace(jobs[0], data=big.subset(np.arange(40))), *jobs])
    want = build_executor("sequential", spec).train_many(jobs[:1])[0]
    assert len(got) == 3 and np.array_equal(got[1].params, want.params)


def test_process_executor_with_batched_workers_is_within_tolerance(digits: tuple[Dataset, Dataset]) -> None:
    spec, jobs = _jobs(digits[0], "mlp", [30, 30, 30, 22])
    with build_executor("process", spec, workers=1, inner="batched") as process:
        got = process.train_many(jobs)
    _assert_close(got, build_executor("sequential", spec).train_many(jobs), TOL)


def test_executors_claim_the_validation_loss_where_the_job_trained(digits: tuple[Dataset, Dataset]) -> None:
    train, test = digits
    spec, jobs = _jobs(train, "mlp", [30, 26, 30])
    jobs = [replace(jobs[0], claim_data=test), jobs[1], replace(jobs[2], claim_data=test.subset(np.arange(50)))]
    model = build_model("mlp", train.input_shape, train.n_classes, seed=0)
    want = build_executor("sequential", spec).train_many(jobs)
    assert want[1].claimed_loss is None  # no claim data, no claim
    for out, data in ((want[0], test), (want[2], test.subset(np.arange(50)))):
        set_flat_params(model, out.params)
        assert out.claimed_loss == evaluate(model, data)[1]  # what an inline device claims
    with build_executor("process", spec, workers=2) as process:
        pooled = process.train_many(jobs)
    batched = build_executor("batched", spec).train_many(jobs)
    assert [o.claimed_loss for o in pooled] == [o.claimed_loss for o in want]
    assert batched[1].claimed_loss is None
    assert abs(batched[0].claimed_loss - want[0].claimed_loss) < 1e-4


def test_executors_return_nothing_for_no_jobs() -> None:
    spec = ModelSpec("mlp", (64,), 10)
    for name in ("sequential", "batched", "process"):
        with build_executor(name, spec) as executor:
            assert executor.train_many([]) == []


def test_a_missing_cuda_device_falls_back_to_the_cpu_in_one_line(
    digits: tuple[Dataset, Dataset], caplog: pytest.LogCaptureFixture
) -> None:
    spec, jobs = _jobs(digits[0], "mlp", [30, 30])
    with caplog.at_level("WARNING", logger="edgeledger.fl.executors"):
        batched = build_executor("batched", spec, device="cuda:7")  # no machine here has an eighth GPU
    assert batched.device.type == "cpu" or torch.cuda.device_count() > 7
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "device='cuda:7'" in lines[0] and "training on the CPU" in lines[0]
    _assert_close(batched.train_many(jobs), build_executor("sequential", spec).train_many(jobs), TOL)
    with pytest.raises(ConfigError, match="fl.executor_options.device"):
        build_executor("batched", spec, device="abacus")
    with pytest.raises(ConfigError, match="inner='batched'"):
        build_executor("process", spec, device="cuda")



def test_process_workers_share_one_device_fallback_line(
    digits: tuple[Dataset, Dataset], caplog: pytest.LogCaptureFixture
) -> None:
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU this machine has
    spec, jobs = _jobs(digits[0], "mlp", [30, 30, 30])
    with caplog.at_level("WARNING", logger="edgeledger.fl.executors"):
        with build_executor("process", spec, workers=2, inner="batched", device=missing) as executor:
            assert executor.device == "cpu"  # resolved once in the parent; the workers train on the CPU
            out = executor.train_many(jobs)
    assert len([r for r in caplog.records if "training on the CPU" in r.getMessage()]) == 1
    _assert_close(out, build_executor("sequential", spec).train_many(jobs), TOL)
