"""Open membership: a new device or edge node joins a running network through the center.

ChainFL: a user "only needs the IP of the communication center". A new node claims an id at
the center and registers its address as every node does; it also leaves there a signed
:class:`AdmissionRequest` (its id, role and public key, signed with that key and bound to
the chain: proof that it holds the key). A sponsor -- a member whose role the role policy
:data:`ADMISSION_POLICY` lets admit that role (the cloud admits devices and edge servers,
EdgeToll's companies admit edge nodes) -- picks the request up (:class:`AdmissionSponsor`)
and submits a ``membership.admit`` transaction. Once it commits, every node registers the
key (``Node.identity_hook`` = :func:`admitted_identities`) and the newcomer's signatures count
from the next block on: its transactions are accepted, its messages are authenticated, and
contracts see its role. Nobody restarts.

The transaction re-checks everything on chain (deterministically, in block order): the
request's signature against the key it names, the chain id, the sponsor's current role
against the policy, and that the id is new. An id, once admitted, keeps its key; a node that
should leave is revoked by the consortium's ``membership.propose``/``membership.vote``.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.keys import PrivateKey, verify_signature
from edgeledger.effects import Effect, Metric, Rejected, SubmitTransaction
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts.runtime import IDENTITY_KEY_PREFIX, ROLE_KEY_PREFIX, role_of
from edgeledger.ledger.identity import Identity
from edgeledger.ledger.state import LedgerState, Receipt, TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.node.service import Service

__all__ = ["AdmissionRequest", "AdmissionList", "ADMISSION_POLICY", "make_admission_request", "admission_statement",
           "admitted_identities", "identity_key", "AdmissionSponsor", "AdmissionService", "AdmissionDesk",
           "check_request", "MAX_PENDING_ADMISSIONS"]

#: requests the center keeps at once (a flood of fresh keys cannot grow it without bound)
MAX_PENDING_ADMISSIONS = 1024

#: role to admit -> roles whose members may sponsor it (the membership contract's role policy)
ADMISSION_POLICY: dict[str, tuple[str, ...]] = {
    "device": ("cloud", "edge"),  # ChainFL: devices join through the cloud or their edge
    "edge": ("cloud",),
    "en": ("company", "proxy"),  # EdgeToll: companies register their edge nodes
}
_ADMITTED = "membership/admitted"


class AdmissionRequest(Record, tag="membership.admission_request"):
    """A would-be member's signed request: ``signature`` by ``public_key`` over :func:`admission_statement`."""

    chain_id: str
    node_id: str
    role: str
    scheme: str
    public_key: bytes
    signature: bytes = b""


class AdmissionList(Record, tag="membership.admission_list"):
    """The center's pending requests, handed to a sponsor."""

    requests: list[AdmissionRequest]


def admission_statement(req: AdmissionRequest) -> bytes:
    return encode(("edgeledger-admission", req.chain_id, req.node_id, req.role, req.scheme, req.public_key))


def make_admission_request(key: PrivateKey, chain_id: str, node_id: str, role: str) -> AdmissionRequest:
    unsigned = AdmissionRequest(chain_id=chain_id, node_id=node_id, role=role, scheme=key.scheme,
                                public_key=key.public_key)
    return AdmissionRequest(chain_id=chain_id, node_id=node_id, role=role, scheme=key.scheme,
                            public_key=key.public_key, signature=key.sign(admission_statement(unsigned)))


def identity_key(node_id: str) -> str:
    """The state key holding an admitted identity."""
    return IDENTITY_KEY_PREFIX + node_id


def check_request(req: AdmissionRequest, chain_id: str) -> str | None:
    """Why ``req`` cannot be admitted on chain ``chain_id`` whatever the state, or None."""
    if req.chain_id != chain_id:
        return f"admission request of {req.node_id!r} is for chain {req.chain_id!r}, not {chain_id!r}"
    if req.role not in ADMISSION_POLICY:
        return f"role {req.role!r} cannot join by admission; expected one of {sorted(ADMISSION_POLICY)}"
    if not req.node_id or not all(c.isalnum() or c in "-_." for c in req.node_id):
        return f"node id {req.node_id!r} must be non-empty letters, digits, '-', '_' or '.'"
    try:
        ok = verify_signature(req.scheme, req.public_key, admission_statement(req), req.signature)
    except Exception:  # an unknown scheme or a malformed key: not a valid request (bad input never raises)
        ok = False
    return None if ok else f"admission request of {req.node_id!r}: bad signature (not signed by the key it names)"


