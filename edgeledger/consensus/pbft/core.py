"""PBFT replica core, normal case (Castro & Liskov, OSDI 1999, section 4.2), sans-IO.

Rules implemented here:
- the primary of view v is ``validators[v mod n]``; it batches pending requests into a
  block (at most ``max_block_txs`` transactions / ``max_block_bytes``, or whatever is
  pending after ``batch_timeout_s``) and multicasts a signed PRE-PREPARE;
- a backup accepts a PRE-PREPARE for the current view and the next height when it is
  signed by the primary, extends the replica's last committed block, its transactions
  are correctly signed and not yet committed, and no other digest was accepted for that
  (view, height); it then multicasts PREPARE;
- a replica is *prepared* with the PRE-PREPARE plus 2f matching PREPAREs from distinct
  backups, then multicasts COMMIT; it *commits* with 2f+1 matching COMMITs, which become the
  block's commit certificate; blocks execute strictly in height order.
Votes may arrive before the proposal; they are kept per slot inside the watermark window
``(last committed, last committed + window]`` and anything outside it is dropped.

Seams for the recovery paths (view change, checkpoints, state transfer) are the ``view``
field, ``primary_of`` and the per-slot log; they are not implemented in this module yet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from edgeledger.codec import encode
from edgeledger.consensus.base import CommitBlock, Consensus, consensus_protocols
from edgeledger.consensus.pbft.events import PBFT_MESSAGES, Commit, ForwardRequest, Prepare, PrePrepare
from edgeledger.consensus.pbft.state import Phase, Slot
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import ChainValidationError, ConfigError, SignatureError
from edgeledger.ledger.block import Block, BlockHeader, CommitCertificate, CommitVote, transactions_root
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, verify_transaction
from edgeledger.ledger.validation import validate_body

__all__ = ["PbftConfig", "PbftReplica"]

BATCH_TIMER = "pbft.batch"


@dataclass(frozen=True)
class PbftConfig:
    max_block_txs: int = 100
    max_block_bytes: int = 1_000_000
    batch_timeout_s: float = 0.05
    window: int = 64  # high watermark = last committed + window


class PbftReplica(Consensus):
    """One PBFT validator. ``check_tx`` is the application's admission rule (ABCI CheckTx)."""

    message_types = PBFT_MESSAGES

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, genesis_hash: bytes,
                 config: PbftConfig | None = None,
                 check_tx: Callable[[Transaction], str | None] | None = None) -> None:
        if membership.n < 4:
            raise ConfigError(f"PBFT needs n >= 3f + 1 with f >= 1, i.e. at least 4 validators; got n={membership.n}")
        if not membership.is_validator(node_id):
            raise ConfigError(f"node {node_id!r} is not in the validator set {membership.validators}")
        self.node_id = node_id
        self.key = key
        self.membership = membership
        self.config = config or PbftConfig()
        self.check_tx = check_tx
        self.view = 0
        self.committed_height = 0
        self.last_hash = genesis_hash
        self.mempool: OrderedDict[bytes, Transaction] = OrderedDict()
        self.committed_txs: set[bytes] = set()
        self.slots: dict[int, Slot] = {}
        self._batch_timer_set = False

    # -- roles -------------------------------------------------------------------------------
    def primary_of(self, view: int) -> str:
        return self.membership.validators[view % self.membership.n]

    @property
    def is_primary(self) -> bool:
        return self.primary_of(self.view) == self.node_id

    def _others(self) -> tuple[str, ...]:
        return tuple(v for v in self.membership.validators if v != self.node_id)

    def _sign(self, msg: Any) -> Any:
        return msgspec.structs.replace(msg, signature=self.key.sign(msg.signing_bytes(self.membership.chain_id)))

    # -- inputs ------------------------------------------------------------------------------
    def submit(self, tx: Transaction, now: float) -> list[Effect]:
        tx_id = tx.tx_id
        if tx_id in self.committed_txs or tx_id in self.mempool:
            return []
        try:
            verify_transaction(tx, self.membership)
        except SignatureError as exc:
            return [Rejected(tx.sender, "transaction", str(exc))]
        reason = self.check_tx(tx) if self.check_tx else None
        if reason is not None:
            return [Rejected(tx.sender, "transaction", reason)]
        self.mempool[tx_id] = tx
        if not self.is_primary:
            return [Send(self.primary_of(self.view), ForwardRequest(tx=tx))]
        return self._maybe_propose(now)

    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ForwardRequest):
            return self.submit(message.tx, now)
        if not self.membership.is_validator(sender) or getattr(message, "replica", None) != sender:
            return [Rejected(sender, type(message).__name__, "sender is not the validator named in the message")]
        if not self._in_window(message.height):
            return []
        if not self.membership.verify(sender, message.signing_bytes(self.membership.chain_id), message.signature):
            return [Rejected(sender, type(message).__name__, "bad signature")]
        if isinstance(message, PrePrepare):
            return self._on_pre_prepare(sender, message, now)
        if isinstance(message, Prepare):
            return self._on_vote(message, "prepare", now)
        if isinstance(message, Commit):
            return self._on_vote(message, "commit", now)
        return [Rejected(sender, type(message).__name__, "not a PBFT message")]

    def timer(self, name: str, now: float) -> list[Effect]:
        if name == BATCH_TIMER:
            self._batch_timer_set = False
            return self._propose(now) if self._can_propose() and self.mempool else []
        return []

    # -- primary -----------------------------------------------------------------------------
    def _in_window(self, height: int) -> bool:
        return self.committed_height < height <= self.committed_height + self.config.window

    def _can_propose(self) -> bool:
        slot = self.slots.get(self.committed_height + 1)
        return self.is_primary and (slot is None or slot.phase is Phase.IDLE)

    def _maybe_propose(self, now: float) -> list[Effect]:
        if not self._can_propose() or not self.mempool:
            return []
        if len(self.mempool) >= self.config.max_block_txs:
            return self._propose(now)
        if not self._batch_timer_set:
            self._batch_timer_set = True
            return [SetTimer(BATCH_TIMER, self.config.batch_timeout_s)]
        return []

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
        txs = self._take_batch()
        height = self.committed_height + 1
        header = BlockHeader(chain_id=self.membership.chain_id, height=height, prev_hash=self.last_hash,
                             tx_root=transactions_root(txs), tx_count=len(txs), proposer=self.node_id,
                             timestamp_ms=int(round(now * 1000)))
        block = Block(header=header, transactions=txs)
        pre = self._sign(PrePrepare(view=self.view, height=height, block=block, replica=self.node_id))
        slot = self._slot(height)
        slot.block, slot.digest, slot.proposed_at = block, block.hash, now
        slot.advance("pre-prepare")
        effects: list[Effect] = [Broadcast(self._others(), pre)]
        return effects + self._progress(slot, now)

    # -- backups and votes -------------------------------------------------------------------
    def _slot(self, height: int) -> Slot:
        slot = self.slots.get(height)
        if slot is None or slot.view != self.view:
            slot = self.slots[height] = Slot(view=self.view, height=height)
        return slot

    def _on_pre_prepare(self, sender: str, msg: PrePrepare, now: float) -> list[Effect]:
        if msg.view != self.view or sender != self.primary_of(msg.view):
            return [Rejected(sender, "PrePrepare", f"not the primary of view {msg.view}")]
        slot = self._slot(msg.height)
        digest = msg.block.hash
        if slot.phase is not Phase.IDLE:
            if slot.digest != digest:
                return [Rejected(sender, "PrePrepare", f"conflicting proposal for height {msg.height}")]
            return []
        if msg.height != self.committed_height + 1:
            slot.block, slot.digest = msg.block, digest  # keep; checked once the previous height commits
            return []
        reason = self._check_proposal(msg.block)
        if reason is not None:
            return [Rejected(sender, "PrePrepare", reason)]
        slot.block, slot.digest, slot.proposed_at = msg.block, digest, now
        slot.advance("pre-prepare")
        prepare = self._sign(Prepare(view=self.view, height=msg.height, digest=digest, replica=self.node_id))
        slot.prepares[self.node_id] = (digest, prepare.signature)
        return [Broadcast(self._others(), prepare)] + self._progress(slot, now)

    def _check_proposal(self, block: Block) -> str | None:
        header = block.header
        if header.prev_hash != self.last_hash or header.proposer != self.primary_of(self.view):
            return f"block {header.height} does not extend the last committed block or has the wrong proposer"
        try:
            validate_body(block, self.membership)
        except ChainValidationError as exc:
            return str(exc)
        if any(tx.tx_id in self.committed_txs for tx in block.transactions):
            return f"block {header.height} repeats a committed transaction"
        return None

    def _on_vote(self, msg: Prepare | Commit, kind: str, now: float) -> list[Effect]:
        if msg.view != self.view:
            return []
        slot = self._slot(msg.height)
        votes = slot.prepares if kind == "prepare" else slot.commits
        votes.setdefault(msg.replica, (msg.digest, msg.signature))
        return self._progress(slot, now)

    def _progress(self, slot: Slot, now: float) -> list[Effect]:
        effects: list[Effect] = []
        f = self.membership.f
        primary = self.primary_of(slot.view)
        if slot.phase is Phase.PRE_PREPARED:
            backups = {r for r in slot.matching(slot.prepares) if r != primary}
            if len(backups) >= 2 * f:
                slot.advance("prepared")
                commit = self._sign(Commit(view=slot.view, height=slot.height, digest=slot.digest, replica=self.node_id))
                slot.commits[self.node_id] = (slot.digest, commit.signature)
                effects.append(Broadcast(self._others(), commit))
        if slot.phase is Phase.PREPARED and len(slot.matching(slot.commits)) >= self.membership.quorum:
            slot.advance("committed-local")
            effects += self._execute_ready(now)
        return effects

    def _execute_ready(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while (slot := self.slots.get(self.committed_height + 1)) is not None and slot.phase is Phase.COMMITTED:
            votes = [CommitVote(replica=r, signature=s) for r, s in sorted(slot.matching(slot.commits).items())]
            cert = CommitCertificate(view=slot.view, height=slot.height, block_hash=slot.digest, votes=votes)
            assert slot.block is not None
            block = msgspec.structs.replace(slot.block, certificate=cert)
            self.committed_height, self.last_hash = slot.height, slot.digest
            for tx in block.transactions:
                self.committed_txs.add(tx.tx_id)
                self.mempool.pop(tx.tx_id, None)
            del self.slots[slot.height]
            effects.append(CommitBlock(block))
            effects.append(Metric("pbft.commit_latency_s", now - slot.proposed_at))
            effects += self._accept_buffered(now)
        for h in [h for h in self.slots if h <= self.committed_height]:
            del self.slots[h]
        return effects + self._maybe_propose(now)

    def _accept_buffered(self, now: float) -> list[Effect]:
        """A PRE-PREPARE that arrived before its predecessor committed is checked now."""
        slot = self.slots.get(self.committed_height + 1)
        if slot is None or slot.phase is not Phase.IDLE or slot.block is None:
            return []
        block = slot.block
        slot.block, slot.digest = None, b""
        pre = PrePrepare(view=slot.view, height=slot.height, block=block, replica=self.primary_of(slot.view))
        return self._on_pre_prepare(pre.replica, pre, now)


consensus_protocols.register("pbft")(PbftReplica)
