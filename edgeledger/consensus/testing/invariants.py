"""Invariants of PBFT, checked by the test world after every event.

Safety is checked at its *cause* as well as at its symptom:
- **agreement**: no two honest replicas commit different blocks at one height (the symptom);
- **validity**: every committed block extends its chain with a valid certificate, every
  transaction in it was submitted by a client, is correctly signed, and commits once;
- **no double vote**: no honest replica signs two digests at one (view, height), in any
  phase, across restarts (the cause of every PBFT fork: two certificates need one);
- **no vote against a locked block**: once f+1 honest replicas sent COMMIT for digest d at
  (view v, height h), 2f+1 replicas prepared d there, every later NEW-VIEW must re-propose d at h
  (Castro & Liskov's safety lemma), so no honest replica may vote another digest at h in a view
  above v: this fails at the first wrong vote, long before a fork can complete;
- **votes only for the primary's proposal**: an honest replica PREPAREs a block only when the
  PRE-PREPARE it accepted was signed by the primary of that (view, height) (or, for a NEW-VIEW
  re-proposal, by the view's leader);
- **votes in the replica's view**: an honest replica signs PRE-PREPARE/PREPARE/COMMIT only for
  the view it is in, only in normal status, never for a view below one it sent VIEW-CHANGE
  for, and only inside its watermarks;
- **durable before sent**: every vote, prepared certificate and view an honest replica
  announces is in its durable log when the message leaves (so a crash cannot make it forget);
- **sound certificates**: every stable checkpoint and prepared certificate an honest replica
  holds (and will put in a VIEW-CHANGE) has its 2f+1 valid signatures;
- **bounded log**: an honest replica keeps log entries only inside its watermarks and a
  bounded buffer of future messages (a Byzantine flood cannot grow it);
- **no crash**: honest code never raises on any input;
- **liveness** (liveness mode only): after stabilisation every submitted transaction commits on
  every honest replica within the bound.
"""

from __future__ import annotations

from typing import Any

from edgeledger.consensus.pbft.durable import (PreparedRecord, ViewState, VoteRecord, decode_durable, prepared_key,
                                               view_key, vote_key)
from edgeledger.consensus.pbft.events import Commit, NewView, Prepare, PrePrepare, ViewChange
from edgeledger.consensus.pbft.recovery import MAX_FUTURE_MESSAGES
from edgeledger.consensus.pbft.state import Status
from edgeledger.consensus.pbft.viewchange import valid_checkpoint_proof, valid_prepared_certificate
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.transaction import verify_transaction
from edgeledger.ledger.validation import validate_block

World = Any  # the :class:`~edgeledger.consensus.testing.world.World` that runs these (it imports this module)

__all__ = ["Invariants", "signed_votes"]


def signed_votes(message: Any, signer: str) -> list[tuple[str, int, int, bytes]]:
    """(phase, view, height, digest) of every vote ``signer`` signed in ``message``."""
    if isinstance(message, PrePrepare) and message.replica == signer:
        return [("pre-prepare", message.view, message.height, message.block.hash)]
    if isinstance(message, (Prepare, Commit)) and message.replica == signer:
        phase = "prepare" if isinstance(message, Prepare) else "commit"
        return [(phase, message.view, message.height, message.digest)]
    if isinstance(message, NewView) and message.replica == signer:
        return [("re-proposal", p.view, p.height, p.block.hash) for p in message.pre_prepares if p.replica == signer]
    return []


def _short(digest: bytes) -> str:
    return digest.hex()[:10]


