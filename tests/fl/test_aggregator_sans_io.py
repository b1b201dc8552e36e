"""The aggregator core is sans-IO in behaviour: driven through whole rounds by a recording driver,
it opens no file, socket, database or process and runs no evaluation; it asks its driver to
store every blob (before anything names it), to score every model and (proof-of-learning) to
re-execute every claimed loss it checks, through effects."""

from __future__ import annotations

import sys

import numpy as np

from edgeledger.codec import decode
from edgeledger.crypto.hashing import sha256
from edgeledger.effects import Broadcast, Effect, Rejected, SaveState, SetTimer, SubmitTransaction
from edgeledger.fl.aggregators import ProofOfLearning, build_aggregator
from edgeledger.fl.aggregators.proof_of_learning import LOSS_FIXED_POINT
from edgeledger.fl.params import params_to_bytes
from edgeledger.fl.round.core import AggregatorCore, RoundSettings
from edgeledger.fl.round.driver_effects import EvaluateModel, ReexecuteClaim, StoreBlob
from edgeledger.fl.round.events import KIND_UPDATE, ModelAnnouncement, RoundClose, RoundOpen, UpdateRecord, UpdateUpload
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import make_transaction
from tests.conftest import make_chain

DEVICES = ("dev0", "dev1", "dev2")
ROUNDS = 3
IO_EVENTS = ("open", "socket.", "sqlite3.", "subprocess.", "os.", "shutil.", "tempfile.", "ctypes.", "urllib.")

_guard = {"on": False, "seen": []}


def _audit(event: str, args: tuple) -> None:
    if _guard["on"] and event.startswith(IO_EVENTS):
        _guard["seen"].append((event, args[:1]))


sys.addaudithook(_audit)  # audit hooks stay for the process; this one records only while a core runs


class RecordingDriver:
    """Carries out the core's effects as a node would, records them, and checks that the core
    itself touches nothing outside its memory while it handles an input."""

    def __init__(self) -> None:
        self.blobs: dict[bytes, bytes] = {}
        self.effects: list[Effect] = []
        self.evaluations = 0
        self.reexecuted: list[tuple[int, str]] = []
        self.height = 0

    def call(self, step, *args) -> list[Effect]:
        _guard["seen"].clear()
        _guard["on"] = True
        try:
            effects = step(*args)
        finally:
            _guard["on"] = False
        assert _guard["seen"] == [], f"the core did I/O in {step.__name__}: {_guard['seen']}"
        self.effects += effects
        return effects

    def run(self, core: AggregatorCore, effects: list[Effect], now: float) -> list[SubmitTransaction]:
        """Store blobs, evaluate models (feeding the scores back), collect the submissions."""
        submits: list[SubmitTransaction] = []
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            if isinstance(effect, StoreBlob):
                self.blobs[sha256(effect.data)] = effect.data
            elif isinstance(effect, EvaluateModel):
                self.evaluations += 1
                scores = {"accuracy": float(np.clip(effect.params.mean(), 0.0, 1.0))}
                queue[0:0] = self.call(core.on_evaluated, effect.round, scores, now)
            elif isinstance(effect, ReexecuteClaim):  # the validation loss: here, a function of the params
                self.reexecuted.append((effect.round, effect.device))
                queue[0:0] = self.call(core.on_reexecuted, effect.round, effect.device, _loss(effect.params), now)
            elif isinstance(effect, SaveState):
                record = effect.record  # every digest a saved state names is stored already
                assert record.global_digest in self.blobs
                assert all(digest in self.blobs for _, digest, _, _ in record.accepted)
            elif isinstance(effect, SubmitTransaction):
                for digest in _named_digests(effect.tx):
                    assert digest in self.blobs, f"{effect.tx.kind} names a blob not stored yet"
                submits.append(effect)
        return submits

    def commit(self, txs) -> tuple[Block, list[Receipt]]:
        self.height += 1
        header = BlockHeader(chain_id="test", height=self.height, prev_hash=b"\0" * 32, tx_root=transactions_root(txs),
                             tx_count=len(txs), proposer="v1", timestamp_ms=0)
        block = Block(header=header, transactions=list(txs))
        return block, [Receipt(tx_id=t.tx_id, height=self.height, ok=True) for t in txs]


