"""Send a round's device trainings through one executor call (the simulator's fast path).

Inline, a device trains the moment its ``Compute`` effect is resolved, one device after the
other. With an executor configured (``fl.executor``), a device's service hands the job to
this pool and gets a :class:`PendingTraining` handle; the node starts the job's modelled
timer as usual. When the first of those timers fires, the handle asks the pool for its
result and the pool flushes *every* job pending at that moment through one
``Executor.train_many`` call. All devices of a round are announced the model within
milliseconds of simulated time while training is modelled in seconds, so one flush
normally holds the whole round.

Results do not depend on how jobs were batched: every :class:`TrainSpec` carries its own
global parameters and shuffling seed. ``sequential`` and ``process`` give bit-identical
parameters to inline training; ``batched`` agrees up to float rounding (it vectorises the
clients), so its chain hashes differ from an inline run's but are again a pure function
of the seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeledger.fl.executors import Executor, ModelSpec, TrainSpec, build_executor
from edgeledger.fl.learner import Learner, LocalResult, SupervisedLearner

__all__ = ["TrainingPool", "PendingTraining", "INLINE"]

INLINE = "inline"


class PendingTraining:
    """A device's training job waiting in the pool; :meth:`result` flushes when needed."""

    def __init__(self, pool: TrainingPool, learner: Learner, global_params: np.ndarray, round_: int,
                 seed: int) -> None:
        self.pool = pool
        self.learner = learner
        self.global_params = global_params
        self.round = round_
        self.seed = seed
        self._result: LocalResult | None = None

    @property
    def done(self) -> bool:
        return self._result is not None

    def result(self) -> LocalResult:
        """The training result, running the pool's pending jobs first if this one is among them."""
        if self._result is None:
            self.pool.flush()
        assert self._result is not None
        return self._result


class TrainingPool:
    """Collects pending device trainings and runs them with one ``train_many`` per flush.

    Parameters: ``executor`` (a registered executor name), ``model`` (the architecture every
    device trains), ``options`` (the executor's keyword options). Call :meth:`close` at the
    end of a run (process executors hold worker processes).
    """

    def __init__(self, executor: str, model: ModelSpec, options: dict[str, Any] | None = None) -> None:
        self.executor: Executor = build_executor(executor, model, **dict(options or {}))
        self.name = executor
        self._pending: list[PendingTraining] = []
        self.flushes = 0
        self.jobs = 0

    def submit(self, learner: Learner, global_params: np.ndarray, round_: int, seed: int) -> PendingTraining:
        """Queue ``learner``'s training from ``global_params``; returns its handle."""
        handle = PendingTraining(self, learner, global_params, round_, seed)
        self._pending.append(handle)
        return handle

    def flush(self) -> None:
        """Train every pending job: supervised learners in one ``train_many``, others inline."""
        pending, self._pending = self._pending, []
        batch: list[tuple[PendingTraining, TrainSpec]] = []
        for h in pending:
            learner = h.learner
            if isinstance(learner, SupervisedLearner) and learner.train_data is not None and len(learner.train_data):
                s = learner.settings
                batch.append((h, TrainSpec(params=h.global_params, data=learner.train_data, epochs=s.epochs,
                                           batch_size=s.batch_size, lr=s.lr, seed=h.seed, momentum=s.momentum,
                                           proximal_mu=s.proximal_mu, claim_data=learner.test_data)))
            else:  # empty data, or a learner the executors do not know (e.g. an RL agent)
                h._result = learner.train(h.global_params, h.round, h.seed)
        if batch:
            outputs = self.executor.train_many([spec for _, spec in batch])
            for (h, _), out in zip(batch, outputs):
                # as SupervisedLearner.train: a device holding public validation data claims its
                # loss there (proof-of-learning re-executes the claim); the executor computed it
                # where the job trained
                h._result = LocalResult(params=out.params, weight=out.n_samples, loss=out.mean_loss,
                                        claimed_loss=out.claimed_loss)
        self.flushes += 1
        self.jobs += len(pending)

    def close(self) -> None:
        """Release the executor's resources (worker processes)."""
        self.executor.close()
