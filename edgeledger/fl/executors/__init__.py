"""Execution engines for a round's local trainings, chosen by name from ``executors``.

``sequential`` is the reference; ``batched`` vectorises the clients of a round on one
stacked model; ``process`` spreads them over one-thread worker processes (optionally each
running ``batched``); ``ray`` does the same with Ray actors, on a local Ray instance or a
cluster (optional: ``pip install 'edgeledger[ray]'``; Ray is imported only when it is
built). All give ``train_local``'s results for the same :class:`TrainSpec`.
"""

from __future__ import annotations

from edgeledger.fl.executors.base import (
    Executor,
    ModelSpec,
    TrainOutput,
    TrainSpec,
    build_executor,
    executors,
)
from edgeledger.fl.executors.batched import BatchedExecutor, batch_plan
from edgeledger.fl.executors.process import ProcessExecutor
from edgeledger.fl.executors.ray import RayExecutor
from edgeledger.fl.executors.sequential import SequentialExecutor

__all__ = [
    "BatchedExecutor",
    "Executor",
    "ModelSpec",
    "ProcessExecutor",
    "RayExecutor",
    "SequentialExecutor",
    "TrainOutput",
    "TrainSpec",
    "batch_plan",
    "build_executor",
    "executors",
]
