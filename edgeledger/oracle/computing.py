"""The computing oracle (SewingChain, Algorithm 2): an FL task released on an LBC, trained
off chain by the oracle group with Pedal aggregation, its global model's digest on chain.

One compute request is one round of the task (:class:`FLRound`: the task, the round and the
digest of the global model it starts from, all on chain; hyper-parameters are integers, so
no float reaches the chain). Per round:

1. each work node the master drew checks the global model against the digest named in
   the request (:func:`verify_global_model`), trains it for ``epochs`` on *its own* data
   partition (oracle node ``i`` holds partition ``i`` of a seeded IID split of the data set
   into ``n_clients`` parts; ``partition = "shards"``: McMahan's 2-shard non-IID split) with
   :mod:`edgeledger.fl`, and sends its update as a signed
   observation: a :class:`ModelUpdate` blob with its sha256 digest and data size;
2. the master aggregates ``t`` updates with Pedal (eq. 12-13, :mod:`edgeledger.fl.aggregators.pedal`):
   rank by accuracy on a held-out third of the test set, average the best third weighted by
   data size; the result is the digest of the global model;
3. every member recomputes that aggregation from the same signed updates (cheap next to
   training) before it signs its threshold share; a master proposing anything else gets no
   shares, so nothing reaches the chain without ``t`` members' agreement;
4. nodes fetch the global model and verify it against the on-chain digest before the next
   round (or any use) applies it.

:func:`pedal_model_aggregation` is the rule the cores run (``PedalCore(aggregators={"compute": ...})``),
:func:`compute_work` a member's training; both are deterministic for a task, so a replay
gives the same digests. :func:`run_fl_task` runs the same steps without the oracle (a
reference for tests and for the requester).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import derive_seed, sha256
from edgeledger.errors import DecodeError, EdgeLedgerError, IntegrityError
from edgeledger.fl.aggregators.pedal import Pedal, holdout_split
from edgeledger.fl.datasets import load_dataset
from edgeledger.fl.learner import SupervisedLearner, TrainingSettings
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.partition import partition
from edgeledger.ledger.blobs import BlobStore
from edgeledger.oracle.pedal import FetchJob, ResultAggregator
from edgeledger.oracle.records import OracleRequest
from edgeledger.oracle.service import WorkResult

__all__ = [
    "FLRound", "FLTask", "ModelUpdate", "TrainedModel", "aggregate_updates", "compute_work", "evaluate_model",
    "initial_model", "pedal_model_aggregation", "round_params", "run_fl_task", "train_update", "verify_global_model",
]


class FLTask(Record):
    dataset: str = "digits"
    model: str = "mlp"
    rounds: int = 3
    epochs: int = 1
    lr_micro: int = 100_000  # 0.1
    batch_size: int = 32
    seed: int = 0
    n_clients: int = 6  # data partitions: oracle node i trains partition i (mod n_clients)
    partition: str = "iid"  # how the training set is split: iid | shards (2 label shards each, non-IID)


class FLRound(Record):
    """A compute request's parameters: train ``round`` of ``task`` from ``global_digest``
    (empty for round 1: the initial model follows from the task's seed)."""

    task: FLTask
    round: int
    global_digest: bytes = b""


class ModelUpdate(Record):
    """A member's local model after training: the blob, its digest and its data size."""

    node_id: str
    round: int
    weight: int  # training samples behind the update (eq. 13's n_k)
    digest: bytes  # sha256(params)
    params: bytes  # canonical parameter bytes (edgeledger.fl.params)


@dataclass(frozen=True)
class TrainedModel:
    params: np.ndarray  # (n_params,) float32
    digest: bytes  # sha256 of the canonical parameter bytes
    accuracy: float  # on the two report thirds of the test set
    accuracies: list[float]  # per round


class _TaskData:
    """What every node derives from a task alone: data partitions, learners, the holdout."""

    def __init__(self, task: FLTask) -> None:
        train, test = load_dataset(task.dataset)
        parts = partition(task.partition, train.y, task.n_clients, np.random.default_rng(derive_seed(task.seed, "fl-task")))
        validation, report = holdout_split(len(test), np.random.default_rng(derive_seed(task.seed, "holdout")))
        settings = TrainingSettings(model=task.model, epochs=task.epochs, batch_size=task.batch_size,
                                    lr=task.lr_micro / 1e6)
        shape, classes, model_seed = tuple(train.x.shape[1:]), train.n_classes, derive_seed(task.seed, "model")
        self.task = task
        self.clients = [SupervisedLearner(settings, shape, classes, train.subset(p), None, model_seed) for p in parts]
        self.judge = SupervisedLearner(settings, shape, classes, None, test.subset(validation), model_seed)
        self.reporter = SupervisedLearner(settings, shape, classes, None, test.subset(report), model_seed)
        self.initial = self.clients[0].initial_params()


@lru_cache(maxsize=4)
def _task_data(encoded_task: bytes) -> _TaskData:
    return _TaskData(decode(encoded_task, FLTask))


def _data(task: FLTask) -> _TaskData:
    return _task_data(encode(task))


def initial_model(task: FLTask) -> np.ndarray:
    """Round 1's global model (n_params,): fixed by the task's seed, so every node agrees."""
    return _data(task).initial.copy()


def round_params(task: FLTask, round_: int, global_digest: bytes = b"") -> bytes:
    """The ``params`` of the compute request for ``round_`` (1-based) of ``task``."""
    return encode(FLRound(task=task, round=round_, global_digest=global_digest))


def train_update(task: FLTask, round_: int, global_params: np.ndarray, part: int, node_id: str) -> ModelUpdate:
    """Train ``global_params`` on partition ``part`` for one round (deterministic)."""
    data = _data(task)
    index = part % task.n_clients
    result = data.clients[index].train(global_params, round_, derive_seed(task.seed, "client", index, round_))
    blob = params_to_bytes(result.params)
    return ModelUpdate(node_id=node_id, round=round_, weight=int(result.weight), digest=sha256(blob), params=blob)


def aggregate_updates(task: FLTask, updates: Sequence[ModelUpdate]) -> np.ndarray:
    """Pedal (eq. 12-13) over ``updates`` in the order given: the global model (n_params,)."""
    pedal = Pedal(evaluate=lambda params: _data(task).judge.evaluate(params)["accuracy"])
    stacked = np.stack([params_from_bytes(u.params) for u in updates])  # (n_updates, n_params)
    weights = np.array([u.weight for u in updates], dtype=np.float64)  # (n_updates,)
    return pedal.aggregate(stacked, weights)


def evaluate_model(task: FLTask, params: np.ndarray) -> float:
    """Accuracy on the two thirds of the test set that Pedal's ranking never sees."""
    return _data(task).reporter.evaluate(params)["accuracy"]


def run_fl_task(task: FLTask, parts: Sequence[int] | None = None) -> TrainedModel:
    """The task trained without the oracle: every round, partitions ``parts`` (default all)
    train and Pedal aggregates them -- the same steps and numbers as the oracle group."""
    parts = list(range(task.n_clients)) if parts is None else list(parts)
    params = _data(task).initial
    accuracies = []
    for r in range(1, task.rounds + 1):
        updates = [train_update(task, r, params, p, f"part{p}") for p in parts]
        params = aggregate_updates(task, updates)
        accuracies.append(evaluate_model(task, params))
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


def _valid_updates(spec: FLRound, values: Sequence[bytes]) -> list[ModelUpdate]:
    """The well-formed updates of ``values``: right round and size, digest matching the blob,
    one per node and per digest (a copied update counts once)."""
    n_params = _data(spec.task).initial.shape[0]
    seen_nodes: set[str] = set()
    seen_digests: set[bytes] = set()
    valid = []
    for value in values:
        try:
            update = decode(value, ModelUpdate)
            ok = (update.round == spec.round and update.weight > 0 and sha256(update.params) == update.digest
                  and params_from_bytes(update.params).shape == (n_params,))
        except (DecodeError, EdgeLedgerError, ValueError):
            continue
        if ok and update.node_id not in seen_nodes and update.digest not in seen_digests:
            seen_nodes.add(update.node_id)
            seen_digests.add(update.digest)
            valid.append(update)
    return valid


def pedal_model_aggregation(blobs: BlobStore, storage: BlobStore | None = None) -> ResultAggregator:
    """The compute kind's aggregation rule for one node: Pedal over the work nodes' updates.

    Returns ``encode(global model digest)``, or None with fewer than ``threshold`` valid
    updates. The global model is kept in ``blobs``, so a member that checked a proposal holds
    the model the chain will name, and put in ``storage`` (the shared storage layer, if any):
    the master draws next round's work nodes at random, and they fetch it from there (verified
    by digest, :func:`compute_work`).
    """

    def aggregate(request: OracleRequest, values: Sequence[bytes], threshold: int) -> bytes | None:
        try:
            spec = decode(request.params, FLRound)
        except DecodeError:
            return None
        updates = _valid_updates(spec, values)
        if len(updates) < threshold:
            return None
        params = aggregate_updates(spec.task, updates)
        data = params_to_bytes(params)
        if storage is not None:
            storage.put(data)
        return encode(blobs.put(data))

    return aggregate


def compute_work(blobs: BlobStore, part: int = 0, seconds_per_round: float = 1.0,
                 tamper: bool = False, storage: BlobStore | None = None) -> Callable[[FetchJob], WorkResult]:
    """A member's ``work`` for compute requests: verify the global model, train it on data
    partition ``part``, report the encoded :class:`ModelUpdate` (also kept in ``blobs``).

    The global model comes from ``blobs`` (a member that checked last round's aggregate holds
    it) or else from ``storage`` (the shared storage layer), verified by digest either way. A
    member that cannot verify it refuses (an empty value the aggregation ignores). ``tamper``
    makes it a free-rider that uploads random parameters.
    """

    def global_model(digest: bytes) -> np.ndarray:
        if storage is not None and not blobs.has(digest):
            return verify_global_model(storage, digest)
        return verify_global_model(blobs, digest)

    def work(job: FetchJob) -> WorkResult:
        try:
            spec = decode(job.request.params, FLRound)
            data = _data(spec.task)
            if spec.global_digest:
                global_params = global_model(spec.global_digest)
            elif spec.round == 1:
                global_params = data.initial
            else:
                raise IntegrityError(f"round {spec.round} names no global model")
        except (DecodeError, IntegrityError):
            return WorkResult(b"", 0.0)
        update = train_update(spec.task, spec.round, global_params, part, job.node_id)
        if tamper:
            rng = np.random.default_rng(derive_seed(spec.task.seed, "free-rider", part, spec.round))
            blob = params_to_bytes(rng.normal(0.0, 1.0, global_params.shape).astype(np.float32))
            update = ModelUpdate(node_id=update.node_id, round=update.round, weight=update.weight,
                                 digest=sha256(blob), params=blob)
        blobs.put(update.params)
        return WorkResult(encode(update), seconds_per_round * spec.task.epochs)

    return work
