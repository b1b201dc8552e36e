"""Checkpoints and watermarks (Castro & Liskov, TOCS 2002, section 4.3).

Every K blocks a replica multicasts CHECKPOINT(height, block hash); 2f+1 matching ones
(its own included) make the checkpoint *stable*: the log at or below it is discarded and
the low watermark moves up. The high watermark is low + window. A replica that restarted
or caught up by state transfer holds certified blocks above its last stable checkpoint;
those count as a low mark too, so a laggard is not stuck below the window.
2f+1 matching CHECKPOINTs above a replica's own height prove that height is decided: the
replica may fetch up to it. A checkpoint at height h counts only from the validators in force
at h, and needs the 2f+1 of that set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collections.abc import Container
from typing import Protocol

from edgeledger.consensus.pbft.events import Checkpoint
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Membership

__all__ = ["CheckpointLog"]


class _Blocks(Container[int], Protocol):
    def __getitem__(self, height: int) -> Block: ...


@dataclass
class CheckpointLog:
    membership: Membership
    genesis_hash: bytes
    stable_height: int = 0
    stable_digest: bytes = b""
    stable_proof: list[Checkpoint] = field(default_factory=list)
    low_mark: int = 0  # highest height known decided without a checkpoint proof (resume, transfer)
    proven_height: int = 0  # highest height with 2f+1 matching CHECKPOINTs seen
    votes: dict[int, dict[str, Checkpoint]] = field(default_factory=dict)
    own: dict[int, Checkpoint] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stable_digest = self.stable_digest or self.genesis_hash

    @property
    def low_water(self) -> int:
        return max(self.stable_height, self.low_mark)

    def add_own(self, cp: Checkpoint) -> None:
        self.own[cp.height] = cp
        self.votes.setdefault(cp.height, {})[cp.replica] = cp

    def add(self, cp: Checkpoint) -> None:
        """Record a verified CHECKPOINT from a peer (one per replica and height)."""
        if cp.height <= self.stable_height:
            return
        if not self.membership.is_validator_at(cp.replica, cp.height):
            return
        per_height = self.votes.setdefault(cp.height, {})
        per_height.setdefault(cp.replica, cp)
        digests = [c.digest for c in per_height.values()]
        if max(digests.count(d) for d in digests) >= self.membership.quorum_at(cp.height):
            self.proven_height = max(self.proven_height, cp.height)

    def update(self, chain: _Blocks) -> int:
        """Make the highest checkpoint we committed and 2f+1 agree on stable; return the stable height."""
        for h in sorted((h for h in self.votes if h > self.stable_height and h in chain), reverse=True):
            digest = chain[h].hash
            matching = [c for r, c in sorted(self.votes[h].items())
                        if c.digest == digest and self.membership.is_validator_at(r, h)]
            if len(matching) >= self.membership.quorum_at(h):
                self.stable_height, self.stable_digest, self.stable_proof = h, digest, matching
                self.votes = {k: v for k, v in self.votes.items() if k > h}
                self.own = {k: v for k, v in self.own.items() if k > h}
                break
        return self.stable_height

    def unstable_own(self) -> list[Checkpoint]:
        """Our checkpoints not yet stable: re-sent when a view change starts (lost messages)."""
        return [self.own[h] for h in sorted(self.own) if h > self.stable_height]