def _named_digests(tx) -> list[bytes]:
    if tx.kind == "fl.round_open":
        return [decode(tx.payload, RoundOpen).global_digest]
    if tx.kind == "fl.round_close":
        return [decode(tx.payload, RoundClose).global_digest]
    if tx.kind == KIND_UPDATE:
        return [decode(tx.payload, UpdateRecord).update_digest]
    return []


def _loss(params: np.ndarray) -> float:
    """The 'validation loss' the recording driver re-executes: |mean - 0.25| of the parameters."""
    return float(abs(np.mean(params) - 0.25))


def _upload(keys, device, round_, value, nonce, claim=None):
    blob = params_to_bytes(np.full(4, value, dtype=np.float32))
    record = UpdateRecord(round=round_, update_digest=sha256(blob), update_size=len(blob), n_samples=10,
                          claimed_loss_micro=-1 if claim is None else int(round(claim * LOSS_FIXED_POINT)))
    return UpdateUpload(tx=make_transaction(keys[device], device, nonce, KIND_UPDATE, record), update=blob)


def _value(k: int, round_: int) -> float:
    return 0.1 * (k + round_)


def _claim(k: int, round_: int) -> float:
    """dev0 claims a loss of 0 (a lie, so it is checked first and refuted); the others the truth."""
    return 0.0 if k == 0 else _loss(np.full(4, _value(k, round_), dtype=np.float32))


def _drive_rounds(keys, membership, aggregator="fedavg") -> tuple[AggregatorCore, RecordingDriver, list]:
    core = AggregatorCore("v0", keys["v0"], membership, RoundSettings(rounds=ROUNDS, clients_per_round=3),
                          build_aggregator(aggregator), np.zeros(4, dtype=np.float32), list(DEVICES), ["v1", "v2"],
                          np.random.default_rng(1))
    claims = aggregator == "proof_of_learning"
    driver = RecordingDriver()
    pending = driver.run(core, driver.call(core.start, 0.0), 0.0)
    closes, now = [], 1.0
    for round_ in range(1, ROUNDS + 1):
        block, receipts = driver.commit([s.tx for s in pending])  # the open transaction
        effects = driver.call(core.on_block, block, receipts, now)
        assert any(isinstance(e, Broadcast) and isinstance(e.message, ModelAnnouncement) for e in effects)
        assert any(isinstance(e, SetTimer) for e in effects)
        driver.run(core, effects, now)
        pending = []
        for k, device in enumerate(DEVICES):
            upload = _upload(keys, device, round_, _value(k, round_), round_, _claim(k, round_) if claims else None)
            pending += driver.run(core, driver.call(core.on_upload, "v1", upload, now + 1), now + 1)
        close = [s for s in pending if s.tx.kind == "fl.round_close"]
        assert len(close) == 1, f"round {round_} did not close after every participant answered"
        closes.append(decode(close[0].tx.payload, RoundClose))
        block, receipts = driver.commit([s.tx for s in pending])  # the updates and the close
        pending = driver.run(core, driver.call(core.on_block, block, receipts, now + 2), now + 2)
        now += 10.0
    return core, driver, closes


def test_the_aggregator_core_leaves_storage_and_evaluation_to_its_driver() -> None:
    keys, membership = make_chain(4, devices=DEVICES)
    _drive_rounds(keys, membership)  # once to warm up lazy imports (which would read files)
    core, driver, closes = _drive_rounds(keys, membership)

    assert core.done and [c.round for c in closes] == [1, 2, 3]
    assert driver.evaluations == ROUNDS  # one evaluation per round, run by the driver
    assert not any(hasattr(core, name) for name in ("blobs", "learner", "store"))
    # every model and update named on chain is in the driver's store, byte for byte
    for c in closes:
        assert sha256(driver.blobs[c.global_digest]) == c.global_digest
    stored = [e for e in driver.effects if isinstance(e, StoreBlob)]
    assert len(stored) == 1 + ROUNDS * (len(DEVICES) + 1)  # the initial model, per round 3 updates and 1 model
    # the scores came from the driver's evaluation: mean of the fedavg of the round's uploads
    assert [c.accuracy_bp for c in closes] == [int(round(np.mean([0.1 * (k + r) for k in range(3)]) * 10000))
                                               for r in (1, 2, 3)]


