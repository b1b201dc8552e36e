"""Which validators a PBFT replica answers to at each height (a replica mixin).

The validator schedule lives in :class:`~edgeledger.ledger.identity.Membership`; the node
updates it from committed state and calls :meth:`ValidatorSetMixin.validators_changed`.
Activation rule: a change committed in block h takes effect at h + 1 + window or later. A
replica accepts normal-case messages only for heights up to its low watermark + window, and
the node executes block h before the replica handles its next input, so every height the
replica decides anything about has a set it already knew; an earlier activation is reported.
The *epoch* (first uncommitted height) fixes the set that runs view changes.
"""

from __future__ import annotations

from edgeledger.consensus.pbft.host import ReplicaHost
from edgeledger.effects import Effect, Metric, Rejected

__all__ = ["ValidatorSetMixin"]


class ValidatorSetMixin:
    """Mixed into :class:`PbftReplica`: epoch, voting rights, peers, schedule updates."""

    _seen_changes: set[tuple[int, tuple[str, ...]]]

    @property
    def epoch(self: ReplicaHost) -> int:
        """The first height not committed here: its validator set runs view changes."""
        return self.committed_height + 1

    def votes_at(self: ReplicaHost, height: int) -> bool:
        """Is this replica in the validator set of ``height`` (may it propose, vote, checkpoint)?"""
        return self.membership.is_validator_at(self.node_id, height)

    def _is_peer(self: ReplicaHost, replica: str) -> bool:
        """A validator at some height this replica may still decide (its next height + window)."""
        return replica in self._peers()

    def _peers(self: ReplicaHost) -> tuple[str, ...]:
        return self.membership.validators_between(self.epoch, self.epoch + self.config.window)

    def validators_changed(self: ReplicaHost, committed_in: int, now: float) -> list[Effect]:
        """The node updated the validator schedule after executing block ``committed_in``.

        A change must activate after ``committed_in + window`` (see the module doc); an earlier
        one is applied all the same (every replica executes the same block) but reported.
        """
        effects: list[Effect] = []
        for height, validators in self.membership.schedule[1:]:
            if (height, validators) in self._seen_changes:
                continue
            self._seen_changes.add((height, validators))
            if committed_in < height <= committed_in + self.config.window:
                effects.append(Rejected(self.node_id, "validator change",
                                        f"set {list(validators)} activates at {height}, within the PBFT window "
                                        f"{self.config.window} of block {committed_in}: unsafe with pipelining"))
        return effects + [Metric("pbft.validators", float(self.membership.n_at(self.epoch)))] \
            + self._arm_request_timer() + self._maybe_propose(now)

    def set_validators(self: ReplicaHost, validators: list[str], from_height: int, now: float) -> list[Effect]:
        """Schedule ``validators`` from block ``from_height`` on (a direct hook; nodes use the
        schedule their application computes and call :meth:`validators_changed`)."""
        changes = [(h, list(vs)) for h, vs in self.membership.schedule[1:] if h != from_height]
        self.membership.set_schedule(changes + [(from_height, validators)])
        return self.validators_changed(self.committed_height, now)