@tx_kinds.register("membership.admit")
def apply_admit(ctx: TxContext, tx: Transaction) -> None:
    req = decode(tx.payload, AdmissionRequest)
    problem = check_request(req, ctx.membership.chain_id)
    if problem is not None:
        raise TransactionRejected(problem)
    sponsor = role_of(ctx, ctx.membership, tx.sender)
    allowed = ADMISSION_POLICY[req.role]
    if sponsor not in allowed:
        raise TransactionRejected(f"{tx.sender!r} (role {sponsor!r}) may not admit a {req.role!r}; "
                                  f"the role policy lets {' or '.join(allowed)} do it")
    # founders, not .identities: each node admits at its own pace; the state says what is admitted
    if req.node_id in ctx.membership.founders or ctx.get(identity_key(req.node_id)) is not None:
        raise TransactionRejected(f"{req.node_id!r} is already a member; an id keeps its key")
    identity = Identity(node_id=req.node_id, role=req.role, scheme=req.scheme, public_key=req.public_key)
    ctx.put(identity_key(req.node_id), encode(identity))
    ctx.put(ROLE_KEY_PREFIX + req.node_id, req.role.encode())
    raw = ctx.get(_ADMITTED)
    ctx.put(_ADMITTED, encode((decode(raw, list[str]) if raw is not None else []) + [req.node_id]))


def admitted_identities(state: LedgerState) -> list[Identity]:
    """Every identity committed ``membership.admit`` transactions added, in admission order (the
    node's ``identity_hook``)."""
    raw = state.kv.get(_ADMITTED)
    ids = decode(raw, list[str]) if raw is not None else []
    return [decode(state.kv[identity_key(n)], Identity) for n in ids if identity_key(n) in state.kv]


class AdmissionSponsor:
    """A sponsor's sans-IO core: turn pending requests it may admit into ``membership.admit``
    transactions, once each (again only if the first did not commit)."""

    def __init__(self, node_id: str, key: PrivateKey, role: str, open_roles: tuple[str, ...] | list[str]) -> None:
        self.node_id, self.key, self.role = node_id, key, role
        self.open_roles = tuple(r for r in open_roles if role in ADMISSION_POLICY.get(r, ()))
        self.nonce = 0  # continues above the highest nonce the chain saw from us (so a restart never reuses one)
        self.submitted: dict[str, bytes] = {}  # node id -> the tx id of our admit

    def on_requests(self, requests: list[AdmissionRequest], state: LedgerState) -> list[Effect]:
        effects: list[Effect] = []
        for req in requests:
            if req.role not in self.open_roles or req.node_id in self.submitted:
                continue
            if req.node_id in state.membership.identities:
                continue
            problem = check_request(req, state.membership.chain_id)
            if problem is not None:
                effects.append(Rejected(req.node_id, "membership.admission", problem))
                continue
            self.nonce = max(self.nonce, state.nonces.get(self.node_id, 0)) + 1
            tx = make_transaction(self.key, self.node_id, self.nonce, "membership.admit", req)
            self.submitted[req.node_id] = tx.tx_id
            effects += [SubmitTransaction(tx), Metric("membership.admission_sponsored", 1.0)]
        return effects

    def on_block(self, block: Block, receipts: list[Receipt]) -> list[Effect]:
        """A refused admit (say a race with another sponsor) may be retried on the next request list."""
        effects: list[Effect] = []
        mine = {t: n for n, t in self.submitted.items()}
        for tx, receipt in zip(block.transactions, receipts):
            node = mine.get(tx.tx_id)
            if node is not None and not receipt.ok:
                del self.submitted[node]
                effects.append(Rejected(self.node_id, "membership.admit", receipt.reason))
        return effects


class AdmissionService(Service):
    """A sponsor node: the center's pending requests arrive as an :class:`AdmissionList` (the node
    process polls the center and delivers it locally)."""

    message_types = (AdmissionList,)

    def __init__(self, sponsor: AdmissionSponsor, state: LedgerState, center: str = "center") -> None:
        self.sponsor, self.state, self.center = sponsor, state, center

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if sender != self.center:
            return [Rejected(sender, "membership.admission_list", "admission lists come from the center")]
        return self.sponsor.on_requests(list(message.requests), self.state)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        return self.sponsor.on_block(block, receipts)


class AdmissionDesk:
    """The communication center's pending admission requests (sans-IO): each must come from a node
    registered at the center under the same id and key, and carry a valid self-signature."""

    def __init__(self) -> None:
        self.pending: dict[str, AdmissionRequest] = {}

    def submit(self, req: AdmissionRequest, registered_key: bytes | None) -> str | None:
        """Keep ``req``; returns why it is refused, or None."""
        if registered_key is None:
            return f"{req.node_id!r} is not registered at the center; claim an id and register first"
        if registered_key != req.public_key:
            return f"{req.node_id!r} is registered with another key"
        problem = check_request(req, req.chain_id)  # the center knows no chain: the chain re-checks it
        if problem is not None:
            return problem
        if req.node_id not in self.pending and len(self.pending) >= MAX_PENDING_ADMISSIONS:
            return f"the center holds {MAX_PENDING_ADMISSIONS} pending admission requests; try again later"
        self.pending[req.node_id] = req
        return None

    def requests(self) -> AdmissionList:
        return AdmissionList(requests=[self.pending[k] for k in sorted(self.pending)])

    def forget(self, admitted: list[str]) -> None:
        """Drop requests whose node is a member now."""
        for node_id in admitted:
            self.pending.pop(node_id, None)
