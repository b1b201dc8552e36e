"""The FL round protocol as sans-IO cores: aggregator, device and edge relay.

One round (docs/design.md, "A FL round on chain"; the ChainFL / FBFL / Pedal shape):
1. the aggregator submits ``fl.round_open(r, global digest, participants)``;
2. once it is committed, the aggregator sends the committed header, its certificate, the
   Merkle proof and the model blob to the edges, which forward to their devices; each device
   verifies all of it (:func:`verify_announcement`), trains, signs ``fl.update(r, digest)``
   and uploads through its edge;
3. the aggregator checks each upload (signer, participant, round, blob digest), submits the
   accepted update transactions, and when all participants answered or the round deadline
   fired, aggregates with the configured plug-in and submits ``fl.round_close``;
4. when the close commits, round r+1 opens.
Cores take inputs with ``now`` and return effects; training runs in the node via ``Compute``.
The aggregator core does no I/O and no heavy compute itself: blobs leave as ``StoreBlob`` and
the new global model's scoring as ``EvaluateModel`` (:mod:`.driver_effects`), a proof-of-learning
round's claim checks as ``ReexecuteClaim`` (:mod:`.claims`); its driver
(:class:`~edgeledger.fl.round.services.AggregatorService`) stores and evaluates.
The device's core lives in :mod:`edgeledger.fl.round.device` and the edge's in
:mod:`edgeledger.fl.round.edge` (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import derive_seed, sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.sealing import Cipher
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.effects import Broadcast, Effect, Metric, Rejected, SaveState, Send, SetTimer, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.fl.aggregators.base import Aggregator
from edgeledger.fl.aggregators.proof_of_learning import LOSS_FIXED_POINT, ProofOfLearning
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.round.combine import combine_updates, upload_problem
from edgeledger.fl.round.device import DeviceCore, TrainJob
from edgeledger.fl.round.edge import EdgeRelay
from edgeledger.fl.round.claims import ClaimWalk
from edgeledger.fl.round.driver_effects import EvaluateModel, ReexecuteClaim, ResumeInputs, StoreBlob
from edgeledger.fl.round.events import (
    KIND_CLOSE,
    KIND_OPEN,
    FetchModel,
    ModelAnnouncement,
    RoundClose,
    RoundOpen,
    UpdateRecord,
    UpdateUpload,
)
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.node.ids import NumberedIds

__all__ = ["RoundSettings", "AggregatorCore", "AggregatorRecord", "DeviceCore", "EdgeRelay", "TrainJob", "derive_seed",
           "AGGREGATOR_STATE", "StoreBlob", "EvaluateModel", "ReexecuteClaim", "ResumeInputs"]

DEADLINE_TIMER = "fl.round_deadline"
AGGREGATOR_STATE = "fl.aggregator"


@dataclass(frozen=True)
class RoundSettings:
    rounds: int
    clients_per_round: int
    round_timeout_s: float = 60.0
    verify_uploads: bool = True  # signatures and digests of uploads (ChainFL's upload defense)


class AggregatorRecord(Record):
    """What a restarted aggregator resumes from (kept by its node through ``SaveState``): the nonce,
    the global model's digest, the open round with the digests of the updates it accepted, and
    the round's open and close transactions (resubmitted when the chain does not hold them)."""

    nonce: int
    completed: int
    done: bool
    global_digest: bytes
    round: int = 0
    participants: list[str] = []
    accepted: list[tuple[str, bytes, int, int]] = []  # device, update digest, samples, claimed loss (micro) or -1
    rejected: int = 0
    closing: bool = False
    open_tx: Transaction | None = None
    close_tx: Transaction | None = None


@dataclass
class _Round:
    number: int
    participants: list[str]
    opened_at: float = 0.0
    updates: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)
    digests: dict[str, bytes] = field(default_factory=dict)  # the accepted updates' blobs (for a restart)
    claims: dict[str, float] = field(default_factory=dict)  # proof-of-learning: claimed validation losses
    rejected: int = 0
    closing: bool = False
    closed_at: float = 0.0
    walk: ClaimWalk | None = None  # proof-of-learning: the claims being re-executed by the driver


