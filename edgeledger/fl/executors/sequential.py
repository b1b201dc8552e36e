"""The reference executor: ``train_local`` on each job in turn, in this process."""

from __future__ import annotations

from edgeledger.fl.executors.base import Executor, ModelSpec, TrainOutput, TrainSpec, add_claims, executors
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.fl.training import train_local

__all__ = ["SequentialExecutor", "train_one"]


def train_one(model, job: TrainSpec) -> TrainOutput:  # noqa: ANN001 - nn.Module
    """Load ``job.params`` into ``model`` and run :func:`train_local` exactly as a device would."""
    set_flat_params(model, job.params)
    result = train_local(
        model,
        job.data,
        epochs=job.epochs,
        batch_size=job.batch_size,
        lr=job.lr,
        seed=job.seed,
        momentum=job.momentum,
        proximal_mu=job.proximal_mu,
        global_params=job.params if job.proximal_mu else None,
    )
    return TrainOutput(
        params=get_flat_params(model).copy(),
        n_samples=result.n_samples,
        mean_loss=float(result.mean_loss),
        steps=result.steps,
    )


@executors.register("sequential")
class SequentialExecutor(Executor):
    """One model instance reused for every job; the ground truth the others must match."""

    name = "sequential"

    def __init__(self, model: ModelSpec) -> None:
        super().__init__(model)
        self._module = model.build()

    def train_many(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        return add_claims(self._module, jobs, [train_one(self._module, job) for job in jobs])
