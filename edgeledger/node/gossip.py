"""Spreading committed blocks to the nodes that follow the chain: direct push or epidemic gossip.

With ``fanout = 0`` every validator pushes each committed block to every follower (observers
and light clients). With ``fanout = k`` a validator pushes to k followers and each follower,
on first sight of a block, forwards it to k others (push gossip; a rumour reaches all N
followers with high probability once k is about ln N). Targets are ranked by a hash of
(height, node, follower), so a run replays exactly and different nodes pick different peers.
A follower that sees a gap asks a validator for the missing block (pull repair), so a lost
rumour cannot stall it. Blocks are self-authenticating (certificate or seal), so a forwarded
block is verified exactly like a pushed one.

Duplicates are recognised by the block's header hash *and* its certificate or seal (which lie
outside the hash), and a height counts as settled only once the follower has applied a block
there: a forged copy of height h (say a validator's id with a bad certificate) that reached the
follower first is rejected by the node and does not hide the real block. Copies of a height
still open are kept (at most :data:`MAX_VARIANTS`), and only the first is passed on -- or a
later one for the very next height, whose earlier copies were therefore refused -- so honest
copies with different certificates are not spread several times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.effects import Broadcast, Effect, Send
from edgeledger.ledger.block import Block

__all__ = ["CommittedBlock", "FetchCommitted", "BlockGossip", "MAX_VARIANTS", "MAX_WAITING_COPIES"]

#: distinct copies (header hash + certificate/seal) of one unsettled height a follower looks at
MAX_VARIANTS = 8
#: distinct copies of one future block a follower keeps while it waits for the height below
#: (a forged copy seen first must not hide the real one; bounded so copies cannot pile up)
MAX_WAITING_COPIES = 4


class CommittedBlock(Record, tag="chain.block"):
    """A committed block with its certificate (or seal), pushed or gossiped to followers."""

    block: Block


class FetchCommitted(Record, tag="chain.fetch"):
    """A follower's request for one committed block it missed."""

    height: int


@dataclass
class BlockGossip:
    node_id: str
    followers: tuple[str, ...]  # observers and light clients: the gossip overlay
    validators: tuple[str, ...]
    fanout: int = 0
    seen: dict[int, set[bytes]] = field(default_factory=dict)  # unsettled height -> copies looked at
    requested: set[int] = field(default_factory=set)
    settled: int = 0  # the follower's height, as last reported to :meth:`repair`

    def targets(self, height: int, exclude: frozenset[str] = frozenset()) -> tuple[str, ...]:
        peers = [f for f in self.followers if f != self.node_id and f not in exclude]
        if self.fanout <= 0:
            return tuple(peers)
        ranked = sorted(peers, key=lambda f: sha256(encode((height, self.node_id, f))))
        return tuple(ranked[: self.fanout])

    def publish(self, block: Block, exclude: frozenset[str] = frozenset()) -> list[Effect]:
        """A validator committed ``block``: push it (to everyone, or to its gossip targets), except
        to ``exclude`` (the validators that run consensus themselves)."""
        targets = self.targets(block.height, exclude)
        return [Broadcast(targets, CommittedBlock(block=block))] if targets else []

    def first_sight(self, sender: str, block: Block) -> tuple[bool, list[Effect]]:
        """(is new, effects): whether the node should verify this copy, and its forwarding.

        A copy is new unless its height is settled or the same copy (header and certificate)
        was seen; the reply to this follower's own fetch is always looked at."""
        height = block.height
        if height <= self.settled:
            return False, []
        copies = self.seen.setdefault(height, set())
        key = sha256(encode((block.hash, block.certificate, block.seal)))
        fetched = height in self.requested and bool(self.validators) and \
            sender == self.validators[height % len(self.validators)]
        if not fetched and (key in copies or len(copies) >= MAX_VARIANTS):
            return False, []
        first = not copies
        copies.add(key)
        if self.fanout <= 0 or not (first or height == self.settled + 1):
            return True, []
        targets = self.targets(height, frozenset({sender}))
        return True, ([Broadcast(targets, CommittedBlock(block=block))] if targets else [])

    def repair(self, have: int, newest: int) -> list[Effect]:
        """Ask a validator for height ``have + 1`` when a later block shows it was missed.

        ``have`` is the follower's height: heights up to it are settled and forgotten here."""
        if have > self.settled:
            self.settled = have
            for height in [h for h in self.seen if h <= have]:
                del self.seen[height]
        missing = have + 1
        if newest <= missing or missing in self.requested or not self.validators:
            return []
        self.requested.add(missing)
        return [Send(self.validators[missing % len(self.validators)], FetchCommitted(height=missing))]