class AggregatorCore:
    """The aggregator role (the cloud in ChainFL): opens, collects, aggregates, closes rounds."""

    def __init__(
        self,
        node_id: str,
        key: PrivateKey,
        membership: Membership,
        settings: RoundSettings,
        aggregator: Aggregator,
        initial_params: np.ndarray,
        devices: Sequence[str],
        edges: list[str],
        rng: np.random.Generator,
        cipher: Cipher | None = None,
    ) -> None:
        self.node_id, self.key, self.membership = node_id, key, membership
        self.settings, self.aggregator = settings, aggregator
        self.devices = devices if isinstance(devices, NumberedIds) else list(devices)  # lazy ids stay lazy
        self.edges, self.rng = list(edges), rng
        self.nonce = 0
        self.cipher = cipher  # end-to-end encryption of update blobs (devices seal them to our key)
        self._set_global(initial_params)  # the model of round 1 (the cloud learner's initial parameters)
        self.current: _Round | None = None
        self.announcement: ModelAnnouncement | None = None  # the current round's, for direct fetches
        self.fetched: set[str] = set()  # participants that fetched the current round's model directly
        self.completed = 0
        self.done = False
        self.history: list[dict[str, float]] = []
        self._open_tx: Transaction | None = None
        self._close_tx: Transaction | None = None

    def _set_global(self, params: np.ndarray, blob: bytes | None = None) -> None:
        self.global_params = params
        self.global_blob = params_to_bytes(params) if blob is None else blob  # announced with every round
        self.global_digest = sha256(self.global_blob)

    def _submit(self, kind: str, payload: object) -> SubmitTransaction:
        self.nonce += 1
        return SubmitTransaction(make_transaction(self.key, self.node_id, self.nonce, kind, payload))

    def start(self, now: float) -> list[Effect]:
        return [StoreBlob(self.global_blob), *self._open(1)]

    def _open(self, number: int) -> list[Effect]:
        k = min(self.settings.clients_per_round, len(self.devices))
        # positions, then ids: the draws of rng.choice(devices, ...) without an array of every id
        chosen = sorted(self.devices[i] for i in self.rng.choice(len(self.devices), size=k, replace=False).tolist())
        self.current = _Round(number=number, participants=chosen)
        submit = self._submit(
            KIND_OPEN,
            RoundOpen(
                round=number,
                global_digest=self.global_digest,
                global_size=len(self.global_blob),
                participants=chosen,
            ),
        )
        self._open_tx, self._close_tx = submit.tx, None
        return [self._save(), submit]

    def _save(self) -> SaveState:
        """The state a restarted aggregator resumes from (written before the effects that follow it)."""
        rnd = self.current
        accepted = [(d, rnd.digests[d], rnd.updates[d][1], int(round(rnd.claims[d] * LOSS_FIXED_POINT))
                     if d in rnd.claims else -1) for d in sorted(rnd.digests)] if rnd else []
        return SaveState(AGGREGATOR_STATE, AggregatorRecord(
            nonce=self.nonce, completed=self.completed, done=self.done, global_digest=self.global_digest,
            round=rnd.number if rnd else 0, participants=list(rnd.participants) if rnd else [], accepted=accepted,
            rejected=rnd.rejected if rnd else 0, closing=rnd.closing if rnd else False,
            open_tx=self._open_tx, close_tx=self._close_tx))

    @staticmethod
    def blobs_to_resume(record: AggregatorRecord) -> list[bytes]:
        """The digests whose blobs :meth:`resume` needs (the driver reads them)."""
        return [record.global_digest] + [digest for _, digest, _, _ in record.accepted]

    def resume(self, record: AggregatorRecord, inputs: ResumeInputs, now: float) -> list[Effect]:
        """Continue after a restart from ``record``: the open round with its accepted updates (their
        blobs read back by the driver into ``inputs``, with where the round's open and close
        transactions committed); one that did not commit is submitted again (same nonce: it
        commits once)."""
        self.nonce, self.completed, self.done = record.nonce, record.completed, record.done
        blob = inputs.blobs[record.global_digest]
        self._set_global(params_from_bytes(blob), blob)
        self._open_tx, self._close_tx = record.open_tx, record.close_tx
        if record.round == 0 or self.done:
            return []
        rnd = self.current = _Round(number=record.round, participants=list(record.participants),
                                    rejected=record.rejected, closing=record.closing)
        for device, digest, samples, claim in record.accepted:
            rnd.updates[device] = (params_from_bytes(inputs.blobs[digest]), samples)
            rnd.digests[device] = digest
            if claim >= 0:
                rnd.claims[device] = claim / LOSS_FIXED_POINT
        effects: list[Effect] = [Metric("fl.round_resumed", float(len(rnd.updates)), rnd.number)]
        if record.close_tx is not None:
            if not inputs.close_committed:
                return effects + [SubmitTransaction(record.close_tx)]
            self.completed = rnd.number  # committed just before the crash: on to the next round
            self.done = rnd.number >= self.settings.rounds
            return effects + ([self._save()] if self.done else self._open(rnd.number + 1))
        if inputs.open_committed is None:  # not committed (yet): on_block announces the round when it is
            return effects + ([SubmitTransaction(record.open_tx)] if record.open_tx is not None else [])
        block, index = inputs.open_committed
        return effects + self._announce(block, index, now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        """React to our own committed round transactions."""
        effects: list[Effect] = []
        for index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
            if tx.sender != self.node_id or not receipt.ok:
                if tx.sender == self.node_id and not receipt.ok:
                    effects.append(Rejected(self.node_id, tx.kind, receipt.reason))
                continue
            if tx.kind == KIND_OPEN and self.current is not None:
                effects += self._announce(block, index, now)
            elif tx.kind == KIND_CLOSE:
                body = decode(tx.payload, RoundClose)
                self.completed = body.round
                effects.append(Metric("fl.round_committed_s", now, body.round))
                if body.round >= self.settings.rounds:
                    self.done = True
                    effects.append(self._save())
                else:
                    effects += self._open(body.round + 1)
        return effects

    def _announce(self, block: Block, index: int, now: float) -> list[Effect]:
        """The open transaction at ``index`` of ``block`` committed: send the model with its evidence."""
        assert self.current is not None
        announcement = ModelAnnouncement(
            header=block.header,
            certificate=block.certificate,
            open_tx=block.transactions[index],
            proof=merkle_proof([encode(t) for t in block.transactions], index),
            model=self.global_blob,
            seal=block.seal,
        )
        self.current.opened_at = now
        self.announcement, self.fetched = announcement, set()
        return [Broadcast(tuple(self.edges), announcement), SetTimer(DEADLINE_TIMER, self.settings.round_timeout_s)]

    def on_fetch(self, sender: str, msg: FetchModel, now: float) -> list[Effect]:
        """A participant whose edge delivered a model that failed verification asks us directly:
        send it the round's announcement, once per participant and round."""
        rnd = self.current
        if rnd is None or self.announcement is None or msg.round != rnd.number:
            return [Rejected(sender, "fl.fetch-model", f"round {msg.round} is not the open round "
                             f"({rnd.number if rnd else 'none'})")]
        if sender not in rnd.participants:
            return [Rejected(sender, "fl.fetch-model", f"{sender!r} is not a participant of round {rnd.number}")]
        if sender in self.fetched:
            return [Rejected(sender, "fl.fetch-model", f"{sender!r} already fetched round {rnd.number}'s model")]
        self.fetched.add(sender)
        return [Send(sender, self.announcement), Metric("fl.model_fetched_directly", 1.0, rnd.number)]

    def on_upload(self, sender: str, msg: UpdateUpload, now: float) -> list[Effect]:
        rnd = self.current
        if self.cipher is not None:
            try:
                msg = msgspec.structs.replace(msg, update=self.cipher.open(self.key, msg.update))
            except EdgeLedgerError as exc:
                if rnd is not None:
                    rnd.rejected += 1
                r = rnd.number if rnd else -1
                return [Rejected(msg.tx.sender, "fl.update", str(exc)), Metric("fl.update_rejected", 1.0, r)]
        reason = self._check_upload(msg, rnd)
        if reason is not None:
            if rnd is not None:
                rnd.rejected += 1
            r = rnd.number if rnd else -1
            return [Rejected(msg.tx.sender, "fl.update", reason), Metric("fl.update_rejected", 1.0, r)]
        assert rnd is not None
        body = decode(msg.tx.payload, UpdateRecord)
        try:
            params = params_from_bytes(msg.update)
        except EdgeLedgerError as exc:
            rnd.rejected += 1
            return [
                Rejected(msg.tx.sender, "fl.update", str(exc)),
                Metric("fl.update_rejected", 1.0, rnd.number),
            ]
        if params.shape != self.global_params.shape:
            rnd.rejected += 1
            return [
                Rejected(
                    msg.tx.sender,
                    "fl.update",
                    f"update has {params.size} parameters, expected {self.global_params.size}",
                ),
                Metric("fl.update_rejected", 1.0, rnd.number),
            ]
        rnd.updates[msg.tx.sender] = (params, body.n_samples)
        if body.claimed_loss_micro >= 0:
            rnd.claims[msg.tx.sender] = body.claimed_loss_micro / LOSS_FIXED_POINT
        rnd.digests[msg.tx.sender] = sha256(msg.update)
        effects: list[Effect] = [StoreBlob(msg.update), self._save(), SubmitTransaction(msg.tx),
                                 Metric("fl.update_accepted", 1.0, rnd.number)]
        if len(rnd.updates) == len(rnd.participants):
            effects += self._close(now)
        return effects

    def _check_upload(self, msg: UpdateUpload, rnd: _Round | None) -> str | None:
        if rnd is None or rnd.closing:
            return "no round is collecting updates"
        return upload_problem(msg, self.membership, rnd.number, rnd.participants, rnd.updates,
                              self.settings.verify_uploads)

    def timer(self, name: str, now: float) -> list[Effect]:
        if name == DEADLINE_TIMER and self.current is not None and not self.current.closing:
            return self._close(now)
        return []

    def _close(self, now: float) -> list[Effect]:
        """Aggregate the round's updates into the new global model, have it stored and scored; the
        close transaction follows in :meth:`on_evaluated`."""
        rnd = self.current
        assert rnd is not None
        rnd.closing, rnd.closed_at = True, now
        contributors = sorted(rnd.updates)
        if contributors and isinstance(self.aggregator, ProofOfLearning):  # its driver re-executes the claims
            try:
                rnd.walk = ClaimWalk.begin(self.aggregator, contributors, rnd.updates, rnd.claims)
            except EdgeLedgerError as exc:
                return self._aggregated(rnd, self.global_params, [Rejected(self.node_id, "aggregation", str(exc))])
            return self._next_claim(rnd)
        params, effects = combine_updates(self.node_id, self.aggregator, self.global_params, contributors,
                                          rnd.updates, rnd.claims)
        return self._aggregated(rnd, params, effects)

    def _aggregated(self, rnd: _Round, params: np.ndarray, effects: list[Effect]) -> list[Effect]:
        """The round's new global model is known: have it stored and scored."""
        if params is not self.global_params:  # a failed aggregation keeps the global model
            self._set_global(params)
        return effects + [StoreBlob(self.global_blob), EvaluateModel(rnd.number, self.global_params)]

    def _next_claim(self, rnd: _Round) -> list[Effect]:
        """Ask the driver to re-execute the next claim; when none is left, the aggregation failed."""
        assert rnd.walk is not None
        device = rnd.walk.device()
        if device is None:
            failure, rnd.walk = rnd.walk.failure(), None
            return self._aggregated(rnd, self.global_params, [Rejected(self.node_id, "aggregation", str(failure))])
        return [ReexecuteClaim(rnd.number, device, rnd.walk.params())]

    def on_reexecuted(self, round_: int, device: str, loss: float | None, now: float) -> list[Effect]:
        """The driver re-executed ``device``'s claimed loss of round ``round_``: judge it (proof of
        learning); the first claim that reproduces becomes the global model, else the next is asked for."""
        rnd = self.current
        walk = rnd.walk if rnd is not None and rnd.number == round_ else None
        if rnd is None or walk is None or walk.device() != device:
            return [Rejected(self.node_id, "fl.reexecute", f"a re-executed loss of {device!r} for round {round_}, "
                                                           "which awaits none")]
        try:
            winner = walk.judge(loss)
        except EdgeLedgerError as exc:
            rnd.walk = None
            return self._aggregated(rnd, self.global_params, [Rejected(self.node_id, "aggregation", str(exc))])
        if winner is None:
            return self._next_claim(rnd)
        rnd.walk = None
        refuted: list[Effect] = [Rejected(walk.contributors[row], "fl.claim",
                                          f"claimed loss {claimed:.6f}, re-executed {actual:.6f}")
                                 for row, claimed, actual in walk.rejected]
        return self._aggregated(rnd, winner, refuted)

    def on_evaluated(self, round_: int, scores: dict[str, float], now: float) -> list[Effect]:
        """The driver scored the global model of round ``round_``: report it and submit the close."""
        rnd = self.current
        if rnd is None or rnd.number != round_ or not rnd.closing or self._close_tx is not None:
            return [Rejected(self.node_id, "fl.evaluate", f"scores for round {round_}, which is not closing")]
        contributors = sorted(rnd.updates)
        self.history.append({"round": rnd.number, **scores})
        # the round's [0, 1] score on chain: test accuracy, or for the offloading DQN (no accuracy)
        # its gain ratio against the exact optimum (utility itself is negative and unbounded)
        accuracy = scores.get("accuracy", scores.get("gain_ratio", 0.0))
        accuracy = accuracy if np.isfinite(accuracy) else 0.0
        accuracy_bp = int(round(accuracy * 10000))
        effects: list[Effect] = [Metric(f"fl.{k}", v, rnd.number) for k, v in sorted(scores.items())]
        effects += [
            Metric("fl.updates_accepted", float(len(contributors)), rnd.number),
            Metric("fl.updates_rejected", float(rnd.rejected), rnd.number),
            Metric("fl.round_time_s", rnd.closed_at - rnd.opened_at, rnd.number),
        ]
        close = RoundClose(
            round=rnd.number,
            global_digest=self.global_digest,
            contributors=contributors,
            rejected=rnd.rejected,
            accuracy_bp=accuracy_bp,
        )
        submit = self._submit(KIND_CLOSE, close)
        self._close_tx = submit.tx
        return effects + [self._save(), submit]