class Invariants:
    """Collects violations for one run of a :class:`World`."""

    def __init__(self, world: World, durable_votes: bool = True) -> None:
        self.world = world
        self.durable_votes = durable_votes
        self.violations: list[str] = []
        self.votes: dict[str, dict[tuple[int, int], tuple[bytes, str]]] = {}  # node -> (view, height) -> vote
        self.left_view: dict[str, int] = {}  # node -> highest view it sent VIEW-CHANGE for
        self.decided: dict[int, tuple[bytes, str]] = {}  # height -> (hash, first honest committer)
        self.double_votes = 0
        self.commits: dict[int, dict[tuple[int, bytes], set[str]]] = {}  # height -> (view, digest) -> honest nodes
        self.locked: dict[int, tuple[int, bytes]] = {}  # height -> (lowest view, digest) f+1 honest committed
        self.checked: set[Any] = set()  # certificates already found sound (by a signature in them)
        self.signed: dict[str, set[bytes]] = {}  # node -> signatures of messages it already sent (resends)

    def fail(self, text: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"t={self.world.now:.3f} {text}")

    # -- votes leaving an honest replica ---------------------------------------------------------
    def on_send(self, instance: str, message: Any) -> None:
        world = self.world
        node = world.node_of[instance]
        replica = world.replicas[instance]
        signature = getattr(message, "signature", b"")
        sent = self.signed.setdefault(node, set())
        if signature in sent:  # a re-sent message (a stale replica's NEW-VIEW, a retransmission): no new vote
            return
        sent.add(signature)
        if isinstance(message, ViewChange) and message.replica == node:
            self.left_view[node] = max(self.left_view.get(node, -1), message.new_view - 1)
            self._require_view(instance, message.new_view, "VIEW-CHANGE")
        if isinstance(message, NewView) and message.replica == node:
            self._require_view(instance, message.view, "NEW-VIEW")
        for phase, view, height, digest in signed_votes(message, node):
            past = self.votes.setdefault(node, {}).setdefault((view, height), (digest, phase))
            if past[0] != digest:
                self.double_votes += 1
                self.fail(f"double vote: honest {instance} signed {phase} {_short(digest)} at view {view} height "
                          f"{height} after {past[1]} {_short(past[0])}")
            lock = self.locked.get(height)
            if lock is not None and view > lock[0] and digest != lock[1]:
                self.fail(f"vote against a locked block: honest {instance} signed {phase} {_short(digest)} at view "
                          f"{view} height {height}; f+1 honest replicas committed {_short(lock[1])} there in view "
                          f"{lock[0]}")
            if phase == "commit":
                voters = self.commits.setdefault(height, {}).setdefault((view, digest), set())
                voters.add(node)
                if len(voters) >= world.membership.f_at(height) + 1 and (
                        height not in self.locked or view < self.locked[height][0]):
                    self.locked[height] = (view, digest)
            if view <= self.left_view.get(node, -1):
                self.fail(f"vote in a left view: honest {instance} signed {phase} at view {view} height {height} "
                          f"after its VIEW-CHANGE for view {self.left_view[node] + 1}")
            if phase == "prepare":
                slot = replica.slots.get(height)
                pre = slot.pre_prepare if slot is not None and slot.view == view else None
                allowed = {replica.primary_of(view, height)} | (
                    {replica.view_leader(view)} if slot is not None and slot.reproposal else set())
                if pre is not None and pre.replica not in allowed:
                    self.fail(f"vote for a non-primary's proposal: honest {instance} prepared {_short(digest)} at view "
                              f"{view} height {height}, pre-prepared by {pre.replica}, primary {sorted(allowed)}")
            if phase != "re-proposal" and (view != replica.view or replica.status is not Status.NORMAL):
                self.fail(f"vote outside its view: honest {instance} in view {replica.view} "
                          f"({replica.status.value}) signed {phase} for view {view} height {height}")
            high = replica.checkpoints.low_water + replica.config.window
            if height > high:
                self.fail(f"vote above the high watermark: honest {instance} signed {phase} at height {height} > "
                          f"{high}")
            if self.durable_votes:
                self._require_durable_vote(instance, phase, view, height, digest)

    def _durable(self, instance: str, key: str) -> Any:
        entry = self.world.durable[instance].get(key)
        return decode_durable(entry[1]) if entry is not None else None

    def _require_view(self, instance: str, view: int, what: str) -> None:
        if not self.durable_votes:
            return
        state = self._durable(instance, view_key())
        if not isinstance(state, ViewState) or state.view < view:
            self.fail(f"not durable: honest {instance} sent {what} for view {view} with durable view "
                      f"{getattr(state, 'view', None)}")

    def _require_durable_vote(self, instance: str, phase: str, view: int, height: int, digest: bytes) -> None:
        vote = self._durable(instance, vote_key(view, height))
        if not isinstance(vote, VoteRecord) or vote.digest != digest:
            self.fail(f"not durable: honest {instance} sent {phase} at view {view} height {height} before "
                      f"persisting it")
        if phase == "commit":
            cert = self._durable(instance, prepared_key(height))
            pre = cert.certificate.pre_prepare if isinstance(cert, PreparedRecord) else None
            if pre is None or pre.view < view or (pre.view == view and pre.block.hash != digest):
                self.fail(f"not durable: honest {instance} sent commit at view {view} height {height} before "
                          f"persisting its prepared certificate")

    # -- after each event ------------------------------------------------------------------------
    def after_step(self, instance: str | None) -> None:
        if instance is None or instance not in self.world.honest_instances:
            return
        replica = self.world.replicas.get(instance)
        if replica is None:
            return
        high = replica.checkpoints.low_water + replica.config.window
        beyond = [h for h in replica.slots if h > high]
        if beyond:
            self.fail(f"unbounded log: honest {instance} keeps slots {sorted(beyond)[:3]} above its high watermark "
                      f"{high}")
        if len(replica._future) > MAX_FUTURE_MESSAGES:
            self.fail(f"unbounded log: honest {instance} buffers {len(replica._future)} future messages")
        self._check_certificates(instance, replica)

    def _check_certificates(self, instance: str, replica: Any) -> None:
        membership = self.world.membership
        cps = replica.checkpoints
        if cps.stable_height and cps.stable_proof:
            key = b"cp" + cps.stable_proof[0].signature + cps.stable_height.to_bytes(8, "big")
            if key not in self.checked:
                if not valid_checkpoint_proof(membership, cps.stable_height, cps.stable_digest, cps.stable_proof,
                                              self.world.genesis):
                    self.fail(f"unsound certificate: honest {instance} holds stable checkpoint {cps.stable_height} "
                              f"with {len(cps.stable_proof)} signatures, needs a quorum of valid ones")
                self.checked.add(key)
        for height, cert in replica.prepared.items():
            key = (cert.pre_prepare.signature, tuple(p.signature for p in cert.prepares))
            if key not in self.checked:
                if not valid_prepared_certificate(membership, cert, replica.proposer_ok):
                    self.fail(f"unsound certificate: honest {instance} holds a prepared certificate for height "
                              f"{height} view {cert.pre_prepare.view} without a PRE-PREPARE and a quorum of valid PREPAREs")
                self.checked.add(key)

    # -- commits -----------------------------------------------------------------------------------
    def on_commit(self, instance: str, block: Block, chain: list[Block]) -> None:
        """``block`` is committed by honest ``instance`` whose chain (before it) is ``chain``."""
        world = self.world
        prev = chain[-1].hash if chain else world.genesis
        try:
            validate_block(block, prev, len(chain) + 1, world.membership)
        except EdgeLedgerError as exc:
            self.fail(f"validity: {instance} committed an invalid block: {exc}")
            return
        ids = {tx.tx_id for b in chain for tx in b.transactions}
        for tx in block.transactions:
            if tx.tx_id not in world.submitted:
                self.fail(f"validity: {instance} committed tx {_short(tx.tx_id)} nobody submitted")
            if tx.tx_id in ids:
                self.fail(f"validity: {instance} committed tx {_short(tx.tx_id)} twice")
            try:
                verify_transaction(tx, world.membership)
            except EdgeLedgerError as exc:
                self.fail(f"validity: {instance} committed a badly signed tx: {exc}")
        decided = self.decided.setdefault(block.height, (block.hash, instance))
        if decided[0] != block.hash:
            self.fail(f"agreement: {instance} committed {_short(block.hash)} at height {block.height}, "
                      f"{decided[1]} committed {_short(decided[0])}")

    def crashed(self, instance: str, exc: BaseException) -> None:
        self.fail(f"crash: {instance} raised {type(exc).__name__}: {exc}")
