"""The device's side of the FL round (sans-IO): verify the announced model, train, sign, upload.

A device accepts a round's announcement only if it verifies against the chain (header,
commit certificate or seal, Merkle proof of the ``fl.round_open``, the model's digest;
:func:`~edgeledger.fl.round.verify.verify_announcement`), trains through a ``Compute`` effect,
and uploads its update through its edge with ``fl.update(round, digest)`` signed by its key.
A malicious device rewrites its model with its attack first; a colluding one hands its honest
model to its :class:`~edgeledger.fl.round.collusion.Coalition` and uploads the round's crafted
model instead, and a benign one shows its update to the coalitions (the omniscient view).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeledger.codec import decode
from edgeledger.crypto.hashing import derive_seed, sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, Compute, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import EdgeLedgerError
from edgeledger.fl.aggregators.proof_of_learning import LOSS_FIXED_POINT
from edgeledger.fl.attacks.base import ModelAttack
from edgeledger.fl.learner import LocalResult
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.round.collusion import COLLUSION_TIMER, Coalition
from edgeledger.fl.round.events import KIND_UPDATE, FetchModel, ModelAnnouncement, RoundOpen, UpdateRecord, UpdateUpload
from edgeledger.fl.round.verify import verify_announcement
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import make_transaction
from edgeledger.ledger.validation import CERTIFICATE_FINALITY, Finality

__all__ = ["DeviceCore", "TrainJob", "MAX_PENDING_FETCHES"]


@dataclass(frozen=True)
class TrainJob:
    round: int
    global_params: np.ndarray
    seed: int
    participants: tuple[str, ...] = ()  # the round's, as its committed RoundOpen names them


MAX_PENDING_FETCHES = 4  # rounds a device asks the aggregator about before one of them opens for it


class DeviceCore:
    """An IoT device: verifies the announced global model, trains, signs and uploads."""

    def __init__(
        self,
        node_id: str,
        key: PrivateKey,
        membership: Membership,
        edge: str,
        seed: int,
        attack: ModelAttack | None = None,
        attack_from_round: int = 1,
        verify_downloads: bool = True,
        finality: Finality = CERTIFICATE_FINALITY,
        seal: Callable[[bytes], bytes] | None = None,
        fallback: str | None = None,
        coalitions: tuple[Coalition, ...] = (),
        upload_to: tuple[str, ...] = (),
        nonce_of: Callable[[int], int] | None = None,
    ) -> None:
        self.node_id, self.key, self.membership, self.edge = node_id, key, membership, edge
        # a trainer that is not a device (an edge server, fl.trainers = "edge") uploads straight to
        # its aggregators (the cloud, or every validator), and may need its own nonce plan
        self.upload_to, self.nonce_of = upload_to, nonce_of
        # colluding adversaries: the one we belong to crafts our update; the others see ours (omniscient)
        self.coalition = next((c for c in coalitions if node_id in c.members), None)
        self.observed_by = tuple(c for c in coalitions if node_id not in c.members)
        self.held: dict[int, tuple[TrainJob, LocalResult, float]] = {}  # colluding: trained, awaiting the craft
        self.fallback = fallback  # the aggregator: asked directly when the edge's copy fails verification
        self.fetching: set[int] = set()  # rounds already asked for
        self.seal = seal  # end-to-end: seal the update blob to the aggregator's key
        self.seed, self.attack, self.attack_from_round = seed, attack, attack_from_round
        self.verify_downloads, self.finality = verify_downloads, finality
        self.last_round = 0
        self.rng = np.random.default_rng(derive_seed(seed, node_id, "attack"))

    def on_announcement(self, sender: str, msg: ModelAnnouncement, now: float) -> list[Effect]:
        try:
            body = verify_announcement(msg, self.membership, check_digest=self.verify_downloads,
                                       finality=self.finality)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "fl.announce", str(exc)), Metric("fl.download_rejected", 1.0),
                    *self._fetch_directly(sender, msg)]
        if body.round <= self.last_round or self.node_id not in body.participants:
            return []
        try:
            params = params_from_bytes(msg.model)
        except EdgeLedgerError as exc:
            return [
                Rejected(sender, "fl.announce", str(exc)),
                Metric("fl.download_rejected", 1.0, body.round),
                *self._fetch_directly(sender, msg),
            ]
        self.last_round = body.round
        return [
            Compute(
                "fl.train", TrainJob(body.round, params, derive_seed(self.seed, self.node_id, body.round),
                                     tuple(body.participants))
            )
        ]

    def _fetch_directly(self, sender: str, msg: ModelAnnouncement) -> list[Effect]:
        """With a fallback, ask the aggregator itself for a round whose copy from the edge was
        refused: once per round, and never about a copy the aggregator itself sent."""
        if self.fallback is None or sender == self.fallback:
            return []
        try:  # unverified: only picks the round to ask for (the answer is verified in full)
            number = decode(msg.open_tx.payload, RoundOpen).round
        except EdgeLedgerError:
            return []
        self.fetching = {n for n in self.fetching if n > self.last_round}
        if number <= self.last_round or number in self.fetching or len(self.fetching) >= MAX_PENDING_FETCHES:
            return []  # bounded: a lying edge cannot make us ask about every round number
        self.fetching.add(number)
        return [Send(self.fallback, FetchModel(round=number))]

    def on_trained(self, job: TrainJob, result: LocalResult, now: float) -> list[Effect]:
        params = result.params
        if self.coalition is not None and self.coalition.active(job.round):
            self.coalition.enlist(job.round, self.node_id, params, job.global_params, job.participants, now)
            self.held[job.round] = (job, result, now)
            return self.on_timer(f"{COLLUSION_TIMER}{job.round}", now)
        if self.attack is not None and job.round >= self.attack_from_round:
            params = self.attack.poison(params, job.global_params, self.rng).astype(np.float32)
        for coalition in self.observed_by:
            coalition.observe(job.round, self.node_id, params)
        return self._upload(job, result, params)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """A colluding device asks its coalition for the round's crafted model; it uploads that."""
        if not name.startswith(COLLUSION_TIMER) or self.coalition is None:
            return []
        number = int(name.removeprefix(COLLUSION_TIMER))
        held = self.held.get(number)
        if held is None:
            return []
        crafted = self.coalition.crafted(number, now)
        if crafted is None:
            return [SetTimer(name, self.coalition.poll_s)]
        del self.held[number]
        job, result, _ = held
        return self._upload(job, result, crafted) + [Metric("fl.colluded_update", 1.0, number)]

    def _upload(self, job: TrainJob, result: LocalResult, params: np.ndarray) -> list[Effect]:
        """Sign ``(round, digest)`` of ``params`` and send them through our edge."""
        blob = params_to_bytes(params)
        claimed = getattr(result, "claimed_loss", None)
        record = UpdateRecord(
            round=job.round, update_digest=sha256(blob), update_size=len(blob), n_samples=result.weight,
            claimed_loss_micro=-1 if claimed is None else int(round(claimed * LOSS_FIXED_POINT)),
        )
        nonce = self.nonce_of(job.round) if self.nonce_of is not None else job.round
        tx = make_transaction(self.key, self.node_id, nonce, KIND_UPDATE, record)
        wire = self.seal(blob) if self.seal is not None else blob
        upload = UpdateUpload(tx=tx, update=wire)
        return [
            Broadcast(self.upload_to, upload) if self.upload_to else Send(self.edge, upload),
            Metric("fl.train_loss", result.loss, job.round),
        ]
