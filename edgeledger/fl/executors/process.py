"""A pool of worker processes, each training its share of a round's jobs with one thread.

Workers are started with the ``spawn`` method (fork is unsafe once torch's thread pools
exist), set ``torch.set_num_threads(1)`` and keep freed buffers in the heap
(:func:`~edgeledger.fl.executors.base.keep_heap_warm`) — several one-thread processes beat one
multi-thread process on small models, and spin-waiting OpenMP threads are not starved by
a busy neighbour — and are kept across rounds until :meth:`ProcessExecutor.close`.
Each worker runs an inner executor (``sequential`` by default, or ``batched``) on a
contiguous chunk of jobs balanced by step count, so results equal the inner executor's.

Jobs travel to the workers through one shared-memory arena that the executor keeps across
rounds (:class:`SharedArena`): every large array of a round (client data, the global
parameters, once however many jobs hold it) is copied there once, and each worker gets a
small pickle whose arrays are views of the arena. Sending ~1 MB per client through a
pipe, one worker after the other, made the second worker start tens of milliseconds late.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import shared_memory
from typing import Any

import numpy as np
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

__all__ = ["ProcessExecutor", "SharedArena", "split_balanced"]

_WORKER: dict[tuple, Executor] = {}  # per worker process: (inner, model) -> executor
_ATTACHED: dict[str, shared_memory.SharedMemory] = {}  # per worker process: the arena it reads

#: Arrays at least this large go through the arena; smaller ones stay in the pickle.
_ARENA_MIN_BYTES = 4096
_ALIGN = 64


class SharedArena:
    """A growable shared-memory block that carries a round's large arrays to worker processes.

    :meth:`pack` pickles any object with every ``numpy`` array of at least 4 KiB replaced by a
    reference into the block (an array held by many jobs is copied once); :func:`unpack` in a
    worker rebuilds the object with those arrays as views of the block. The block is reused
    while it is large enough, so its pages stay mapped in every process. The caller must not
    :meth:`pack` again while a worker still reads the previous round.
    """

    def __init__(self) -> None:
        self._shm: shared_memory.SharedMemory | None = None

    @property
    def name(self) -> str | None:
        return None if self._shm is None else self._shm.name

    def pack(self, objects: list[Any]) -> list[bytes]:
        """One pickle per object; the arrays they reference are copied into the block."""
        arrays: list[np.ndarray] = []
        places: dict[int, tuple[int, tuple[int, ...], str]] = {}
        size = 0

        class _Pickler(pickle.Pickler):
            def persistent_id(self, obj: Any) -> tuple | None:
                nonlocal size
                if type(obj) is not np.ndarray or obj.nbytes < _ARENA_MIN_BYTES or obj.dtype.hasobject:
                    return None
                if id(obj) not in places:
                    places[id(obj)] = (size, obj.shape, obj.dtype.str)
                    arrays.append(obj)
                    size += -(-obj.nbytes // _ALIGN) * _ALIGN
                return places[id(obj)]

        payloads = []
        for obj in objects:
            buffer = io.BytesIO()
            _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
            payloads.append(buffer.getvalue())
        if not arrays:
            return payloads
        block = self._reserve(size)
        if block is None:  # no room in shared memory: plain pickles (name is None for this round)
            return [pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) for obj in objects]
        for arr in arrays:
            offset = places[id(arr)][0]
            np.ndarray(arr.shape, arr.dtype, buffer=block, offset=offset)[...] = arr
        return payloads

    def _reserve(self, size: int) -> memoryview | None:
        """The block, grown to hold ``size`` bytes; ``None`` (and no block) when the shared-memory
        file system cannot hold it (a container's 64 MB ``/dev/shm``: writing past its end
        would kill this process with SIGBUS)."""
        if self._shm is None or self._shm.size < size:
            self.close()
            room = _shm_free_bytes() - (16 << 20)  # leave some for everyone else
            if size > room:
                return None
            self._shm = shared_memory.SharedMemory(create=True, size=min(max(size + size // 4, 1 << 20), room))
        return self._shm.buf

    def close(self) -> None:
        """Release and remove the block (workers' mappings stay valid until they drop them)."""
        if self._shm is not None:
            self._shm.close()
            self._shm.unlink()
            self._shm = None


def _shm_free_bytes() -> int:
    """Free bytes where ``SharedMemory`` blocks live (``/dev/shm`` on Linux); unbounded elsewhere."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return 1 << 62
    return stats.f_bavail * stats.f_frsize


def unpack(payload: bytes, arena: str | None) -> Any:
    """The object :meth:`SharedArena.pack` pickled, its large arrays viewing arena ``arena``."""
    block = _attach(arena).buf if arena is not None else None

    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: tuple) -> np.ndarray:
            offset, shape, dtype = pid
            if block is None:
                raise pickle.UnpicklingError("payload references a shared-memory arena but none was named")
            return np.ndarray(shape, np.dtype(dtype), buffer=block, offset=offset)

    return _Unpickler(io.BytesIO(payload)).load()


def _attach(name: str) -> shared_memory.SharedMemory:
    if name not in _ATTACHED:
        for old in _ATTACHED.values():  # the executor grew its arena: the old one is gone
            try:
                old.close()
            except BufferError:  # a view is still alive somewhere; the mapping goes with it
                pass
        _ATTACHED.clear()
        # Spawned workers share the parent's resource tracker, so attaching (which registers
        # the name again on Python < 3.13) adds nothing to unregister; the creator unlinks it.
        _ATTACHED[name] = shared_memory.SharedMemory(name=name)
    return _ATTACHED[name]


def _init_worker() -> None:
    torch.set_num_threads(1)
    keep_heap_warm()


def _run_chunk(inner: str, model: ModelSpec, payload: bytes, arena: str | None,
               device: str = "cpu") -> list[TrainOutput]:
    key = (inner, model, device)
    if key not in _WORKER:
        _WORKER[key] = build_executor(inner, model, **({"device": device} if device != "cpu" else {}))
    jobs = unpack(payload, arena)
    try:
        return _WORKER[key].train_many(jobs)
    finally:
        del jobs  # drop the views of the arena before the next round rewrites it


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

    def __init__(self, model: ModelSpec, *, workers: int = 2, inner: str = "sequential", device: str = "cpu") -> None:
        super().__init__(model)
        if device != "cpu" and inner != "batched":
            raise ConfigError(f"device={device!r} needs inner='batched' (the executor that runs on a device), "
                              f"got inner={inner!r}")
        if device != "cpu":  # resolved here, once: a missing GPU is one line, not one per worker
            from edgeledger.fl.executors.batched import resolve_device

            device = str(resolve_device(device))
        self.device = device
        if int(workers) < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if inner not in executors or inner == "process":
            raise ConfigError(f"inner executor must be a registered in-process executor, got {inner!r}")
        self.workers, self.inner = int(workers), inner
        self._pool: ProcessPoolExecutor | None = None
        self._arena = SharedArena()

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
        payloads = self._arena.pack([[jobs[i] for i in c] for c in chunks])
        futures = [pool.submit(_run_chunk, self.inner, self.model, p, self._arena.name, self.device) for p in payloads]
        # Every worker must be done with the arena before the next round may rewrite it.
        wait(futures)
        outputs: list[TrainOutput] = []
        for future in futures:
            outputs.extend(future.result())
        return outputs

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._arena.close()