def _one_round_core(aggregator: str):
    keys, membership = make_chain(4, devices=DEVICES)
    core = AggregatorCore("v0", keys["v0"], membership, RoundSettings(rounds=1, clients_per_round=3),
                          build_aggregator(aggregator), np.zeros(4, dtype=np.float32), list(DEVICES), ["v1"],
                          np.random.default_rng(1))
    core.start(0.0)
    return keys, core


def test_scores_for_a_round_that_is_not_closing_are_refused() -> None:
    keys, core = _one_round_core("fedavg")
    effects = core.on_evaluated(1, {"accuracy": 1.0}, 1.0)  # the round is still collecting
    assert [type(e).__name__ for e in effects] == ["Rejected"]
    assert not any(isinstance(e, SubmitTransaction) for e in effects)


def test_a_proof_of_learning_round_has_its_claims_re_executed_by_the_driver() -> None:
    keys, membership = make_chain(4, devices=DEVICES)
    _drive_rounds(keys, membership, "proof_of_learning")  # warm-up (lazy imports)
    core, driver, closes = _drive_rounds(keys, membership, "proof_of_learning")

    assert core.done and [c.round for c in closes] == [1, 2, 3]
    assert core.aggregator.evaluate_loss is None  # the core has nothing to evaluate with: its driver does it
    # per round: dev0's false claim first (lowest), refuted; then the lowest true claim wins
    for r in (1, 2, 3):
        true = sorted((_claim(k, r), k) for k in (1, 2))
        assert [d for rr, d in driver.reexecuted if rr == r] == ["dev0", DEVICES[true[0][1]]]
    refuted = [e for e in driver.effects if isinstance(e, Rejected) and e.what == "fl.claim"]
    assert [e.sender for e in refuted] == ["dev0"] * ROUNDS
    # the same winner, bit for bit, as the aggregator picks with the evaluator injected (the old path)
    for r, close in zip((1, 2, 3), closes):
        updates = np.stack([np.full(4, _value(k, r), dtype=np.float32) for k in range(3)])
        claims = np.array([_claim(k, r) for k in range(3)])
        expected = ProofOfLearning(evaluate_loss=_loss).aggregate(updates, np.full(3, 10.0), claims=claims)
        assert close.global_digest == sha256(params_to_bytes(expected))
        assert sha256(driver.blobs[close.global_digest]) == close.global_digest


def test_a_re_executed_loss_nobody_asked_for_is_refused_and_a_driver_without_validation_fails_the_round() -> None:
    keys, core = _one_round_core("proof_of_learning")
    assert [type(e).__name__ for e in core.on_reexecuted(1, "dev0", 0.1, 1.0)] == ["Rejected"]
    effects = []
    for k, device in enumerate(DEVICES):  # the last upload closes the round: the first claim is asked for
        effects = core.on_upload("v1", _upload(keys, device, 1, _value(k, 1), 1, _claim(k, 1)), 1.0)
    asked = [e for e in effects if isinstance(e, ReexecuteClaim)]
    assert [(e.round, e.device) for e in asked] == [(1, "dev0")]
    assert not any(isinstance(e, EvaluateModel) for e in effects)  # no new model before the check
    assert core.current.walk is not None and core.current.walk.device() == "dev0"
    assert [type(e).__name__ for e in core.on_reexecuted(1, "dev1", 0.1, 3.0)] == ["Rejected"]  # not the one asked
    effects = core.on_reexecuted(1, "dev0", None, 3.0)  # the driver has no validation set
    assert [(e.what, "evaluate_loss" in e.reason) for e in effects if isinstance(e, Rejected)] == [("aggregation", True)]
    assert any(isinstance(e, EvaluateModel) for e in effects) and core.global_digest == sha256(
        params_to_bytes(np.zeros(4, dtype=np.float32)))  # the round closes with the global model kept
