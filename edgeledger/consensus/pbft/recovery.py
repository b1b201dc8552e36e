"""View change at a replica (Castro & Liskov, TOCS 2002, section 4.4), as a replica mixin.

- the request timer (``pbft.view_change``) runs while requests wait; when it fires the
  replica stops accepting normal-case messages and multicasts VIEW-CHANGE for view v+1
  (its stable checkpoint and prepared certificates); once it holds 2f+1 VIEW-CHANGEs for
  v+1 it waits for NEW-VIEW, and if none arrives in time it moves to v+2 and waits twice
  as long (exponential timeouts, capped by ``view_change_timeout_max_s``);
- f+1 VIEW-CHANGEs for views above ours make us join the smallest of them (liveness);
- the new view's leader assembles NEW-VIEW from 2f+1 VIEW-CHANGEs and re-proposes the O
  set (:func:`.viewchange.reproposals`); backups check it against the same rule;
- a replica still in an older view that speaks to us gets our last NEW-VIEW, which it can
  verify on its own, so a replica that restarted or was cut off rejoins the current view.
Quorums, the NEW-VIEW leader and who may send VIEW-CHANGE come from the validator set at the
replica's epoch (its first uncommitted height); a replica outside that set starts none.
"""

from __future__ import annotations

from typing import Any

from edgeledger.consensus.base import Persist
from edgeledger.consensus.pbft.durable import (OWN_VIEW_CHANGES_KEPT, OwnViewChange, ViewState, view_change_key,
                                               view_key)
from edgeledger.consensus.pbft.events import Checkpoint, NewView, PrePrepare, ViewChange
from edgeledger.consensus.pbft.state import Status
from edgeledger.consensus.pbft.transfer import TransferMixin
from edgeledger.consensus.pbft.viewchange import (certificate_conflicts, reproposals, valid_new_view,
                                                  valid_view_change)
from edgeledger.effects import Broadcast, Effect, Metric, Rejected, Send, SetTimer

__all__ = ["RecoveryMixin"]

MAX_BACKOFF_DOUBLINGS = 10
MAX_FUTURE_MESSAGES = 1024


