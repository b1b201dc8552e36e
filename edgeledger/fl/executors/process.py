"""A pool of worker processes, each training its share of a round's jobs with one thread.

Workers are started with the ``spawn`` method (fork is unsafe once torch's thread pools
exist), set ``torch.set_num_threads(1)`` and keep freed buffers in the heap
(:func:`~edgeledger.fl.executors.base.keep_heap_warm`) — several one-thread processes beat one
multi-thread process on small models, and spin-waiting OpenMP threads are not starved by
a busy neighbour — and are kept across rounds until :meth:`ProcessExecutor.close`.
Each worker runs an inner executor (``sequential`` by default, or ``batched``) on a
contiguous chunk of jobs balanced by step count, so results equal the inner executor's.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import torch

from edgeledger.errors import ConfigError
from edgeledger.fl.executors.base import (
    Executor,
    ModelSpec,
    TrainOutput,
    TrainSpec,
    build_executor,
    executors,
    keep_heap_warm,
)

__all__ = ["ProcessExecutor", "split_balanced"]

_WORKER: dict[tuple, Executor] = {}  # per worker process: (inner, model) -> executor


def _init_worker() -> None:
    torch.set_num_threads(1)
    keep_heap_warm()


def _run_chunk(inner: str, model: ModelSpec, jobs: list[TrainSpec]) -> list[TrainOutput]:
    key = (inner, model)
    if key not in _WORKER:
        _WORKER[key] = build_executor(inner, model)
    return _WORKER[key].train_many(jobs)


def split_balanced(jobs: list[TrainSpec], parts: int) -> list[list[int]]:
    """Indices of ``jobs`` cut into at most ``parts`` contiguous chunks of similar total steps."""
    total = sum(j.steps() for j in jobs)
    chunks: list[list[int]] = [[]]
    done = 0
    for i, job in enumerate(jobs):
        if chunks[-1] and done >= total * len(chunks) / parts:
            chunks.append([])
        chunks[-1].append(i)
        done += job.steps()
    return chunks


@executors.register("process")
class ProcessExecutor(Executor):
    """``workers`` spawned processes; ``inner`` names the executor each one runs.

    ``chunked=False`` (the default for ``sequential``) submits one job per task so the pool
    balances unequal clients; ``batched`` always gets one chunk per worker.
    """

    name = "process"

    def __init__(self, model: ModelSpec, *, workers: int = 2, inner: str = "sequential") -> None:
        super().__init__(model)
        if int(workers) < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if inner not in executors or inner == "process":
            raise ConfigError(f"inner executor must be a registered in-process executor, got {inner!r}")
        self.workers, self.inner = int(workers), inner
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker)
        return self._pool

    def train_many(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        if not jobs:
            return []
        pool = self._get_pool()
        if self.inner == "sequential":
            chunks = [[i] for i in range(len(jobs))]
        else:
            chunks = split_balanced(jobs, self.workers)
        futures = [pool.submit(_run_chunk, self.inner, self.model, [jobs[i] for i in c]) for c in chunks]
        outputs: list[TrainOutput] = []
        for future in futures:
            outputs.extend(future.result())
        return outputs

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

