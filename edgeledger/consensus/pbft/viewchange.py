"""View-change rules (Castro & Liskov, TOCS 2002, section 4.4), as pure functions.

- a VIEW-CHANGE is valid when it is signed by its sender, its checkpoint proof holds 2f+1
  matching CHECKPOINTs (or is the genesis checkpoint at height 0), and each prepared
  certificate holds a PRE-PREPARE and 2f matching PREPAREs from distinct other replicas;
- the new primary computes ``min_s`` = the highest stable checkpoint in V and, for every
  height above it, re-proposes the block of the prepared certificate with the highest view
  (the O set). Blocks are chained, so O stops at the first height with no certificate or
  whose block does not extend the previous one: no request can have committed past such a
  gap (its 2f+1 preparers would have committed the gap height, and one of them is in V);
- a backup recomputes O from V and accepts the NEW-VIEW only if it matches;
- two prepared certificates of the *same* view for different digests at one height prove that
  some replica signed both (2f+1 signers each, so at least f+1 in common): with at most f
  faulty replicas this cannot happen, so it is never resolved by picking one. The new primary
  leaves the VIEW-CHANGEs carrying them out of V (it waits for other ones), backups refuse a
  NEW-VIEW whose V holds them, and both report the replicas whose signatures conflict
  (:class:`CertificateConflict`).

Validator sets change at block boundaries (:class:`Membership` schedule): a prepared
certificate or checkpoint proof for height h is checked against the set in force at h; the
VIEW-CHANGE senders, their 2f+1 quorum and the NEW-VIEW leader against the set at the
*epoch* height, the first height the checking replica has not committed. Changes activate
more than a PBFT window after they commit, so replicas in one window agree on that set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeledger.consensus.pbft.events import Checkpoint, NewView, PreparedCertificate, ViewChange
from edgeledger.ledger.identity import Membership

__all__ = ["valid_checkpoint_proof", "valid_prepared_certificate", "valid_view_change",
           "reproposals", "valid_new_view", "CertificateConflict", "certificate_conflicts"]

Verifier = Callable[[str, object], bool]


def _signed(membership: Membership, msg: object, height: int) -> bool:
    replica = getattr(msg, "replica")  # noqa: B009 (msg is any signed message: mypy sees an object)
    return membership.is_validator_at(replica, height) and membership.verify(
        replica, msg.signing_bytes(membership.chain_id), msg.signature)  # type: ignore[attr-defined]


def valid_checkpoint_proof(membership: Membership, height: int, digest: bytes, proof: list[Checkpoint],
                           genesis_hash: bytes) -> bool:
    if height == 0:
        return digest == genesis_hash
    signers = {c.replica for c in proof
               if c.height == height and c.digest == digest and _signed(membership, c, height)}
    return len(signers) >= membership.quorum_at(height)


def valid_prepared_certificate(membership: Membership, cert: PreparedCertificate,
                               proposer_ok: Callable[[int, int, str], bool]) -> bool:
    pre = cert.pre_prepare
    if not proposer_ok(pre.view, pre.height, pre.replica) or not _signed(membership, pre, pre.height):
        return False
    digest = pre.block.hash
    if pre.block.height != pre.height:
        return False
    signers = {p.replica for p in cert.prepares
               if p.view == pre.view and p.height == pre.height and p.digest == digest and p.replica != pre.replica
               and _signed(membership, p, pre.height)}
    return len(signers) >= membership.quorum_at(pre.height) - 1


def valid_view_change(membership: Membership, vc: ViewChange, genesis_hash: bytes,
                      proposer_ok: Callable[[int, int, str], bool], epoch: int) -> bool:
    """``vc`` is signed by a validator of the set at ``epoch`` and its proofs hold (see module doc)."""
    if not _signed(membership, vc, epoch):
        return False
    if not valid_checkpoint_proof(membership, vc.checkpoint_height, vc.checkpoint_digest, vc.checkpoint_proof,
                                  genesis_hash):
        return False
    heights = [c.pre_prepare.height for c in vc.prepared]
    if len(heights) != len(set(heights)):
        return False
    return all(c.pre_prepare.height > vc.checkpoint_height and c.pre_prepare.view < vc.new_view
               and valid_prepared_certificate(membership, c, proposer_ok) for c in vc.prepared)


@dataclass(frozen=True)
class CertificateConflict:
    """Prepared certificates of one view for two digests at one height: evidence of equivocation."""

    view: int
    height: int
    digests: tuple[bytes, bytes]
    signers: tuple[str, ...]  # replicas whose signatures are on both (at least one is faulty)
    carriers: tuple[str, ...]  # the VIEW-CHANGE senders that reported them

    def describe(self) -> str:
        return (f"prepared certificates of view {self.view} for two digests at height {self.height} "
                f"({self.digests[0].hex()[:12]}, {self.digests[1].hex()[:12]}): replicas {list(self.signers)} "
                f"signed both (reported by {list(self.carriers)})")


def _signers(cert: PreparedCertificate) -> set[str]:
    return {cert.pre_prepare.replica} | {p.replica for p in cert.prepares}


def certificate_conflicts(view_changes: list[ViewChange]) -> list[CertificateConflict]:
    """Every pair of same-view certificates for different digests at one height in ``view_changes``."""
    seen: dict[tuple[int, int], list[tuple[PreparedCertificate, str]]] = {}
    for vc in view_changes:
        for cert in vc.prepared:
            seen.setdefault((cert.pre_prepare.view, cert.pre_prepare.height), []).append((cert, vc.replica))
    conflicts = []
    for (view, height), certs in sorted(seen.items()):
        by_digest: dict[bytes, tuple[PreparedCertificate, list[str]]] = {}
        for cert, carrier in certs:
            by_digest.setdefault(cert.pre_prepare.block.hash, (cert, []))[1].append(carrier)
        digests = sorted(by_digest)
        for i, a in enumerate(digests):
            for b in digests[i + 1:]:
                (ca, ra), (cb, rb) = by_digest[a], by_digest[b]
                conflicts.append(CertificateConflict(view, height, (a, b), tuple(sorted(_signers(ca) & _signers(cb))),
                                                     tuple(sorted(set(ra) | set(rb)))))
    return conflicts


def _rank(cert: PreparedCertificate) -> tuple[int, bytes]:
    """Higher view first; within one view the lower digest (complemented so that max picks it)."""
    return cert.pre_prepare.view, bytes(255 - b for b in cert.pre_prepare.block.hash)


def reproposals(view_changes: list[ViewChange]) -> tuple[int, bytes, list[PreparedCertificate]]:
    """``(min_s, digest at min_s, certificates to re-propose in height order)`` from V.

    The result does not depend on the order of ``view_changes``. Callers refuse a V with
    :func:`certificate_conflicts` first; should one reach here, the lower digest of a same-view
    pair is taken so that the new primary and the backups still compute the same O set."""
    base = max(view_changes, key=lambda vc: (vc.checkpoint_height, vc.replica))
    min_s, prev = base.checkpoint_height, base.checkpoint_digest
    best: dict[int, PreparedCertificate] = {}
    for vc in view_changes:
        for cert in vc.prepared:
            h = cert.pre_prepare.height
            rank = _rank(cert)
            if h > min_s and (h not in best or rank > _rank(best[h])):
                best[h] = cert
    chosen: list[PreparedCertificate] = []
    h = min_s + 1
    while h in best and best[h].pre_prepare.block.header.prev_hash == prev:
        chosen.append(best[h])
        prev = best[h].pre_prepare.block.hash
        h += 1
    return min_s, base.checkpoint_digest, chosen


def valid_new_view(membership: Membership, nv: NewView, genesis_hash: bytes,
                   proposer_ok: Callable[[int, int, str], bool], epoch: int, leader: str) -> str | None:
    """None when ``nv`` is a correct NEW-VIEW from ``leader`` for a replica whose next height is
    ``epoch``, else why not."""
    if nv.replica != leader or not _signed(membership, nv, epoch):
        return f"NEW-VIEW for view {nv.view} not signed by its primary {leader}"
    senders = {vc.replica for vc in nv.view_changes}
    quorum = membership.quorum_at(epoch)
    if len(senders) != len(nv.view_changes) or len(senders) < quorum:
        return f"NEW-VIEW needs a quorum of {quorum} distinct VIEW-CHANGEs, got {len(senders)}"
    for vc in nv.view_changes:
        if vc.new_view != nv.view or not valid_view_change(membership, vc, genesis_hash, proposer_ok, epoch):
            return f"NEW-VIEW carries an invalid VIEW-CHANGE from {vc.replica!r}"
    conflicts = certificate_conflicts(nv.view_changes)
    if conflicts:
        return f"NEW-VIEW for view {nv.view} carries {conflicts[0].describe()}"
    _, _, chosen = reproposals(nv.view_changes)
    expected = [(c.pre_prepare.height, c.pre_prepare.block.hash) for c in chosen]
    got = [(p.height, p.block.hash) for p in nv.pre_prepares]
    if expected != got:
        return "NEW-VIEW re-proposals do not match the prepared certificates in its VIEW-CHANGEs"
    for p in nv.pre_prepares:
        if p.view != nv.view or p.replica != nv.replica or not _signed(membership, p, epoch):
            return f"NEW-VIEW re-proposal for height {p.height} is not signed for view {nv.view}"
    return None
