"""PBFT replica core (Castro & Liskov, OSDI 1999 section 4; TOCS 2002 section 4), sans-IO.

Normal case (section 4.2):
- the primary for height h in view v is ``validators[v mod n]`` (stable leader) or
  ``validators[(v + h) mod n]`` with ``rotate_leader`` (FISCO-BCOS: "the sealer is selected in
  turn"); it batches pending requests into a block and multicasts a signed PRE-PREPARE;
- a backup accepts a PRE-PREPARE for its view and the next height when it is signed by that
  primary, extends the last committed block, its transactions are signed and not yet
  committed, and no other digest was accepted for that (view, height); it multicasts PREPARE;
- prepared = PRE-PREPARE + 2f matching PREPAREs from other replicas -> multicast COMMIT;
  2f+1 matching COMMITs commit the block (they are its certificate); heights execute in order.
Validator changes (a schedule in :class:`Membership`, fed by the node from committed state):
every rule above uses the set in force at the height concerned — primary, vote acceptance,
2f+1 with f from that height's n, certificates, checkpoints. A change committed in block h
takes effect at height h + 1 + window or later (``Membership.change_delay`` > ``window``):
a replica only accepts messages for heights up to its low watermark + window, so whatever
it accepted before executing block h concerns heights whose set it already knew. A replica
outside the set at a height (a *standby* sealer before its activation, or a revoked one)
follows the chain through state transfer and committed-block pushes but sends no vote.
Recovery: checkpoints every K blocks (section 4.3, :mod:`.checkpoints`), view change with
exponential timeouts (section 4.4, :mod:`.viewchange`), and state transfer of certified
blocks (section 4.3 / TOCS 6.2, :mod:`.transfer`). Client requests are relayed to every
validator, so every replica's request timer watches them (section 4.4 "liveness").
Votes (:meth:`PbftReplica._cast`, the one place PRE-PREPARE/PREPARE/COMMIT are signed): only in
the replica's own view, in normal status, inside its watermarks, for one digest per
(view, height) — also across a restart, because votes, prepared certificates and the view are
persisted (:mod:`.durable`) before the message that announces them leaves. A proposal kept
from an older view (it arrived before its predecessor committed) is never voted on in a
newer one: the NEW-VIEW decides what is re-proposed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec

from edgeledger.codec import encode
from edgeledger.consensus.base import CommitBlock, CommittedLedger, Consensus, Forget, Persist, consensus_protocols
from edgeledger.consensus.pbft.checkpoints import CheckpointLog
from edgeledger.consensus.pbft.committed import CommittedChain
from edgeledger.consensus.pbft.durable import (STABLE_KEY, PreparedRecord, StableCheckpoint, VoteLog, prepared_key,
                                               read_log)
from edgeledger.consensus.pbft.events import (PBFT_MESSAGES, BlockBatch, Checkpoint, Commit, FetchBlocks,
                                              ForwardRequest, NewView, Prepare, PreparedCertificate, PrePrepare,
                                              SignedMessage, ViewChange, Vote)
from edgeledger.consensus.pbft.recovery import RecoveryMixin
from edgeledger.consensus.pbft.state import Phase, Slot, Status
from edgeledger.consensus.pbft.validators import ValidatorSetMixin
from edgeledger.consensus.pbft.config import PbftConfig
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, CancelTimer, Effect, Metric, Rejected, SetTimer
from edgeledger.errors import ChainValidationError, ConfigError, SignatureError
from edgeledger.ledger.block import Block, BlockHeader, CommitCertificate, CommitVote, transactions_root
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, verify_transaction
from edgeledger.ledger.validation import validate_body

__all__ = ["PbftConfig", "PbftReplica", "BATCH_TIMER", "VIEW_CHANGE_TIMER", "FETCH_TIMER"]

BATCH_TIMER = "pbft.batch"
VIEW_CHANGE_TIMER = "pbft.view_change"
FETCH_TIMER = "pbft.fetch"


class PbftReplica(ValidatorSetMixin, RecoveryMixin, Consensus):
    """One PBFT validator. ``check_tx`` is the application's admission rule (ABCI CheckTx)."""

    message_types = PBFT_MESSAGES
    timer_prefix = "pbft."

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, genesis_hash: bytes,
                 config: PbftConfig | None = None,
                 check_tx: Callable[[Transaction], str | None] | None = None, standby: bool = False,
                 ledger: CommittedLedger | None = None) -> None:
        if membership.n < 4:
            raise ConfigError(f"PBFT needs n >= 3f + 1 with f >= 1, i.e. at least 4 validators; got n={membership.n}")
        if not standby and not membership.ever_validator(node_id):
            raise ConfigError(f"node {node_id!r} is not in the validator set {membership.validators} "
                              f"(pass standby=True for a sealer that a later validator change may add)")
        if standby and node_id not in membership.identities:
            raise ConfigError(f"standby replica {node_id!r} has no registered identity")
        window = (config or PbftConfig()).window
        if window >= membership.change_delay:
            raise ConfigError(f"PBFT window {window} needs validator changes to activate later: membership "
                              f"change_delay must be >= window + 1 = {window + 1}, got {membership.change_delay}")
        self.node_id = node_id
        self.key = key
        self.membership = membership
        self.genesis_hash = genesis_hash
        self.config = config or PbftConfig()
        self.leaders = self.config.leaders
        self.check_tx = check_tx
        self.view = 0
        self.status = Status.NORMAL
        self.committed_height = 0
        self.last_hash = genesis_hash
        keep = self.config.keep_blocks or self.config.window + self.config.checkpoint_interval
        self.chain = CommittedChain(keep, ledger)  # committed blocks with certificates (served to laggards)
        self.mempool: OrderedDict[bytes, Transaction] = OrderedDict()
        self.slots: dict[int, Slot] = {}
        self.prepared: dict[int, PreparedCertificate] = {}  # latest prepared certificate per height (P set)
        self.checkpoints = CheckpointLog(membership, genesis_hash)
        self.votes = VoteLog()  # the digest signed per (view, height): never two
        self._batch_timer_set = False
        self._request_timer_set = False
        self._seen_changes = set(membership.schedule[1:])  # validator changes already known
        self._init_recovery()

    def use_ledger(self, ledger: CommittedLedger) -> None:
        """Older committed blocks and transaction ids come from ``ledger`` (the node's store): the
        replica keeps only ``keep_blocks`` in memory."""
        self.chain.ledger = ledger

    @property
    def resume_depth(self) -> int | None:  # type: ignore[override]
        """With a ledger, :meth:`resume` needs only the newest blocks (the ledger has the rest)."""
        return self.chain.keep if self.chain.ledger is not None else None

    def resume(self, blocks: list[Block], durable: list[bytes] | None = None) -> None:
        """Restart from durably committed blocks (validated on commit; with a ledger, only the newest
        ``resume_depth`` of them) and the durable log: the view (and whether we were changing to
        it), every vote still in the window, the prepared certificates and the stable checkpoint.
        :meth:`start` then rejoins."""
        for block in blocks:
            self.chain.add(block)
            self.committed_height, self.last_hash = block.height, block.hash
        log = read_log(durable or [])
        self.view = log.view
        self.status = Status.VIEW_CHANGE if log.changing else Status.NORMAL
        self.votes.digests.update(log.votes)
        stable = log.stable
        if stable is not None and stable.height <= self.committed_height and stable.height in self.chain \
                and self.chain[stable.height].hash == stable.digest:
            cps = self.checkpoints
            cps.stable_height, cps.stable_digest, cps.stable_proof = stable.height, stable.digest, list(stable.proof)
        self.prepared = {h: c for h, c in log.prepared.items() if h > self.checkpoints.stable_height}
        self._own_view_changes = {v: vc for v, vc in log.view_changes.items() if v <= self.view}
        self.checkpoints.low_mark = self.committed_height
        self._seen_changes.update(self.membership.schedule[1:])  # the node read them from the resumed state

    def start(self, now: float) -> list[Effect]:
        """After a restart in the middle of a view change: send the VIEW-CHANGE we sent before the
        crash again (a new one for the same view only if it was lost with the crash)."""
        if self.status is not Status.VIEW_CHANGE or not self.votes_at(self.epoch):
            return []
        own = self._own_view_changes.get(self.view)
        if own is None:
            return self._start_view_change(self.view, now)
        self.status = Status.VIEW_CHANGE
        return self._announce_view_change(own, now)

    # -- roles -------------------------------------------------------------------------------
    def primary_of(self, view: int, height: int | None = None) -> str:
        h = self.epoch if height is None else height
        return self.leaders.primary(self.membership.validators_at(h), view, h)

    def view_leader(self, view: int, height: int | None = None) -> str:
        """The leader that assembles NEW-VIEW for ``view`` (validator set of ``height``, default the epoch)."""
        h = self.epoch if height is None else height
        return self.leaders.view_leader(self.membership.validators_at(h), view)

    def proposer_ok(self, view: int, height: int, replica: str) -> bool:
        """May ``replica`` sign a PRE-PREPARE for (view, height)? (fresh primary or NEW-VIEW leader)."""
        return replica in (self.primary_of(view, height), self.view_leader(view, height), self.view_leader(view))

    @property
    def is_primary(self) -> bool:
        return self.primary_of(self.view, self.committed_height + 1) == self.node_id

    def _others(self) -> tuple[str, ...]:
        """Every validator of the heights in our window (newcomers hear of the heights they will vote on)."""
        return tuple(v for v in self._peers() if v != self.node_id)

    def _cast(self, vote: Vote, reproposal: bool = False) -> tuple[list[Effect], Vote] | None:
        """Sign a PRE-PREPARE, PREPARE or COMMIT if it keeps this replica's promises; returns the
        :class:`Persist` that must go first and the signed vote, or None when it would break one:
        a vote for a view other than ours, while changing view (but for the re-proposals of the
        NEW-VIEW we assemble, whose heights the VIEW-CHANGEs fix), above our high watermark, or
        for a second digest at one (view, height)."""
        digest = vote.block.hash if isinstance(vote, PrePrepare) else vote.digest
        if vote.view != self.view or self.votes.conflict(vote.view, vote.height, digest) is not None:
            return None
        if not reproposal and (self.status is not Status.NORMAL or not self._in_window(vote.height)):
            return None
        return self.votes.record(vote.view, vote.height, digest), self._sign(vote)

    def _sign(self, msg: SignedMessage) -> SignedMessage:
        return msgspec.structs.replace(msg, signature=self.key.sign(msg.signing_bytes(self.membership.chain_id)))

    def _signed_by_sender(self, msg: Any) -> bool:
        return self.membership.verify(msg.replica, msg.signing_bytes(self.membership.chain_id), msg.signature)

    # -- inputs ------------------------------------------------------------------------------
    def submit(self, tx: Transaction, now: float) -> list[Effect]:
        """A client request: admit it and relay it to every other validator."""
        return self._admit(tx, now, relay=True)

    def _admit(self, tx: Transaction, now: float, relay: bool) -> list[Effect]:
        tx_id = tx.tx_id
        if tx_id in self.mempool or self.chain.has_tx(tx_id):
            return []
        if len(self.mempool) >= self.config.max_pending_txs:  # bounded; checked before any signature
            return [Rejected(tx.sender, "transaction", f"{len(self.mempool)} transactions wait to be ordered "
                             "(max_pending_txs): retry later")]
        try:
            verify_transaction(tx, self.membership)
        except SignatureError as exc:
            return [Rejected(tx.sender, "transaction", str(exc))]
        reason = self.check_tx(tx) if self.check_tx else None
        if reason is not None:
            return [Rejected(tx.sender, "transaction", reason)]
        self.mempool[tx_id] = tx
        effects: list[Effect] = [Broadcast(self._others(), ForwardRequest(tx=tx))] if relay else []
        return effects + self._arm_request_timer() + self._maybe_propose(now)

    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ForwardRequest):
            return self._admit(message.tx, now, relay=not self._is_peer(sender))
        if isinstance(message, (FetchBlocks, BlockBatch)):  # certified blocks prove themselves: any member
            if getattr(message, "replica", None) != sender or self.membership.role(sender) is None:
                return [Rejected(sender, type(message).__name__, "sender is not a member named in the message")]
            if isinstance(message, FetchBlocks):
                return self._on_fetch(sender, message)
            return self._on_blocks(sender, message, now)
        # a NEW-VIEW is self-authenticating (signed by the new primary, carrying 2f+1 signed VIEW-CHANGEs),
        # so replicas may forward it to laggards; everything else must come from the replica it names
        forwarded = isinstance(message, NewView) and self._is_peer(getattr(message, "replica", ""))
        if not self._is_peer(sender) or (getattr(message, "replica", None) != sender and not forwarded):
            return [Rejected(sender, type(message).__name__, "sender is not the validator named in the message")]
        if not self._signed_by_sender(message):
            return [Rejected(sender, type(message).__name__, "bad signature")]
        if isinstance(message, (PrePrepare, Prepare, Commit)):
            if self._in_window(message.height) and not self.membership.is_validator_at(sender, message.height):
                return [Rejected(sender, type(message).__name__, f"not a validator at height {message.height}")]
            self._claim(sender, message.height - 1)
            effects = self._maybe_fetch(now)
            if message.view < self.view:
                return effects + self._answer_stale(sender, now)
            if message.view > self.view or (message.view == self.view and self.status is not Status.NORMAL):
                self._buffer_future(sender, message)
                return effects
            if self.status is not Status.NORMAL or not self._in_window(message.height):
                return effects
            if isinstance(message, PrePrepare):
                return effects + self._on_pre_prepare(sender, message, now)
            return effects + self._on_vote(message, "prepare" if isinstance(message, Prepare) else "commit", now)
        if isinstance(message, Checkpoint):
            return self._on_checkpoint(sender, message, now)
        if isinstance(message, ViewChange):
            return self._on_view_change(sender, message, now)
        if isinstance(message, NewView):
            return self._on_new_view(sender, message, now)
        return [Rejected(sender, type(message).__name__, "not a PBFT message")]

    def timer(self, name: str, now: float) -> list[Effect]:
        if name == BATCH_TIMER:
            self._batch_timer_set = False
            return self._propose(now) if self._can_propose() else []
        if name == VIEW_CHANGE_TIMER:
            self._request_timer_set = False
            return self._on_view_change_timeout(now)
        if name == FETCH_TIMER:
            return self._on_fetch_timeout(now)
        return []

    # -- request timer -----------------------------------------------------------------------
    def _arm_request_timer(self) -> list[Effect]:
        if (self._request_timer_set or not self.mempool or self.status is not Status.NORMAL
                or not self.votes_at(self.epoch)):  # only voters suspect the primary
            return []
        self._request_timer_set = True
        return [SetTimer(VIEW_CHANGE_TIMER, self._view_change_timeout())]

    def _restart_request_timer(self) -> list[Effect]:
        """A request executed: restart the timer if others wait, stop it otherwise (section 4.4)."""
        if self.status is not Status.NORMAL:
            return []
        self._request_timer_set = False
        return self._arm_request_timer() if self.mempool else [CancelTimer(VIEW_CHANGE_TIMER)]

    # -- primary -----------------------------------------------------------------------------
    def _in_window(self, height: int) -> bool:
        return self.committed_height < height <= self.checkpoints.low_water + self.config.window

    def _can_propose(self) -> bool:
        height = self.committed_height + 1
        slot = self.slots.get(height)
        return (self.status is Status.NORMAL and self.is_primary and self._in_window(height)
                and self.committed_height >= self.floor and (slot is None or slot.pre_prepare is None))

    def _maybe_propose(self, now: float) -> list[Effect]:
        if not self._can_propose() or not self.mempool:
            return []
        if len(self.mempool) >= self.config.max_block_txs:
            return self._propose(now)
        if not self._batch_timer_set:
            self._batch_timer_set = True
            return [SetTimer(BATCH_TIMER, self.config.batch_timeout_s)]
        return []

    def proposal_ready(self, now: float) -> list[Effect]:
        """The application has transactions of its own for our next proposal: propose after the
        batch timeout even if no client request is waiting (only a primary that can propose)."""
        if not self._can_propose() or self._batch_timer_set:
            return []
        self._batch_timer_set = True
        return [SetTimer(BATCH_TIMER, self.config.batch_timeout_s)]

    def _take_batch(self) -> list[Transaction]:
        batch: list[Transaction] = []
        size = 0
        for tx in self.mempool.values():
            tx_size = len(encode(tx))
            if batch and (len(batch) >= self.config.max_block_txs or size + tx_size > self.config.max_block_bytes):
                break
            batch.append(tx)
            size += tx_size
        return batch

    def _propose(self, now: float) -> list[Effect]:
        height = self.committed_height + 1
        txs = self.with_extras(self._take_batch(), self.prepare_proposal, height, [], now, self.config.max_block_txs)
        if not txs:  # nothing from clients and nothing from the application
            return []
        header = BlockHeader(chain_id=self.membership.chain_id, height=height, prev_hash=self.last_hash,
                             tx_root=transactions_root(txs), tx_count=len(txs), proposer=self.node_id,
                             timestamp_ms=int(round(now * 1000)))
        block = Block(header=header, transactions=txs)
        cast = self._cast(PrePrepare(view=self.view, height=height, block=block, replica=self.node_id))
        if cast is None:  # we pre-prepared another block here before a restart: wait for a view change
            return []
        persist, pre = cast
        return persist + [Broadcast(self._others(), pre)] + self._own_proposal(pre, now)

    def _own_proposal(self, pre: PrePrepare, now: float, reproposal: bool = False) -> list[Effect]:
        slot = self._slot(pre.height)
        slot.block, slot.digest, slot.proposed_at, slot.pre_prepare = pre.block, pre.block.hash, now, pre
        slot.reproposal = reproposal
        slot.advance("pre-prepare")
        return self._progress(slot, now)

    # -- backups and votes -------------------------------------------------------------------
    def _slot(self, height: int) -> Slot:
        slot = self.slots.get(height)
        if slot is None or slot.view != self.view:
            slot = self.slots[height] = Slot(view=self.view, height=height)
        return slot

    def _on_pre_prepare(self, sender: str, msg: PrePrepare, now: float) -> list[Effect]:
        if sender != self.primary_of(msg.view, msg.height):
            return [Rejected(sender, "PrePrepare", f"not the primary of view {msg.view} at height {msg.height}")]
        return self._accept_pre_prepare(msg, now, reproposal=False)

    def _accept_pre_prepare(self, msg: PrePrepare, now: float, reproposal: bool) -> list[Effect]:
        slot = self._slot(msg.height)
        digest = msg.block.hash
        if slot.pre_prepare is not None:
            if slot.digest == digest:
                return []
            effects: list[Effect] = [Rejected(msg.replica, "PrePrepare", f"conflicting proposal for view {msg.view} "
                                              f"height {msg.height}: {digest.hex()[:12]}, accepted "
                                              f"{slot.digest.hex()[:12]}")]
            if slot.pre_prepare.replica == msg.replica:  # one signer, two proposals: proof of equivocation
                effects.insert(0, Metric("pbft.equivocation_evidence", 1.0))
            return effects
        slot.block, slot.digest, slot.pre_prepare, slot.reproposal = msg.block, digest, msg, reproposal
        if msg.height != self.committed_height + 1:
            return []  # kept; checked once the previous height commits
        return self._check_and_prepare(slot, now)

    def _check_and_prepare(self, slot: Slot, now: float) -> list[Effect]:
        """Check an accepted proposal now that its predecessor committed, and PREPARE it: only in
        the view it was accepted in and in normal status (a proposal kept from an older view is
        dropped when a view change starts, see ``_start_view_change``)."""
        assert slot.block is not None and slot.pre_prepare is not None
        if slot.view != self.view or self.status is not Status.NORMAL:
            return []
        reason = self._check_proposal(slot.block, slot.height, slot.reproposal)
        prior = self.votes.conflict(slot.view, slot.height, slot.digest)
        if reason is None and prior is not None:
            reason = (f"already voted for {prior.hex()[:12]} at view {slot.view} height {slot.height} "
                      f"(before a restart)")
        if reason is not None:
            sender = slot.pre_prepare.replica
            slot.block, slot.digest, slot.pre_prepare = None, b"", None
            return [Rejected(sender, "PrePrepare", reason)]
        slot.proposed_at = now
        slot.advance("pre-prepare")
        if not self.votes_at(slot.height):  # standby or revoked: follow the votes, cast none
            return self._progress(slot, now)
        cast = self._cast(Prepare(view=slot.view, height=slot.height, digest=slot.digest, replica=self.node_id))
        if cast is None:  # outside our watermarks: keep the proposal, vote once it is in reach
            return self._progress(slot, now)
        persist, prepare = cast
        slot.prepares[self.node_id] = (slot.digest, prepare.signature)
        return persist + [Broadcast(self._others(), prepare)] + self._progress(slot, now)

    def _check_proposal(self, block: Block, height: int, reproposal: bool) -> str | None:
        header = block.header
        if header.height != height or header.prev_hash != self.last_hash:
            return f"block {header.height} does not extend the last committed block {self.committed_height}"
        if header.chain_id != self.membership.chain_id or not self.membership.is_validator_at(header.proposer, height):
            return f"block {header.height} has the wrong chain id or a proposer that is not a validator"
        if not reproposal and header.proposer != self.primary_of(self.view, height):
            return f"block {header.height} names proposer {header.proposer!r}, not the primary"
        try:
            validate_body(block, self.membership, verified=self.mempool)  # admitted ones were verified
        except ChainValidationError as exc:
            return str(exc)
        if any(self.chain.has_tx(tx.tx_id) for tx in block.transactions):
            return f"block {header.height} repeats a committed transaction"
        return None

    def _on_vote(self, msg: Prepare | Commit, kind: str, now: float) -> list[Effect]:
        slot = self._slot(msg.height)
        votes = slot.prepares if kind == "prepare" else slot.commits
        prior = votes.setdefault(msg.replica, (msg.digest, msg.signature))
        if prior[0] != msg.digest:  # two signed votes of one replica at one (view, height)
            return [Metric("pbft.equivocation_evidence", 1.0),
                    Rejected(msg.replica, type(msg).__name__, f"{msg.replica} signed {kind}s for two digests at view "
                             f"{msg.view} height {msg.height}: {prior[0].hex()[:12]} and {msg.digest.hex()[:12]}")]
        return self._progress(slot, now)

    def _counted(self, slot: Slot, votes: dict[str, tuple[bytes, bytes]]) -> dict[str, bytes]:
        """Matching votes of the validators in force at the slot's height (others never count)."""
        return {r: s for r, s in slot.matching(votes).items() if self.membership.is_validator_at(r, slot.height)}

    def _progress(self, slot: Slot, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if slot.phase is Phase.PRE_PREPARED:
            assert slot.pre_prepare is not None
            proposer = slot.pre_prepare.replica
            backups = {r: s for r, s in self._counted(slot, slot.prepares).items() if r != proposer}
            if len(backups) >= self.membership.quorum_at(slot.height) - 1:  # with the PRE-PREPARE: a quorum
                slot.advance("prepared")
                prepares = [Prepare(view=slot.view, height=slot.height, digest=slot.digest, replica=r, signature=s)
                            for r, s in sorted(backups.items())]
                cert = self.prepared[slot.height] = PreparedCertificate(pre_prepare=slot.pre_prepare, prepares=prepares)
                effects.append(Persist(prepared_key(slot.height), slot.height, PreparedRecord(certificate=cert)))
                cast = self._cast(Commit(view=slot.view, height=slot.height, digest=slot.digest,
                                         replica=self.node_id)) if self.votes_at(slot.height) else None
                if cast is not None:
                    persist, commit = cast
                    slot.commits[self.node_id] = (slot.digest, commit.signature)
                    effects += persist + [Broadcast(self._others(), commit)]
        if (slot.phase is Phase.PREPARED
                and len(self._counted(slot, slot.commits)) >= self.membership.quorum_at(slot.height)):
            slot.advance("committed-local")
            effects += self._execute_ready(now)
        return effects

    def _execute_ready(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        progressed = False
        while (slot := self.slots.get(self.committed_height + 1)) is not None and slot.phase is Phase.COMMITTED:
            votes = [CommitVote(replica=r, signature=s) for r, s in sorted(self._counted(slot, slot.commits).items())]
            cert = CommitCertificate(view=slot.view, height=slot.height, block_hash=slot.digest, votes=votes)
            assert slot.block is not None
            effects += self._record_commit(msgspec.structs.replace(slot.block, certificate=cert), now)
            effects.append(Metric("pbft.commit_latency_s", now - slot.proposed_at))
            progressed = True
            effects += self._accept_buffered(now)
        if progressed:
            self.view_change_attempts = 0
            effects += self._restart_request_timer()
        return effects + self._maybe_propose(now)

    def _record_commit(self, block: Block, now: float) -> list[Effect]:
        """Append a certified block at the next height: bookkeeping, CommitBlock, checkpoint."""
        self.committed_height, self.last_hash = block.height, block.hash
        self.chain.add(block)
        for tx in block.transactions:
            self.mempool.pop(tx.tx_id, None)
        for h in [h for h in self.slots if h <= self.committed_height]:
            del self.slots[h]
        effects: list[Effect] = [CommitBlock(block)]
        if block.height % self.config.checkpoint_interval == 0 and self.votes_at(block.height):
            own = self._sign(Checkpoint(height=block.height, digest=block.hash, replica=self.node_id))
            effects.append(Broadcast(self._others(), own))
            self.checkpoints.add_own(own)
        return effects + self._collect_garbage()

    def _collect_garbage(self) -> list[Effect]:
        """Advance the stable checkpoint if 2f+1 agree; drop (and forget durably) the log at or below it."""
        cps = self.checkpoints
        before = cps.stable_height
        stable = cps.update(self.chain)
        if stable <= before:
            return []
        for h in [h for h in self.prepared if h <= stable]:
            del self.prepared[h]
        self.votes.forget_through(stable)
        record = StableCheckpoint(height=stable, digest=cps.stable_digest, proof=list(cps.stable_proof))
        return [Persist(STABLE_KEY, 0, record), Forget(stable)]

    def _accept_buffered(self, now: float) -> list[Effect]:
        """A PRE-PREPARE that arrived before its predecessor committed is checked now."""
        slot = self.slots.get(self.committed_height + 1)
        if slot is None or slot.phase is not Phase.IDLE or slot.pre_prepare is None:
            return []
        return self._check_and_prepare(slot, now)  # which votes only in the slot's own view


consensus_protocols.register("pbft")(PbftReplica)
