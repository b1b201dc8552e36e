"""Deliberate bugs in the PBFT core, to prove that the campaign finds what it should (mutation
testing). Each mutant replaces one exact piece of source text; :func:`apply` writes a mutated
copy of the package, and ``benchmarks/consensus_mutants.py`` runs the campaign against each
until a scenario fails (the mutant is *killed*). A mutant that survives is a gap in the
campaign: a bug of that kind would go unnoticed. A test checks that every mutant's text is
still in the source, so a refactor cannot turn one into a silent no-op.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mutant", "MUTANTS", "apply", "package_root"]


@dataclass(frozen=True)
class Mutant:
    """One bug: every ``(path, old, new)`` edit applied together (a bug may span two guards)."""

    name: str
    bug: str  # what the mutation does, in words
    edits: tuple[tuple[str, str, str], ...]  # (file inside the edgeledger package, old text, new text)


def _m(name: str, bug: str, path: str, old: str, new: str) -> Mutant:
    return Mutant(name, bug, ((path, old, new),))


_CAST_GUARD = ("consensus/pbft/core.py",
               "        if not reproposal and (self.status is not Status.NORMAL or not self._in_window(vote.height)):",
               "        if not reproposal and not self._in_window(vote.height):")
_PREPARE_GUARD = "        if slot.view != self.view or self.status is not Status.NORMAL:\n            return []\n"


MUTANTS = (
    _m("commit-quorum-2f", "a block commits with 2f matching COMMITs instead of 2f+1",
           "consensus/pbft/core.py",
           "and len(self._counted(slot, slot.commits)) >= self.membership.quorum_at(slot.height)):",
           "and len(self._counted(slot, slot.commits)) >= 2 * self.membership.f_at(slot.height)):"),
    _m("new-view-skips-certificate-check", "VIEW-CHANGE validation no longer checks its prepared certificates",
           "consensus/pbft/viewchange.py",
           "and valid_prepared_certificate(membership, c, proposer_ok) for c in vc.prepared)",
           "for c in vc.prepared)"),
    Mutant("prepare-signed-with-current-view", "the fix reverted: a proposal kept from an older view is PREPAREd, "
           "signed with the replica's current view, also while it changes view (the reported bug)",
           (("consensus/pbft/core.py", _PREPARE_GUARD + "        reason = self._check_proposal(",
             "        slot.view = self.view\n        reason = self._check_proposal("), _CAST_GUARD)),
    Mutant("votes-during-view-change", "a replica changing view handles (and votes on) normal-case messages of the "
           "view it is changing to, before the NEW-VIEW",
           (("consensus/pbft/core.py",
             "            if message.view > self.view or (message.view == self.view and self.status is not "
             "Status.NORMAL):\n",
             "            if message.view > self.view:\n"),
            ("consensus/pbft/core.py",
             "            if self.status is not Status.NORMAL or not self._in_window(message.height):\n",
             "            if not self._in_window(message.height):\n"),
            ("consensus/pbft/core.py", _PREPARE_GUARD, "        if slot.view != self.view:\n            return []\n"),
            _CAST_GUARD)),
    _m("pre-prepare-from-non-primary", "a PRE-PREPARE is accepted from any validator, not only the primary",
           "consensus/pbft/core.py",
           "        if sender != self.primary_of(msg.view, msg.height):\n",
           "        if sender not in self.membership.validators_at(msg.height):\n"),
    _m("votes-not-persisted", "votes are signed and sent without being written to the durable log first",
           "consensus/pbft/durable.py",
           "        return [Persist(vote_key(view, height), height, VoteRecord(view=view, height=height, digest=digest))]",
           "        return []"),
    _m("restart-forgets-view", "a restarted replica comes back in view 0, not in the view it durably left for",
           "consensus/pbft/core.py",
           "        self.view = log.view\n        self.status = Status.VIEW_CHANGE if log.changing else Status.NORMAL\n",
           "        self.view = 0\n        self.status = Status.NORMAL\n"),
    _m("lowest-view-certificate", "NEW-VIEW re-proposes the prepared certificate of the lowest view per height",
           "consensus/pbft/viewchange.py",
           "            if h > min_s and (h not in best or rank > _rank(best[h])):",
           "            if h > min_s and (h not in best or rank < _rank(best[h])):"),
    _m("block-not-extending-chain", "a proposal is accepted without extending the last committed block",
           "consensus/pbft/core.py",
           "        if header.height != height or header.prev_hash != self.last_hash:",
           "        if header.height != height:"),
    _m("vote-counted-twice", "the replica's own COMMIT counts twice toward the 2f+1",
           "consensus/pbft/core.py",
           "and len(self._counted(slot, slot.commits)) >= self.membership.quorum_at(slot.height)):",
           "and len(self._counted(slot, slot.commits)) + (self.node_id in slot.commits) "
           ">= self.membership.quorum_at(slot.height)):"),
    _m("checkpoint-f-plus-1", "a checkpoint becomes stable with f+1 matching CHECKPOINTs instead of 2f+1",
           "consensus/pbft/checkpoints.py",
           "            if len(matching) >= self.membership.quorum_at(h):",
           "            if len(matching) >= self.membership.f_at(h) + 1:"),
    _m("watermark-skipped", "messages are accepted for any height above the committed one (no high watermark)",
           "consensus/pbft/core.py",
           "        return self.committed_height < height <= self.checkpoints.low_water + self.config.window",
           "        return self.committed_height < height"),
    _m("view-change-without-certificates", "VIEW-CHANGEs carry no prepared certificates (the P set is lost)",
           "consensus/pbft/recovery.py",
           "        prepared = [self.prepared[h] for h in sorted(self.prepared) if h > cps.stable_height]",
           "        prepared = []"),
    _m("new-view-not-validated", "a NEW-VIEW is installed without checking its VIEW-CHANGEs and re-proposals",
           "consensus/pbft/recovery.py",
           "        if reason is not None:\n            conflicts = certificate_conflicts",
           "        if reason is not None and False:\n            conflicts = certificate_conflicts"),
)


def package_root() -> Path:
    """The directory of the installed ``edgeledger`` package."""
    return Path(__file__).resolve().parents[2]


def apply(mutant: Mutant, into: Path) -> Path:
    """Copy the package into ``into`` with ``mutant`` applied; returns the directory to put on
    ``PYTHONPATH``. Raises ValueError when an edit's text is not exactly once in the source."""
    dest = into / "edgeledger"
    shutil.copytree(package_root(), dest, ignore=shutil.ignore_patterns("__pycache__"))
    for path, old, new in mutant.edits:
        target = dest / path
        text = target.read_text()
        if text.count(old) != 1:
            raise ValueError(f"mutant {mutant.name}: its text occurs {text.count(old)} times in {path}, expected once")
        target.write_text(text.replace(old, new))
    return into
