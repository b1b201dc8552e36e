"""Execute-order-validate as Hyperledger Fabric does it: endorse, assemble, validate.

Androulaki et al., "Hyperledger Fabric", EuroSys 2018, section 3:

1. *execute* -- an endorsing peer simulates a proposal (:class:`EndorseRequest`) against its
   committed state and signs the result, the read set with versions and the write set
   (:func:`endorse_proposal`); it never changes its state;
2. the client collects responses until the contract's endorsement policy is met, checks that
   the endorsers agree (:func:`assemble`: a non-deterministic contract is caught here), and
   submits the call carrying the result and every signature; *ordering* (PBFT or PoW) puts it
   in a block unchanged;
3. *validate* -- every committer checks each signature against the endorser's registered key
   and the set of valid endorsers against the policy, then the read versions (MVCC), and
   applies the write set *without running the contract* (:func:`validate_endorsed`). A call
   that fails stays in the block, marked invalid with a validation code.

An endorsement is bound to one transaction: the signed statement names the chain, the
client, the nonce of the transaction it will sign, and the call, so it cannot be replayed in
another transaction or on another chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from edgeledger.codec import encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.contracts.policy import parse_policy, satisfied
from edgeledger.ledger.contracts.records import (
    ABSENT, EXECUTE_ORDER_VALIDATE, ContractCall, ContractMeta, Endorsement, EndorseRequest, EndorserSignature,
    ProposalResponse,
)
from edgeledger.ledger.contracts.runtime import (
    PRIVATE_HASH_PREFIX, ContractError, StateView, collection_owner, read_entry, role_of, verify_registered,
)
from edgeledger.ledger.identity import Membership

__all__ = ["endorsement_statement", "assemble", "validate_endorsed", "EndorsementMismatch", "signed_endorsers",
           "written_collections", "sign_endorsement", "proposal_error"]


class EndorsementMismatch(ContractError):
    """Endorsers returned different results for one proposal (state skew or a non-deterministic
    contract); the client must not submit it."""


def endorsement_statement(chain_id: str, sender: str, nonce: int, call: ContractCall,
                          endorsement: Endorsement) -> bytes:
    """The bytes an endorser signs: the chain, the client and nonce of the one transaction it
    endorses, the call, and what simulating it produced."""
    return encode(("edgeledger-endorsement", chain_id, sender, nonce, call.contract, call.method, list(call.args),
                   endorsement))


def assemble(request: EndorseRequest, responses: Iterable[ProposalResponse]) -> ContractCall:
    """The client's step between execute and order: every response must endorse the same result;
    returns the call to sign (with ``request.nonce``) and submit."""
    responses = sorted(responses, key=lambda r: r.endorser)
    if not responses:
        raise ContractError(f"{request.call.contract}.{request.call.method}: no endorsement to assemble",
                            code="ENDORSEMENT_POLICY_FAILURE")
    refused = [f"{r.endorser}: {r.error}" for r in responses if r.error or r.endorsement is None]
    if refused:
        raise ContractError(f"{request.call.contract}.{request.call.method}: endorsement refused by "
                            + "; ".join(refused), code="ENDORSEMENT_POLICY_FAILURE")
    for r in responses:
        if (r.sender, r.nonce) != (request.sender, request.nonce):
            raise ContractError(f"endorsement by {r.endorser!r} is for ({r.sender!r}, nonce {r.nonce}), "
                                f"not ({request.sender!r}, nonce {request.nonce})")
    first = responses[0]
    differ = [r.endorser for r in responses[1:] if r.endorsement != first.endorsement]
    if differ:
        raise EndorsementMismatch(
            f"{request.call.contract}.{request.call.method}: endorsers disagree ({first.endorser!r} and {differ} "
            "returned different read/write sets or results): the contract is non-deterministic or their states "
            "differ; not submitted", code="ENDORSEMENT_POLICY_FAILURE")
    call = request.call
    return ContractCall(contract=call.contract, method=call.method, args=list(call.args),
                        endorsement=first.endorsement,
                        endorsements=[EndorserSignature(endorser=r.endorser, signature=r.signature) for r in responses])


def sign_endorsement(key: PrivateKey, endorser: str, chain_id: str, request: EndorseRequest,
                     endorsement: Endorsement) -> ProposalResponse:
    """An endorsing peer's signed answer to ``request``."""
    statement = endorsement_statement(chain_id, request.sender, request.nonce, request.call, endorsement)
    return ProposalResponse(endorser=endorser, sender=request.sender, nonce=request.nonce, endorsement=endorsement,
                            signature=key.sign(statement))


