"""Consensus-winner aggregation (FBFL): the validator that wins the block aggregates the round.

In FBFL the MEC servers train, exchange their updates, and mine; the miner of the block
aggregates the updates it holds and its block carries the new global model. Here every
validator runs a :class:`WinnerCore` (``fl.aggregation = "consensus_winner"``):

1. trainers upload every update to every validator; each checks it (the same checks as the
   cloud's, :func:`~edgeledger.fl.round.combine.upload_problem`) and submits its ``fl.update``
   transaction (consensus keeps one copy);
2. a validator is *ready* to close round r once it holds the update of every participant and
   each is on its branch of the chain, or once the round's deadline passed;
3. whenever its consensus builds a block (PoW: a block found; PBFT: the primary's proposal),
   a ready validator's ``prepare_proposal`` adds ``fl.winner_close(r)`` -- the aggregate of
   the updates on that branch -- and ``fl.winner_open(r + 1)`` with the new model's digest,
   both signed by itself; the chain accepts them only from the block's proposer, so exactly
   the winner's aggregate counts;
4. once that block is final, the winner sends the model with its proof of inclusion to the
   trainers (through the edges) and to the other validators.

Participants of round r + 1 are drawn from ``derive_seed(seed, "selection", r + 1)``, so every
validator proposes the same ones. Nonces: ``3r + 1`` (close of r), ``3r + 2`` (open of r + 1);
an edge that also trains signs its round-r update with ``3r``. Sans-IO: inputs with ``now``,
effects out; aggregation and evaluation run when a proposal is built (cached per round and
contributor set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import derive_seed
from edgeledger.crypto.keys import PrivateKey
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.effects import Broadcast, Effect, Metric, ProposalReady, Rejected, SetTimer, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.fl.aggregators.base import Aggregator
from edgeledger.fl.aggregators.proof_of_learning import LOSS_FIXED_POINT
from edgeledger.fl.learner import Learner
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.round.combine import chain_score, combine_updates, upload_problem
from edgeledger.fl.round.core import RoundSettings
from edgeledger.fl.round.events import (
    KIND_UPDATE,
    KIND_WINNER_CLOSE,
    KIND_WINNER_OPEN,
    ModelAnnouncement,
    RoundClose,
    RoundOpen,
    UpdateRecord,
    UpdateUpload,
)
from edgeledger.ledger.blobs import BlobStore, MemoryBlobStore
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import Transaction, make_transaction

__all__ = ["WinnerCore", "RoundLog", "WINNER_DEADLINE_TIMER", "update_nonce"]

WINNER_DEADLINE_TIMER = "fl.winner_deadline:"


def update_nonce(round_: int) -> int:
    """The nonce an edge that trains *and* aggregates signs its round's update with (``3r``)."""
    return 3 * round_


@dataclass
class RoundLog:
    """The rounds every winner closed, in order: what the simulator's summary reads (one log
    per simulation; a node process keeps its own rounds)."""

    rounds: int
    history: list[dict[str, float]] = field(default_factory=list)
    winners: list[str] = field(default_factory=list)
    completed: int = 0

    @property
    def done(self) -> bool:
        return self.completed >= self.rounds


@dataclass
class _Proposal:
    params: np.ndarray
    digest: bytes
    scores: dict[str, float]
    accuracy_bp: int
    effects: list[Effect]


