"""The computing oracle (SewingChain, Algorithm 2): an FL task released on an LBC, trained
off chain by the oracle group with Pedal aggregation, its global model's digest on chain.

The task's hyper-parameters travel as integers (``lr_micro``: no floats reach the chain).
:func:`run_fl_task` is deterministic for a task: the ``n_clients`` simulated clients get an
IID split of the data set seeded by the task; each round every client trains from the
global model and Pedal (eq. 12-13, :mod:`edgeledger.fl.aggregators.pedal`) keeps the best
third by accuracy on a held-out third of the test set and averages them weighted by data
size. Each group member replays the task, so the digest the master proposes is checked by
recomputation: a member whose digest differs refuses to sign, and without ``t`` agreeing
members nothing reaches the chain. The final model is stored as a blob; anyone verifies
it against the on-chain digest (:func:`verify_global_model`) before applying it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import derive_seed, sha256
from edgeledger.errors import IntegrityError
from edgeledger.fl.aggregators.pedal import Pedal, holdout_split
from edgeledger.fl.datasets import load_dataset
from edgeledger.fl.learner import SupervisedLearner, TrainingSettings
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.partition import partition
from edgeledger.ledger.blobs import BlobStore
from edgeledger.oracle.pedal import FetchJob
from edgeledger.oracle.service import WorkResult

__all__ = ["FLTask", "TrainedModel", "run_fl_task", "verify_global_model", "compute_work"]


class FLTask(Record):
    dataset: str = "digits"
    model: str = "mlp"
    rounds: int = 3
    epochs: int = 1
    lr_micro: int = 100_000  # 0.1
    batch_size: int = 32
    seed: int = 0
    n_clients: int = 6


@dataclass(frozen=True)
class TrainedModel:
    params: np.ndarray  # (n_params,) float32
    digest: bytes  # sha256 of the canonical parameter bytes
    accuracy: float  # on the two report thirds of the test set
    accuracies: list[float]  # per round


def run_fl_task(task: FLTask) -> TrainedModel:
    """Train ``task`` deterministically with Pedal aggregation; returns the global model."""
    train, test = load_dataset(task.dataset)
    rng = np.random.default_rng(derive_seed(task.seed, "fl-task"))
    parts = partition("iid", train.y, task.n_clients, rng)
    validation, report = holdout_split(len(test), np.random.default_rng(derive_seed(task.seed, "holdout")))
    settings = TrainingSettings(model=task.model, epochs=task.epochs, batch_size=task.batch_size,
                                lr=task.lr_micro / 1e6)
    shape, classes, model_seed = tuple(train.x.shape[1:]), train.n_classes, derive_seed(task.seed, "model")
    clients = [SupervisedLearner(settings, shape, classes, train.subset(p), None, model_seed) for p in parts]
    judge = SupervisedLearner(settings, shape, classes, None, test.subset(validation), model_seed)
    reporter = SupervisedLearner(settings, shape, classes, None, test.subset(report), model_seed)
    pedal = Pedal(evaluate=lambda params: judge.evaluate(params)["accuracy"])
    params = clients[0].initial_params()
    accuracies = []
    for r in range(1, task.rounds + 1):
        results = [c.train(params, r, derive_seed(task.seed, "client", i, r)) for i, c in enumerate(clients)]
        updates = np.stack([res.params for res in results])  # (n_clients, n_params)
        weights = np.array([res.weight for res in results], dtype=np.float64)  # (n_clients,)
        params = pedal.aggregate(updates, weights)
        accuracies.append(reporter.evaluate(params)["accuracy"])
    return TrainedModel(params, sha256(params_to_bytes(params)), accuracies[-1], accuracies)


def verify_global_model(blobs: BlobStore, digest: bytes) -> np.ndarray:
    """The global model named by an on-chain digest, refused unless the bytes match."""
    try:
        data = blobs.get(digest)
    except KeyError:
        raise IntegrityError(f"global model {digest.hex()[:16]} is not in the blob store") from None
    if sha256(data) != digest:
        raise IntegrityError(f"global model bytes do not match the on-chain digest {digest.hex()[:16]}")
    return params_from_bytes(data)


def compute_work(blobs: BlobStore, seconds_per_round: float = 1.0,
                 tamper: bool = False) -> Callable[[FetchJob], WorkResult]:
    """A member's ``work`` for compute requests: replay the task, store the model, report its digest.

    ``tamper`` makes a member train a corrupted model (a lazy or malicious worker).
    """

    def work(job: FetchJob) -> WorkResult:
        task = decode(job.request.params, FLTask)
        trained = run_fl_task(task)
        params = trained.params + (np.float32(1e-3) if tamper else np.float32(0))
        digest = blobs.put(params_to_bytes(params))
        return WorkResult(encode(digest), seconds_per_round * task.rounds)

    return work