def signed_endorsers(view: StateView, membership: Membership, sender: str, nonce: int,
                     call: ContractCall) -> tuple[set[str], list[str]]:
    """(endorsers whose signature verifies against the key the state registers for them, the ones
    that do not)."""
    valid: set[str] = set()
    bad: list[str] = []
    if call.endorsement is None:
        return valid, bad
    statement = endorsement_statement(membership.chain_id, sender, nonce, call, call.endorsement)
    for sig in call.endorsements:
        if sig.endorser in valid:
            continue
        if verify_registered(view, membership, sig.endorser, statement, sig.signature):
            valid.add(sig.endorser)
        else:
            bad.append(sig.endorser)
    return valid, bad


def written_collections(endorsement: Endorsement) -> list[str]:
    """The private data collections the endorsed write set writes (from its hashed keys)."""
    out = {w.key[len(PRIVATE_HASH_PREFIX):].rpartition("/")[0] for w in endorsement.write_set
           if w.key.startswith(PRIVATE_HASH_PREFIX)}
    return sorted(out)


def _check_rwset(contract: str, endorsement: Endorsement) -> None:
    for w in endorsement.write_set:
        if not w.key:
            raise ContractError(f"endorsed write set of {contract!r} has an empty key", code="BAD_RWSET")
        if w.key.startswith(PRIVATE_HASH_PREFIX):
            collection, _, digest = w.key[len(PRIVATE_HASH_PREFIX):].rpartition("/")
            if not collection or len(digest) != 64 or w.value is None or len(w.value) != 34:  # msgpack bin8 of 32
                raise ContractError(f"endorsed write set of {contract!r}: {w.key!r} is not a private data hash "
                                    "(sha256 of key and value)", code="BAD_RWSET")
        elif w.key.startswith("#"):
            raise ContractError(f"endorsed write set of {contract!r} writes reserved key {w.key!r}", code="BAD_RWSET")
    keys = [w.key for w in endorsement.write_set]
    if len(set(keys)) != len(keys):
        raise ContractError(f"endorsed write set of {contract!r} writes a key twice", code="BAD_RWSET")


def validate_endorsed(view: StateView, membership: Membership, meta: ContractMeta, sender: str, nonce: int,
                      call: ContractCall) -> Endorsement:
    """Fabric's validation of one endorsed call against the state before it (block order);
    returns the endorsement to apply, or raises :class:`ContractError` with its validation code."""
    what = f"{call.contract}.{call.method}"
    if meta.execution != EXECUTE_ORDER_VALIDATE:
        raise ContractError(f"{what}: contract {call.contract!r} runs {meta.execution}; its calls carry no "
                            "endorsement", code="INVALID_CHAINCODE")
    endorsement = call.endorsement
    if endorsement is None or not call.endorsements:
        raise ContractError(f"{what}: contract {call.contract!r} runs execute-order-validate and the call carries "
                            f"no endorsement; policy {meta.endorsement_policy}", code="ENDORSEMENT_POLICY_FAILURE")
    if (endorsement.code, endorsement.version) != (meta.code, meta.version):
        raise ContractError(f"{what}: endorsed against {endorsement.code}@{endorsement.version}, the contract now runs "
                            f"{meta.code}@{meta.version}", code="EXPIRED_CHAINCODE")
    _check_rwset(call.contract, endorsement)
    valid, bad = signed_endorsers(view, membership, sender, nonce, call)
    policy = parse_policy(meta.endorsement_policy)

    def role(node: str) -> str | None:
        return role_of(view, membership, node)

    forged = f"; signatures that do not verify: {sorted(bad)}" if bad else ""
    if not satisfied(policy, valid, role):
        raise ContractError(f"{what}: valid endorsements by {sorted(valid)} do not satisfy the endorsement policy "
                            f"{policy}{forged}", code="ENDORSEMENT_POLICY_FAILURE")
    for collection in written_collections(endorsement):
        owner = collection_owner(collection)
        if owner is None:
            raise ContractError(f"{what}: writes unknown private data collection {collection!r}", code="BAD_RWSET")
        if owner not in valid:  # a write to a member's collection needs that member's endorsement
            raise ContractError(f"{what}: writes private data collection {collection!r} without the endorsement of "
                                f"its member {owner!r}{forged}", code="ENDORSEMENT_POLICY_FAILURE")
    for read in endorsement.read_set:
        entry = read_entry(view, call.contract, read.key)
        current = entry.version if entry else ABSENT
        if current != read.version:
            raise ContractError(
                f"MVCC read conflict on key {read.key!r} of contract {call.contract!r}: read at version "
                f"({read.version.height}, {read.version.tx.hex()}), current ({current.height}, {current.tx.hex()})",
                code="MVCC_READ_CONFLICT")
    return endorsement


def proposal_error(request: EndorseRequest, endorser: str, exc: EdgeLedgerError) -> ProposalResponse:
    """An endorser's refusal (the simulation failed): no signature, the reason."""
    return ProposalResponse(endorser=endorser, sender=request.sender, nonce=request.nonce, error=str(exc))