class WinnerCore:
    """One validator's part in consensus-winner aggregation (see the module docstring)."""

    MAX_EARLY = 4096  # uploads kept for a round whose open this validator has not committed yet

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, settings: RoundSettings,
                 aggregator: Aggregator, learner: Learner, trainers: Sequence[str], announce_to: Sequence[str],
                 seed: int, log: RoundLog, blobs: BlobStore | None = None) -> None:
        self.node_id, self.key, self.membership, self.settings = node_id, key, membership, settings
        self.aggregator, self.learner, self.seed, self.log = aggregator, learner, seed, log
        self.trainers = sorted(trainers)
        self.announce_to = tuple(announce_to)  # ourselves included when we relay or train as well
        self.blobs = blobs if blobs is not None else MemoryBlobStore()
        initial = learner.initial_params()
        self.initial_digest = self.blobs.put(params_to_bytes(initial))
        self.models: dict[bytes, np.ndarray] = {self.initial_digest: initial}  # global models we hold
        self.round = 0  # the newest round opened in our committed state
        self.open: RoundOpen | None = None  # that round, while it is open
        self.opened_at = 0.0
        self.committed: dict[int, set[str]] = {}  # round -> trainers whose update is in our committed state
        self.uploads: dict[int, dict[str, tuple[np.ndarray, int, float | None]]] = {}
        self.rejected: dict[int, int] = {}
        self.expired: set[int] = set()  # rounds whose deadline passed here
        self.cache: dict[tuple[int, tuple[str, ...]], _Proposal] = {}
        self.submitted: set[bytes] = set()

    # -- uploads and models ----------------------------------------------------------------------
    def on_upload(self, sender: str, msg: UpdateUpload, now: float) -> list[Effect]:
        """A trainer's update: check it against its round, keep it, put its transaction on chain."""
        try:
            number = decode(msg.tx.payload, UpdateRecord).round
        except EdgeLedgerError as exc:
            return [Rejected(msg.tx.sender, "fl.update", str(exc))]
        if self.open is not None and number == self.open.round:
            participants: Sequence[str] = self.open.participants
        elif number == self.round + 1 and sum(map(len, self.uploads.values())) < self.MAX_EARLY:
            participants = self.trainers  # its open is not committed here yet: checked again when it is
        else:
            return self._refuse(msg.tx.sender, number, f"update for round {number}, collecting round "
                                f"{self.open.round if self.open else 'none'}")
        reason = upload_problem(msg, self.membership, number, participants, self.uploads.get(number, {}),
                                self.settings.verify_uploads)
        params = None
        if reason is None:
            try:
                params = params_from_bytes(msg.update)
            except EdgeLedgerError as exc:
                reason = str(exc)
        if reason is None and params is not None and params.shape != self.initial_shape:
            reason = f"update has {params.size} parameters, expected {self.initial_shape[0]}"
        if reason is not None or params is None:
            return self._refuse(msg.tx.sender, number, reason or "unreadable update")
        body = decode(msg.tx.payload, UpdateRecord)
        claim = body.claimed_loss_micro / LOSS_FIXED_POINT if body.claimed_loss_micro >= 0 else None
        self.uploads.setdefault(number, {})[msg.tx.sender] = (params, body.n_samples, claim)
        effects: list[Effect] = [Metric("fl.update_accepted", 1.0, number)]
        if msg.tx.tx_id not in self.submitted:
            self.submitted.add(msg.tx.tx_id)
            effects.insert(0, SubmitTransaction(msg.tx))
        return effects + self.proposal_signal()

    @property
    def initial_shape(self) -> tuple[int, ...]:
        return self.models[self.initial_digest].shape

    def _refuse(self, sender: str, number: int, reason: str) -> list[Effect]:
        self.rejected[number] = self.rejected.get(number, 0) + 1
        return [Rejected(sender, "fl.update", reason), Metric("fl.update_rejected", 1.0, number)]

    def learn_model(self, msg: ModelAnnouncement) -> None:
        """Keep a winner's global model (indexed by its own digest: nothing to trust)."""
        try:
            params = params_from_bytes(msg.model)
        except EdgeLedgerError:
            return
        if params.shape == self.initial_shape:
            self.models[self.blobs.put(msg.model)] = params

    # -- the chain -------------------------------------------------------------------------------
    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
            if not receipt.ok:
                continue
            if tx.kind == KIND_UPDATE:
                self.committed.setdefault(decode(tx.payload, UpdateRecord).round, set()).add(tx.sender)
            elif tx.kind == KIND_WINNER_CLOSE:
                effects += self._closed(block, tx, now)
            elif tx.kind == KIND_WINNER_OPEN:
                effects += self._opened(block, tx, index, now)
        return effects + self.proposal_signal()

    def _closed(self, block: Block, tx: Transaction, now: float) -> list[Effect]:
        body = decode(tx.payload, RoundClose)
        self.open = None
        if tx.sender != self.node_id:
            return []
        proposal = self.cache.get((body.round, tuple(body.contributors)))
        scores = proposal.scores if proposal is not None else {}
        self.log.history.append({"round": body.round, **scores})
        self.log.winners.append(self.node_id)
        self.log.completed = body.round
        effects = [Metric(f"fl.{k}", v, body.round) for k, v in sorted(scores.items())]
        effects += [Metric("fl.updates_accepted", float(len(body.contributors)), body.round),
                    Metric("fl.updates_rejected", float(body.rejected), body.round),
                    Metric("fl.round_time_s", now - self.opened_at, body.round),
                    Metric("fl.round_committed_s", now, body.round)]
        return effects + (proposal.effects if proposal is not None else [])

    def _opened(self, block: Block, tx: Transaction, index: int, now: float) -> list[Effect]:
        body = decode(tx.payload, RoundOpen)
        self.open, self.round, self.opened_at = body, body.round, now
        self.cache = {k: v for k, v in self.cache.items() if k[0] >= body.round - 1}
        for r in [r for r in self.uploads if r < body.round]:
            del self.uploads[r]
        early = self.uploads.get(body.round, {})
        for sender in [s for s in early if s not in body.participants]:
            del early[sender]
        effects: list[Effect] = [SetTimer(f"{WINNER_DEADLINE_TIMER}{body.round}", self.settings.round_timeout_s)]
        if tx.sender == self.node_id and body.global_digest in self.models:
            announcement = ModelAnnouncement(
                header=block.header, certificate=block.certificate, open_tx=tx,
                proof=merkle_proof([encode(t) for t in block.transactions], index),
                model=self.blobs.get(body.global_digest), seal=block.seal)
            effects.append(Broadcast(self.announce_to, announcement))
        return effects

    def timer(self, name: str, now: float) -> list[Effect]:
        if name.startswith(WINNER_DEADLINE_TIMER):
            self.expired.add(int(name.removeprefix(WINNER_DEADLINE_TIMER)))
            return self.proposal_signal()
        return []

    def proposal_signal(self) -> list[Effect]:
        """Tell consensus we have a proposal (PBFT proposes even with an empty mempool)."""
        if self.log.done and self.open is None:
            return []
        if (self.open is None and self.round == 0) or (self.open is not None and self._ready(
                self.open, self.committed.get(self.open.round, set()))):
            return [ProposalReady()]
        return []

    def _ready(self, rnd: RoundOpen, on_branch: set[str]) -> bool:
        held = self.uploads.get(rnd.round, {})
        have = {p for p in rnd.participants if p in held and p in on_branch}
        return len(have) == len(rnd.participants) or rnd.round in self.expired

    # -- proposals (ABCI++ PrepareProposal) -------------------------------------------------------
    def prepare_proposal(self, height: int, chosen: list[Transaction], pending: list[Transaction],
                         now: float) -> list[Transaction]:
        """Our round transactions for a block we propose at ``height``: open round 1, or close the
        open round (the aggregate of the updates on this branch) and open the next."""
        if any(tx.kind in (KIND_WINNER_OPEN, KIND_WINNER_CLOSE) for tx in pending):
            return []  # the branch already moved past our committed state: wait for it to be final
        if self.open is None:
            if self.round == 0 and self.settings.rounds >= 1:
                return [self._sign(2, KIND_WINNER_OPEN, self._open_body(1, self.initial_digest))]
            return []
        rnd = self.open
        on_branch = set(self.committed.get(rnd.round, set()))
        for tx in (*pending, *chosen):
            if tx.kind == KIND_UPDATE and tx.sender in rnd.participants:
                try:
                    if decode(tx.payload, UpdateRecord).round == rnd.round:
                        on_branch.add(tx.sender)
                except EdgeLedgerError:
                    continue
        if not self._ready(rnd, on_branch) or rnd.global_digest not in self.models:
            return []
        held = self.uploads.get(rnd.round, {})
        contributors = sorted(p for p in rnd.participants if p in held and p in on_branch)
        proposal = self._aggregate(rnd, contributors)
        close = RoundClose(round=rnd.round, global_digest=proposal.digest, contributors=contributors,
                           rejected=self.rejected.get(rnd.round, 0), accuracy_bp=proposal.accuracy_bp)
        txs = [self._sign(3 * rnd.round + 1, KIND_WINNER_CLOSE, close)]
        if rnd.round < self.settings.rounds:
            txs.append(self._sign(3 * rnd.round + 2, KIND_WINNER_OPEN, self._open_body(rnd.round + 1, proposal.digest)))
        return txs

    def _aggregate(self, rnd: RoundOpen, contributors: list[str]) -> _Proposal:
        key = (rnd.round, tuple(contributors))
        if key not in self.cache:
            held = self.uploads.get(rnd.round, {})
            updates = {c: (held[c][0], held[c][1]) for c in contributors}
            claims = {c: held[c][2] for c in contributors if held[c][2] is not None}
            params, effects = combine_updates(self.node_id, self.aggregator, self.models[rnd.global_digest],
                                              contributors, updates, claims)  # type: ignore[arg-type]
            digest = self.blobs.put(params_to_bytes(params))
            self.models[digest] = params
            scores, accuracy_bp = chain_score(self.learner, params)
            self.cache[key] = _Proposal(params, digest, scores, accuracy_bp, effects)
        return self.cache[key]

    def _open_body(self, number: int, digest: bytes) -> RoundOpen:
        k = min(self.settings.clients_per_round, len(self.trainers))
        rng = np.random.default_rng(derive_seed(self.seed, "selection", number))
        chosen = sorted(self.trainers[i] for i in rng.choice(len(self.trainers), size=k, replace=False).tolist())
        return RoundOpen(round=number, global_digest=digest, global_size=len(self.blobs.get(digest)),
                         participants=chosen)

    def _sign(self, nonce: int, kind: str, payload: Any) -> Transaction:
        return make_transaction(self.key, self.node_id, nonce, kind, payload)

