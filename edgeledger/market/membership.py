"""Consortium membership (EdgeToll): roles, sealer votes and the validator set.

Roles: ``proxy`` and ``company`` are sealers (they vote in PBFT); ``en`` (edge node) and
``device`` are observers. An observer joins by registering its identifying information
(a digest). Adding a company as a sealer, or revoking any member, needs yes votes from
more than two thirds of the current companies. A revocation that would leave fewer than
:data:`MIN_SEALERS` (4) sealers is refused, as a proposal and when its deciding vote would
enact it: PBFT needs n >= 3f + 1 with f >= 1. A change committed in block ``h`` takes
effect at the block boundary ``h + change_delay`` (``Membership.change_delay`` = the PBFT
window + 1, so no replica has voted past it before it knew the change):
:func:`validator_set` for that height includes it, and :func:`validator_schedule` is the hook
a node registers (``Node.validator_schedule``) so that its PBFT replica follows it.

These are transaction kinds rather than a contract because they write the global
``membership/role/<id>`` keys that every contract's access control reads.
"""

from __future__ import annotations

from typing import Literal

from edgeledger.codec import Record, decode, encode
from edgeledger.ledger.contracts import ROLE_KEY_PREFIX, StateView, role_of
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import LedgerState, TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction

__all__ = [
    "JoinRequest", "MembershipProposal", "MembershipVote", "ValidatorChange", "SEALER_ROLES", "OBSERVER_ROLES",
    "companies", "validator_set", "validator_schedule", "proposal_state", "MIN_SEALERS",
]

SEALER_ROLES = ("proxy", "company")
MIN_SEALERS = 4  # PBFT: n >= 3f + 1 with f >= 1
OBSERVER_ROLES = ("en", "device")
_PROPOSALS = "membership/proposal/"


class JoinRequest(Record):
    """An EN or device registers itself as an observer with a digest of its identifying information."""

    role: Literal["en", "device"]
    info_digest: bytes


class MembershipProposal(Record):
    action: Literal["add_sealer", "revoke"]
    node_id: str


class MembershipVote(Record):
    proposal: int
    approve: bool


class ValidatorChange(Record):
    """From block ``effective_height`` on, the sealers are ``validators``."""

    effective_height: int
    validators: list[str]


class _Proposal(Record):
    id: int
    action: str
    node_id: str
    proposer: str
    yes: list[str]
    no: list[str]
    status: str  # open | passed | failed


def companies(view: StateView, membership: Membership) -> list[str]:
    """Current companies: genesis ones and admitted ones, minus the revoked (sorted)."""
    raw = view.get("membership/companies")
    if raw is not None:
        return decode(raw, list[str])
    return sorted(n for n, i in membership.identities.items() if i.role == "company")


def _changes(view: StateView) -> list[ValidatorChange]:
    raw = view.get("membership/validators")
    return decode(raw, list[ValidatorChange]) if raw is not None else []


def validator_set(state: LedgerState, height: int | None = None) -> list[str]:
    """The sealers that vote on block ``height`` (default: the next block, ``state.height + 1``)."""
    target = state.height + 1 if height is None else height
    current = list(state.membership.validators)
    for change in _changes(state.kv):
        if change.effective_height <= target:
            current = change.validators
    return current


def validator_schedule(state: LedgerState) -> list[tuple[int, list[str]]]:
    """Every committed validator change as ``(effective_height, validators)`` (the node's hook)."""
    return [(c.effective_height, list(c.validators)) for c in _changes(state.kv)]


def proposal_state(view: StateView, proposal: int) -> _Proposal | None:
    raw = view.get(f"{_PROPOSALS}{proposal}")
    return None if raw is None else decode(raw, _Proposal)


@tx_kinds.register("membership.join")
def apply_join(ctx: TxContext, tx: Transaction) -> None:
    req = decode(tx.payload, JoinRequest)
    current = role_of(ctx, ctx.membership, tx.sender)
    if current in SEALER_ROLES or ctx.get(ROLE_KEY_PREFIX + tx.sender) is not None:
        raise TransactionRejected(f"{tx.sender!r} is already a member with role {current!r}")
    ctx.put(ROLE_KEY_PREFIX + tx.sender, req.role.encode())
    ctx.put(f"membership/info/{tx.sender}", req.info_digest)


