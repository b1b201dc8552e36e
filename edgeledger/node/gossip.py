"""Spreading committed blocks to the nodes that follow the chain: direct push or epidemic gossip.

With ``fanout = 0`` every validator pushes each committed block to every follower (observers
and light clients). With ``fanout = k`` a validator pushes to k followers and each follower,
on first sight of a block, forwards it to k others (push gossip; a rumour reaches all N
followers with high probability once k is about ln N). Targets are ranked by a hash of
(height, node, follower), so a run replays exactly and different nodes pick different peers.
A follower that sees a gap asks a validator for the missing block (pull repair), so a lost
rumour cannot stall it. Blocks are self-authenticating (certificate or seal), so a forwarded
block is verified exactly like a pushed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.effects import Broadcast, Effect, Send
from edgeledger.ledger.block import Block

__all__ = ["CommittedBlock", "FetchCommitted", "BlockGossip"]


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
    seen: set[int] = field(default_factory=set)
    requested: set[int] = field(default_factory=set)

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
        """(is new, effects): a follower forwards a block the first time it sees it."""
        if block.height in self.seen:
            return False, []
        self.seen.add(block.height)
        if self.fanout <= 0:
            return True, []
        targets = self.targets(block.height, frozenset({sender}))
        return True, ([Broadcast(targets, CommittedBlock(block=block))] if targets else [])

    def repair(self, have: int, newest: int) -> list[Effect]:
        """Ask a validator for height ``have + 1`` when a later block shows it was missed."""
        missing = have + 1
        if newest <= missing or missing in self.requested or not self.validators:
            return []
        self.requested.add(missing)
        return [Send(self.validators[missing % len(self.validators)], FetchCommitted(height=missing))]
