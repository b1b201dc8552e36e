"""State transfer (Castro & Liskov, TOCS 2002, sections 4.3 and 6.2), as a replica mixin.

A replica learns how far others are from the messages they send: a PREPARE/COMMIT/
PRE-PREPARE for height h says its sender committed h-1, a CHECKPOINT or BLOCKS reply states
a height. When f+1 replicas (so at least one honest) claim a height above ours, or 2f+1
CHECKPOINTs / a NEW-VIEW prove one, we ask one of them for the missing blocks. Blocks come
with their commit certificates and are checked with ``validate_block`` against our
membership before they are committed, so a Byzantine peer can waste a request but never
make us commit a wrong block. Requests retry on a timer, rotating peers, a bounded number
of times per new evidence. Any member may fetch (a standby sealer catching up before its
activation); only validators' claims count. One reply is applied up to a PBFT window past our
height: the node executes each block and may learn a validator change in it, which activates
only after that window, so every block we validate here is checked against a known set.
"""

from __future__ import annotations

from typing import Any

from edgeledger.consensus.pbft.events import BlockBatch, FetchBlocks
from edgeledger.effects import Effect, Rejected, Send, SetTimer
from edgeledger.errors import ChainValidationError
from edgeledger.ledger.validation import validate_block

__all__ = ["TransferMixin", "MAX_FETCH_RETRIES", "MAX_PUSH_RECORDS"]

MAX_FETCH_RETRIES = 8
MAX_PUSH_RECORDS = 256  # (peer, height) pushes remembered for rate limiting


class TransferMixin:
    """Mixed into :class:`PbftReplica`; uses its chain, membership and commit bookkeeping."""

    claims: dict[str, int]
    _fetch_pending: bool
    _fetch_retries: int
    _fetch_target: int

    def _init_transfer(self) -> None:
        self.claims = {}
        self._fetch_pending = False
        self._fetch_retries = 0
        self._fetch_target = 0
        self._pushed: dict[tuple[str, int], float] = {}
        self._pushed_blocks: dict[int, Any] = {}  # committed blocks pushed ahead of our height

    def _claim(self: Any, replica: str, height: int) -> None:
        if height > self.claims.get(replica, 0) and self._is_peer(replica):
            self.claims[replica] = height

    def _transfer_target(self: Any) -> int:
        """The highest height that f+1 replicas claim, or that a quorum proved."""
        heights = sorted(self.claims.values(), reverse=True)
        f = self.membership.f_at(self.epoch)
        supported = heights[f] if len(heights) > f else 0
        return max(supported, self.checkpoints.proven_height, self.proven_floor)

    def _maybe_fetch(self: Any, now: float) -> list[Effect]:
        target = self._transfer_target()
        if target <= self.committed_height:
            return []
        if target > self._fetch_target:  # new evidence: a fresh retry budget
            self._fetch_target, self._fetch_retries = target, 0
        if self._fetch_pending or self._fetch_retries >= MAX_FETCH_RETRIES:
            return []
        peers = sorted((r for r, h in self.claims.items() if h > self.committed_height and r != self.node_id),
                       key=lambda r: (-self.claims[r], r))
        if not peers:
            return []
        peer = peers[self._fetch_retries % len(peers)]
        self._fetch_pending = True
        request = FetchBlocks(from_height=self.committed_height + 1, limit=self.config.fetch_limit,
                              replica=self.node_id)
        return [Send(peer, request), SetTimer("pbft.fetch", self.config.fetch_timeout_s)]

    def _on_fetch_timeout(self: Any, now: float) -> list[Effect]:
        if self._fetch_pending:
            self._fetch_pending = False
            self._fetch_retries += 1
        return self._maybe_fetch(now)

    def _on_fetch(self: Any, sender: str, msg: FetchBlocks) -> list[Effect]:
        limit = max(0, min(msg.limit, self.config.fetch_limit))
        heights = range(max(1, msg.from_height), min(msg.from_height + limit, self.committed_height + 1))
        blocks = [b for h in heights if (b := self.chain.get(h)) is not None]  # older ones from the node's store
        return [Send(sender, BlockBatch(blocks=blocks, tip_height=self.committed_height, replica=self.node_id))]

    def _push_blocks(self: Any, peer: str, peer_height: int, now: float) -> list[Effect]:
        """A VIEW-CHANGE showed ``peer`` is behind us: send what it lacks (rate-limited).

        An idle cluster sends nothing a laggard could learn its lag from; its view-change
        attempt is the one message it does send.
        """
        last = self._pushed.get((peer, peer_height))
        if peer_height >= self.committed_height or (last is not None and now - last < self.config.fetch_timeout_s):
            return []
        self._pushed[(peer, peer_height)] = now  # again after a fetch timeout: the push may be lost
        if len(self._pushed) > MAX_PUSH_RECORDS:  # bounded: forget the pushes made long enough ago
            self._pushed = {k: t for k, t in self._pushed.items() if now - t < self.config.fetch_timeout_s}
        return self._on_fetch(peer, FetchBlocks(from_height=peer_height + 1, limit=self.config.fetch_limit,
                                                replica=peer))

    def _on_blocks(self: Any, sender: str, msg: BlockBatch, now: float) -> list[Effect]:
        self._claim(sender, msg.tip_height)
        effects: list[Effect] = []
        progressed = False
        last = self.committed_height + self.config.window  # the schedule is known up to here
        for block in sorted(msg.blocks, key=lambda b: b.height):
            if block.height <= self.committed_height:
                continue
            if block.height > last:
                break
            try:
                validate_block(block, self.last_hash, self.committed_height + 1, self.membership)
            except ChainValidationError as exc:
                effects.append(Rejected(sender, "BlockBatch", str(exc)))
                break
            effects += self._record_commit(block, now)
            progressed = True
        if progressed:
            self.checkpoints.low_mark = max(self.checkpoints.low_mark, self.committed_height)
            self._fetch_pending, self._fetch_retries = False, 0
            self.view_change_attempts = 0
            effects += self._accept_buffered(now) + self._execute_ready(now) + self._restart_request_timer()
        return effects + self._maybe_fetch(now)

    def follow(self: Any, sender: str, block: Any, now: float) -> list[Effect]:
        """A committed block pushed to this replica (a standby or revoked sealer follows the
        chain like an observer): applied in height order through the state-transfer checks."""
        if self.membership.role(sender) is None:
            return [Rejected(sender, "chain.block", f"{sender!r} is not a member of this chain")]
        if block.height <= self.committed_height or block.height > self.committed_height + self.config.window:
            return []
        self._pushed_blocks[block.height] = block
        run = []
        h = self.committed_height + 1
        while h in self._pushed_blocks:
            run.append(self._pushed_blocks.pop(h))
            h += 1
        for stale in [k for k in self._pushed_blocks if k <= self.committed_height]:
            del self._pushed_blocks[stale]
        if not run:
            return []
        return self._on_blocks(sender, BlockBatch(blocks=run, tip_height=run[-1].height, replica=sender), now)