class RecoveryMixin(TransferMixin):
    """Mixed into :class:`PbftReplica`: view change, checkpoints messages, stale-view help."""

    view_changes: dict[int, dict[str, ViewChange]]
    last_new_view: NewView | None
    view_change_attempts: int
    floor: int  # no fresh proposal below the new view's stable checkpoint
    proven_floor: int

    def _init_recovery(self) -> None:
        self._init_transfer()
        self.view_changes = {}
        self.last_new_view = None
        self.view_change_attempts = 0
        self.floor = 0
        self.proven_floor = 0
        self._answered: dict[tuple[str, str, int], float] = {}
        self._future: list[tuple[str, Any]] = []
        self._new_view_timer_for = -1
        self._own_view_changes: dict[int, ViewChange] = {}
        self._reported_conflicts: set[tuple[int, int, bytes, bytes]] = set()

    def _buffer_future(self: Any, sender: str, msg: Any) -> None:
        """Keep normal-case messages of a view we have not installed yet (bounded)."""
        if len(self._future) < MAX_FUTURE_MESSAGES:
            self._future.append((sender, msg))

    def _view_change_timeout(self: Any) -> float:
        timeout = self.config.view_change_timeout_s * 2 ** min(self.view_change_attempts, MAX_BACKOFF_DOUBLINGS)
        return min(timeout, max(self.config.view_change_timeout_max_s, self.config.view_change_timeout_s))

    # -- checkpoints -------------------------------------------------------------------------
    def _on_checkpoint(self: Any, sender: str, msg: Checkpoint, now: float) -> list[Effect]:
        self._claim(sender, msg.height)
        self.checkpoints.add(msg)
        return self._collect_garbage() + self._maybe_fetch(now) + self._maybe_propose(now)

    # -- starting a view change --------------------------------------------------------------
    def _on_view_change_timeout(self: Any, now: float) -> list[Effect]:
        if self.status is Status.NORMAL:
            if not self.mempool or not self.votes_at(self.epoch):
                return []
        elif self._new_view_timer_for != self.view:  # fewer than 2f+1 want this view yet: resend ours
            own = self.view_changes.get(self.view, {}).get(self.node_id)
            effects: list[Effect] = [Broadcast(self._others(), own)] if own is not None else []
            effects += [Broadcast(self._others(), cp) for cp in self.checkpoints.unstable_own()]
            return effects + [SetTimer("pbft.view_change", self.config.view_change_timeout_s)]
        else:
            self.view_change_attempts += 1
        return self._start_view_change(self.view + 1, now)

    def _start_view_change(self: Any, view: int, now: float) -> list[Effect]:
        """Leave the current view for ``view``: durably first (a restarted replica must not vote
        in a view it left), then VIEW-CHANGE with the stable checkpoint and the P set."""
        self.view, self.status = view, Status.VIEW_CHANGE
        self._batch_timer_set = False
        self._request_timer_set = False
        cps = self.checkpoints
        prepared = [self.prepared[h] for h in sorted(self.prepared) if h > cps.stable_height]
        vc = self._sign(ViewChange(new_view=view, checkpoint_height=cps.stable_height,
                                   checkpoint_digest=cps.stable_digest, checkpoint_proof=list(cps.stable_proof),
                                   prepared=prepared, committed_height=self.committed_height, replica=self.node_id))
        persist = [Persist(view_change_key(view), 0, OwnViewChange(view_change=vc)),
                   Persist(view_key(), 0, ViewState(view=view, changing=True))]
        return persist + self._announce_view_change(vc, now)

    def _announce_view_change(self: Any, vc: ViewChange, now: float) -> list[Effect]:
        """Send our VIEW-CHANGE (also the one a restarted replica sent before its crash) and wait."""
        view = vc.new_view
        self.view_changes.setdefault(view, {})[self.node_id] = vc
        self._own_view_changes = {v: m for v, m in self._own_view_changes.items() if v > view - OWN_VIEW_CHANGES_KEPT}
        self._own_view_changes[view] = vc
        for v in [v for v in self.view_changes if v < view]:
            del self.view_changes[v]
        effects: list[Effect] = [Broadcast(self._others(), vc)]
        effects += [Broadcast(self._others(), cp) for cp in self.checkpoints.unstable_own()]
        effects.append(SetTimer("pbft.view_change", self.config.view_change_timeout_s))  # resend until 2f+1
        return effects + self._arm_new_view_timer() + self._maybe_new_view(now)

    def _arm_new_view_timer(self: Any) -> list[Effect]:
        """Wait for NEW-VIEW only once 2f+1 replicas want this view (TOCS 4.5.2), so a lone
        replica whose timer fired early does not race ahead of the others' views."""
        if (self.status is not Status.VIEW_CHANGE or self._new_view_timer_for == self.view
                or len(self.view_changes.get(self.view, {})) < self.membership.quorum_at(self.epoch)):
            return []
        self._new_view_timer_for = self.view
        return [SetTimer("pbft.view_change", self._view_change_timeout())]

    # -- receiving VIEW-CHANGE and NEW-VIEW ---------------------------------------------------
    def _answer_stale(self: Any, sender: str, now: float, old_view: int | None = None) -> list[Effect]:
        """``sender`` is in an older view: hand it our last NEW-VIEW, and our own VIEW-CHANGE
        for the view it is trying to reach (its copy may have been lost); rate-limited."""
        effects: list[Effect] = []
        own = self._own_view_changes.get(old_view) if old_view is not None else None
        if own is not None and self._may_answer((sender, "vc", own.new_view), now):
            effects.append(Send(sender, own))
        nv = self.last_new_view
        fresh = nv is not None and (old_view is None or nv.view >= old_view)
        if fresh and self._may_answer((sender, "nv", nv.view), now):
            effects.append(Send(sender, nv))
        return effects

    def _may_answer(self: Any, key: tuple[str, str, int], now: float) -> bool:
        last = self._answered.get(key)
        if last is not None and now - last < self.config.view_change_timeout_s:
            return False
        self._answered[key] = now
        if len(self._answered) > 256:  # bounded: only recent answers rate-limit anything
            limit = self.config.view_change_timeout_s
            self._answered = {k: t for k, t in self._answered.items() if now - t < limit}
        return True

    def _on_view_change(self: Any, sender: str, vc: ViewChange, now: float) -> list[Effect]:
        self._claim(sender, vc.checkpoint_height)
        effects: list[Effect] = self._push_blocks(sender, vc.committed_height, now)
        if vc.new_view < self.view or (vc.new_view == self.view and self.status is Status.NORMAL):
            return effects + self._answer_stale(sender, now, vc.new_view)
        if not valid_view_change(self.membership, vc, self.genesis_hash, self.proposer_ok, self.epoch):
            return effects + [Rejected(sender, "ViewChange", f"invalid VIEW-CHANGE for view {vc.new_view}")]
        self.view_changes.setdefault(vc.new_view, {}).setdefault(sender, vc)
        effects += self._maybe_fetch(now)
        higher = {r: v for v, per_view in self.view_changes.items() if v > self.view for r in per_view}
        if len(higher) >= self.membership.f_at(self.epoch) + 1 and self.votes_at(self.epoch):
            target = min(v for v in self.view_changes if v > self.view and self.view_changes[v])
            return effects + self._start_view_change(target, now)
        return effects + self._arm_new_view_timer() + self._maybe_new_view(now)

    def _maybe_new_view(self: Any, now: float) -> list[Effect]:
        vcs = self.view_changes.get(self.view, {})
        if (self.status is not Status.VIEW_CHANGE or self.view_leader(self.view) != self.node_id
                or self.node_id not in vcs or len(vcs) < self.membership.quorum_at(self.epoch)):
            return []
        chosen_vcs, effects = self._choose_view_changes(vcs)
        if chosen_vcs is None:
            return effects  # conflicting certificates: wait for VIEW-CHANGEs that do not carry them
        _, _, certs = reproposals(chosen_vcs)
        pres = []
        for c in certs:
            cast = self._cast(PrePrepare(view=self.view, height=c.pre_prepare.height, block=c.pre_prepare.block,
                                         replica=self.node_id), reproposal=True)
            if cast is None:  # we signed another block at this (view, height) before a restart
                return effects
            effects += cast[0]
            pres.append(cast[1])
        nv = self._sign(NewView(view=self.view, view_changes=chosen_vcs, pre_prepares=pres, replica=self.node_id))
        return effects + [Broadcast(self._others(), nv)] + self._install_new_view(nv, now)

    def _choose_view_changes(self: Any, vcs: dict[str, ViewChange]) -> tuple[list[ViewChange] | None, list[Effect]]:
        """V for our NEW-VIEW: every VIEW-CHANGE we hold, unless some carry same-view certificates
        for different digests; then those (ours excepted) are left out, if a quorum remains."""
        chosen = [vcs[r] for r in sorted(vcs)]
        conflicts = certificate_conflicts(chosen)
        if not conflicts:
            return chosen, []
        effects = self._report_conflicts(conflicts)
        suspects = {r for c in conflicts for r in c.carriers if r != self.node_id}
        rest = [vc for vc in chosen if vc.replica not in suspects]
        if len(rest) >= self.membership.quorum_at(self.epoch) and not certificate_conflicts(rest):
            return rest, effects
        return None, effects

    def _report_conflicts(self: Any, conflicts: list[Any]) -> list[Effect]:
        effects: list[Effect] = []
        for c in conflicts:
            key = (c.view, c.height) + c.digests
            if key not in self._reported_conflicts:
                self._reported_conflicts.add(key)
                effects += [Metric("pbft.equivocation_evidence", 1.0),
                            Rejected(",".join(c.signers) or "?", "PreparedCertificate", c.describe())]
        return effects

    def _on_new_view(self: Any, sender: str, nv: NewView, now: float) -> list[Effect]:
        if nv.view < self.view or (nv.view == self.view and self.status is Status.NORMAL):
            return []
        reason = valid_new_view(self.membership, nv, self.genesis_hash, self.proposer_ok, self.epoch,
                                self.view_leader(nv.view))
        if reason is not None:
            conflicts = certificate_conflicts(nv.view_changes) if "signed both" in reason else []
            return self._report_conflicts(conflicts) + [Rejected(sender, "NewView", reason)]
        return self._install_new_view(nv, now)

    def _install_new_view(self: Any, nv: NewView, now: float) -> list[Effect]:
        self.view, self.status, self.last_new_view = nv.view, Status.NORMAL, nv
        self.view_changes = {v: m for v, m in self.view_changes.items() if v > nv.view}
        self.slots = {h: s for h, s in self.slots.items() if s.view == nv.view}
        min_s, _, _ = reproposals(nv.view_changes)
        self.floor = max(min_s, max((p.height for p in nv.pre_prepares), default=0))
        for vc in nv.view_changes:  # their checkpoints carry 2f+1 proofs: safe fetch targets
            self._claim(vc.replica, vc.checkpoint_height)
        self.proven_floor = max(self.proven_floor, min_s)
        effects: list[Effect] = [Persist(view_key(), 0, ViewState(view=nv.view, changing=False))]
        for pre in nv.pre_prepares:
            if pre.height <= self.committed_height:
                continue
            if pre.replica == self.node_id:
                effects += self._own_proposal(pre, now, reproposal=True)
            else:
                effects += self._accept_pre_prepare(pre, now, reproposal=True)
        self._request_timer_set = False
        effects += self._arm_request_timer()
        future, self._future = self._future, []
        for sender, msg in future:
            if msg.view == nv.view:
                effects += self.receive(sender, msg, now)
            elif msg.view > nv.view:
                self._future.append((sender, msg))
        return effects + self._maybe_fetch(now) + self._execute_ready(now)
