"""The executor contract: train many clients of one round on one model architecture.

An executor turns a list of :class:`TrainSpec` (global parameters, a client's data, the
local hyper-parameters and the shuffling seed) into one :class:`TrainOutput` per spec, in
the same order. Every executor must give what :func:`~edgeledger.fl.training.train_local`
gives for the same spec (bit for bit for ``sequential`` and ``process``, up to float
tolerance for ``batched``), so the choice of executor is a speed setting, never a
semantic one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from torch import nn

from edgeledger.errors import ConfigError
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.models import build_model
from edgeledger.fl.params import set_flat_params
from edgeledger.fl.training import evaluate
from edgeledger.registry import Registry

__all__ = ["ModelSpec", "TrainSpec", "TrainOutput", "Executor", "executors", "build_executor", "keep_heap_warm",
           "add_claims"]


def keep_heap_warm() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 32 MB in the heap instead of unmapping them.

    A training step allocates and frees the same activation-sized buffers (about a megabyte
    each) over and over; above glibc's default mmap threshold each comes from a fresh ``mmap``
    and every first touch of its pages faults (about 490 minor faults per step of the MNIST
    CNN over 5 stacked clients, 15-20% of the step). Called in worker processes the executors
    own (``process``, ``ray``), never in the caller's process. False where malloc is not glibc's.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))


@dataclass(frozen=True)
class ModelSpec:
    """A registered model by name: picklable, so worker processes can rebuild it."""

    name: str
    input_shape: tuple[int, ...]
    n_classes: int

    def build(self) -> nn.Module:
        """A fresh instance (weights are overwritten by the spec's parameters anyway)."""
        return build_model(self.name, self.input_shape, self.n_classes, seed=0)


@dataclass(frozen=True, eq=False)
class TrainSpec:
    """One client's local training job in a round (McMahan et al. 2017, ClientUpdate)."""

    params: np.ndarray  # (n_params,) float32: the global model the client starts from
    data: Dataset
    epochs: int
    batch_size: int
    lr: float
    seed: int
    momentum: float = 0.0
    proximal_mu: float = 0.0
    claim_data: Dataset | None = None  # proof-of-learning: report the trained model's loss here

    def steps(self) -> int:
        """SGD steps this job takes: ``epochs * ceil(n / batch_size)``."""
        return int(self.epochs) * -(-len(self.data) // int(self.batch_size))


@dataclass(frozen=True, eq=False)
class TrainOutput:
    """The trained parameters plus what ``train_local``'s ``TrainResult`` reports."""

    params: np.ndarray  # (n_params,) float32
    n_samples: int
    mean_loss: float
    steps: int
    claimed_loss: float | None = None  # mean cross-entropy on the job's ``claim_data``, if any


class Executor(ABC):
    """Runs a round's local trainings; subclasses differ only in how the work is placed.

    Use as a context manager (or call :meth:`close`) so executors holding worker
    processes release them.
    """

    name: str = ""

    def __init__(self, model: ModelSpec) -> None:
        self.model = model

    @abstractmethod
    def train_many(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        """Train every job from its own ``params``; returns one output per job, in order."""

    def close(self) -> None:
        """Release held resources (worker processes); the default holds none."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_claims(module: nn.Module, jobs: list[TrainSpec], outputs: list[TrainOutput]) -> list[TrainOutput]:
    """``outputs`` with ``claimed_loss`` filled in for the jobs that carry ``claim_data``.

    The claim is :func:`~edgeledger.fl.training.evaluate`'s loss of the trained parameters, as
    a device that trains inline reports it; computing it where the job trained (a worker
    process or Ray actor) spreads proof-of-learning's validation passes over the workers."""
    out = list(outputs)
    for i, job in enumerate(jobs):
        if job.claim_data is not None and len(job.claim_data):
            set_flat_params(module, out[i].params)
            out[i] = replace(out[i], claimed_loss=float(evaluate(module, job.claim_data)[1]))
    return out


executors: Registry[type[Executor]] = Registry("executor")


def build_executor(name: str, model: ModelSpec, **options: Any) -> Executor:
    """Instantiate executor ``name`` for ``model``; unknown options raise :class:`ConfigError`."""
    cls = executors.get(name)
    try:
        return cls(model, **options)
    except TypeError as exc:
        raise ConfigError(f"executor {name!r} rejected options {sorted(options)}: {exc}") from None