def _require_company(ctx: TxContext, sender: str, allow_proxy: bool) -> None:
    role = role_of(ctx, ctx.membership, sender)
    allowed = SEALER_ROLES if allow_proxy else ("company",)
    if role not in allowed:
        raise TransactionRejected(f"{sender!r} has role {role!r}; expected {' or '.join(allowed)}")


def _sealers_now(ctx: TxContext) -> list[str]:
    changes = _changes(ctx)
    return changes[-1].validators if changes else list(ctx.membership.validators)


@tx_kinds.register("membership.propose")
def apply_propose(ctx: TxContext, tx: Transaction) -> None:
    prop = decode(tx.payload, MembershipProposal)
    _require_company(ctx, tx.sender, allow_proxy=True)
    if prop.node_id not in ctx.membership.identities:
        raise TransactionRejected(f"{prop.node_id!r} has no registered key; it cannot seal or be revoked")
    sealers = _sealers_now(ctx)
    if prop.action == "add_sealer" and prop.node_id in sealers:
        raise TransactionRejected(f"{prop.node_id!r} is already a sealer")
    if prop.action == "revoke":
        _check_revoke(sealers, prop.node_id)
    count = decode(ctx.get("membership/proposal_count") or encode(0), int)
    ctx.put(f"{_PROPOSALS}{count}", encode(_Proposal(id=count, action=prop.action, node_id=prop.node_id,
                                                      proposer=tx.sender, yes=[], no=[], status="open")))
    ctx.put("membership/proposal_count", encode(count + 1))


@tx_kinds.register("membership.vote")
def apply_vote(ctx: TxContext, tx: Transaction) -> None:
    vote = decode(tx.payload, MembershipVote)
    comps = companies(ctx, ctx.membership)
    if tx.sender not in comps:
        raise TransactionRejected(f"only companies vote on membership; {tx.sender!r} is not one of {comps}")
    prop = proposal_state(ctx, vote.proposal)
    if prop is None or prop.status != "open":
        raise TransactionRejected(f"proposal {vote.proposal} is {'unknown' if prop is None else prop.status}")
    if tx.sender in prop.yes or tx.sender in prop.no:
        raise TransactionRejected(f"{tx.sender!r} already voted on proposal {vote.proposal}")
    yes = sorted(prop.yes + [tx.sender]) if vote.approve else prop.yes
    no = sorted(prop.no + [tx.sender]) if not vote.approve else prop.no
    status = "open"
    if 3 * len([c for c in yes if c in comps]) > 2 * len(comps):  # more than two thirds
        status = "passed"
        _enact(ctx, prop.action, prop.node_id, comps)
    elif 3 * (len(comps) - len(no)) <= 2 * len(comps):  # two thirds can no longer be reached
        status = "failed"
    ctx.put(f"{_PROPOSALS}{prop.id}", encode(_Proposal(id=prop.id, action=prop.action, node_id=prop.node_id,
                                                      proposer=prop.proposer, yes=yes, no=no, status=status)))


def _check_revoke(sealers: list[str], node_id: str) -> None:
    """Refuse a revocation that would take the sealers (the latest scheduled set) below MIN_SEALERS."""
    if node_id in sealers and len(sealers) - 1 < MIN_SEALERS:
        raise TransactionRejected(f"revoking {node_id!r} would leave {len(sealers) - 1} sealers "
                                  f"({sorted(s for s in sealers if s != node_id)}); PBFT needs n >= 3f + 1 with "
                                  f"f >= 1, i.e. at least {MIN_SEALERS}: add a sealer first")


def _enact(ctx: TxContext, action: str, node_id: str, comps: list[str]) -> None:
    sealers = _sealers_now(ctx)
    if action == "revoke":  # another revocation may have passed since this one was proposed
        _check_revoke(sealers, node_id)
    if action == "add_sealer":
        sealers = sealers + [node_id]
        comps = sorted(set(comps) | {node_id})
        ctx.put(ROLE_KEY_PREFIX + node_id, b"company")
    else:
        sealers = [s for s in sealers if s != node_id]
        comps = [c for c in comps if c != node_id]
        ctx.put(ROLE_KEY_PREFIX + node_id, b"")
    ctx.put("membership/companies", encode(comps))
    effective = ctx.height + ctx.membership.change_delay
    changes = _changes(ctx) + [ValidatorChange(effective_height=effective, validators=sealers)]
    ctx.put("membership/validators", encode(changes))
