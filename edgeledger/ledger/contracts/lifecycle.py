"""The contract transaction kinds ``contract.deploy`` and ``contract.call``, and the peer's
simulation of a call.

A deployment names the instance's execution model (Fabric's chaincode definition carries its
endorsement policy the same way):

- ``execute-order-validate``: a ``contract.call`` must carry an endorsement whose signatures
  satisfy the instance's endorsement policy and whose read versions are still current
  (:func:`~edgeledger.ledger.contracts.endorsement.validate_endorsed`); its write set is then
  applied as endorsed -- the contract does not run at commit (Androulaki et al. 2018, 3.4);
- ``order-execute`` (FISCO-BCOS): the call carries no endorsement and runs here, in block order.

Writes get the version ``(height, tx id)``; events and the result go into a :class:`CallLog`
that subscribers read by transaction or by height.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.blobs import blob_references
from edgeledger.ledger.contracts.endorsement import proposal_error, sign_endorsement, validate_endorsed
from edgeledger.ledger.contracts.policy import parse_policy
from edgeledger.ledger.contracts.records import (
    EXECUTE_ORDER_VALIDATE, EXECUTION_MODELS, CallLog, ContractCall, ContractDeploy, ContractMeta,
    EndorseRequest, ProposalResponse, StateEntry, Version,
)
from edgeledger.ledger.contracts.runtime import (
    DEFAULT_STEP_BUDGET, CallContext, ContractError, Execution, PrivateView, StateView, contract_types, execute,
    read_entry, role_of, state_key,
)
from edgeledger.ledger.state import LedgerState, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction
from edgeledger.registry import Registry

__all__ = [
    "simulate", "endorse_proposal", "contract_meta", "contract_state", "call_log", "logs_at", "events_since",
    "step_budget", "execution_model", "call_blob_references",
]

#: contract method name -> ``args -> [digests of the blobs the call names]``: how a ``contract.call``
#: names blobs (the storage layer keeps those for good). A reader sees the arguments as submitted,
#: before the call runs, so it checks their shape itself; a call that fails still names its blobs,
#: as a transaction of any other kind does.
call_blob_references: Registry[Callable[[list[Any]], list[bytes]]] = Registry("contract call blob reference")


@blob_references.register("contract.call")
def _call_blobs(payload: bytes) -> list[bytes]:
    call = decode(payload, ContractCall)
    return call_blob_references.get(call.method)(call.args) if call.method in call_blob_references else []


#: steps one transaction may use; a deployment may lower it for tests through this setting
step_budget = {"default": DEFAULT_STEP_BUDGET}


def contract_meta(view: StateView, name: str) -> ContractMeta | None:
    raw = view.get(f"contract/{name}")
    return None if raw is None else decode(raw, ContractMeta)


def contract_state(view: StateView, contract: str, key: str, default: Any = None) -> Any:
    """Read one decoded value of a contract's state (for explorers, audits and tests)."""
    entry = read_entry(view, contract, key)
    return default if entry is None else decode(entry.value, Any)


def _loaded(view: StateView, name: str) -> tuple[ContractMeta, type]:
    meta = contract_meta(view, name)
    if meta is None:
        raise ContractError(f"contract {name!r} is not deployed", code="INVALID_CHAINCODE")
    return meta, contract_types.get(f"{meta.code}@{meta.version}")


def execution_model(view: StateView, name: str) -> tuple[str, str]:
    """(execution model, endorsement policy) of deployed instance ``name``."""
    meta = contract_meta(view, name)
    if meta is None:
        raise ContractError(f"contract {name!r} is not deployed", code="INVALID_CHAINCODE")
    return meta.execution, meta.endorsement_policy


def simulate(state: LedgerState, sender: str, call: ContractCall, tx_id: bytes = b"", *,
             transient: dict[str, bytes] | None = None, private: PrivateView | None = None) -> Execution:
    """Execute ``call`` against the committed snapshot, at the next height (Fabric's *execute*);
    changes nothing."""
    _, cls = _loaded(state.kv, call.contract)
    ctx = CallContext(state.kv, state.membership, call.contract, height=state.height + 1, sender=sender,
                      tx_id=tx_id, budget=step_budget["default"], transient=transient, private=private)
    return execute(cls, ctx, call.method, list(call.args))


def endorse_proposal(state: LedgerState, endorser: str, key: PrivateKey, request: EndorseRequest,
                     private: PrivateView | None = None) -> tuple[ProposalResponse, dict[tuple[str, str], bytes | None]]:
    """An endorsing peer: simulate ``request`` on its committed state and sign the result.

    Returns the response for the client and the plaintext private writes (collection, key) ->
    value that the peer keeps until the transaction commits (Fabric's transient store). A
    simulation that fails is answered with the reason and no signature.
    """
    if request.sender not in state.membership.identities:
        return proposal_error(request, endorser, ContractError(f"{request.sender!r} is not a member of this chain")), {}
    try:
        meta, _ = _loaded(state.kv, request.call.contract)
        if meta.execution != EXECUTE_ORDER_VALIDATE:
            raise ContractError(f"contract {meta.name!r} runs {meta.execution}: its calls are executed in block "
                                "order, not endorsed; submit the call without an endorsement")
        execution = simulate(state, request.sender, request.call, transient=dict(request.transient), private=private)
    except EdgeLedgerError as exc:
        return proposal_error(request, endorser, exc), {}
    endorsement = execution.endorsement(meta.code, meta.version)
    return sign_endorsement(key, endorser, state.membership.chain_id, request, endorsement), dict(execution.private)


def _commit(ctx: TxContext, tx: Transaction, contract: str, method: str, execution: Execution) -> None:
    version = Version(height=ctx.height, tx=tx.tx_id[:8])
    for key in sorted(execution.write_set):
        value = execution.write_set[key]
        if value is None:
            ctx.delete(state_key(contract, key))
        else:
            ctx.put(state_key(contract, key), encode(StateEntry(version=version, value=value)))
    log = CallLog(tx_id=tx.tx_id, height=ctx.height, sender=tx.sender, contract=contract, method=method,
                  result=execution.result, events=execution.events)
    ctx.put(f"clog/{tx.tx_id.hex()}", encode(log))
    index_key = f"clogs/{ctx.height}"
    raw = ctx.get(index_key)
    ids = decode(raw, list[bytes]) if raw is not None else []
    ctx.put(index_key, encode(ids + [tx.tx_id]))


@tx_kinds.register("contract.call")
def apply_call(ctx: TxContext, tx: Transaction) -> None:
    call = decode(tx.payload, ContractCall)
    meta, cls = _loaded(ctx, call.contract)
    if meta.execution == EXECUTE_ORDER_VALIDATE:  # validate and apply the endorsed write set; nothing runs
        endorsement = validate_endorsed(ctx, ctx.membership, meta, tx.sender, tx.nonce, call)
        execution = Execution(write_set={w.key: w.value for w in endorsement.write_set},
                              events=list(endorsement.events), result=endorsement.result)
        _commit(ctx, tx, call.contract, call.method, execution)
        return
    if call.endorsement is not None or call.endorsements:
        raise ContractError(f"{call.contract}.{call.method}: contract {call.contract!r} runs order-execute; its calls "
                            "carry no endorsement (they are executed in block order)", code="INVALID_CHAINCODE")
    cctx = CallContext(ctx, ctx.membership, call.contract, height=ctx.height, sender=tx.sender,
                       tx_id=tx.tx_id, budget=step_budget["default"])
    _commit(ctx, tx, call.contract, call.method, execute(cls, cctx, call.method, list(call.args)))


def _check_model(deploy: ContractDeploy) -> None:
    if deploy.execution not in EXECUTION_MODELS:
        raise ContractError(f"contract.deploy execution={deploy.execution!r}; expected one of {list(EXECUTION_MODELS)}")
    if deploy.execution == EXECUTE_ORDER_VALIDATE:
        if not deploy.endorsement_policy:
            raise ContractError(f"contract.deploy of {deploy.name!r}: execute-order-validate needs an "
                                "endorsement_policy, e.g. \"OutOf(2, 'company.member', 'company.member')\"")
        parse_policy(deploy.endorsement_policy)  # a ConfigError names the mistake
    elif deploy.endorsement_policy:
        raise ContractError(f"contract.deploy of {deploy.name!r}: an endorsement_policy needs "
                            f"execution={EXECUTE_ORDER_VALIDATE!r} (order-execute runs every call in block order)")


@tx_kinds.register("contract.deploy")
def apply_deploy(ctx: TxContext, tx: Transaction) -> None:
    deploy = decode(tx.payload, ContractDeploy)
    cls = contract_types.get(f"{deploy.code}@{deploy.version}")
    _check_model(deploy)
    if "/" in deploy.name or not deploy.name:
        raise ContractError(f"contract instance name {deploy.name!r} must be non-empty and contain no '/'")
    if cls.deploy_roles and role_of(ctx, ctx.membership, tx.sender) not in cls.deploy_roles:
        raise ContractError(f"deploying {deploy.code} needs role {' or '.join(cls.deploy_roles)}; "
                            f"sender {tx.sender!r} has role {role_of(ctx, ctx.membership, tx.sender)!r}")
    old = contract_meta(ctx, deploy.name)
    if old is not None:
        if tx.sender != old.owner:
            raise ContractError(f"only the owner {old.owner!r} may upgrade contract {deploy.name!r}, not {tx.sender!r}")
        if deploy.code != old.code or deploy.version <= old.version:
            raise ContractError(f"upgrade of {deploy.name!r} needs code {old.code!r} with version > {old.version}, "
                                f"got {deploy.code!r} version {deploy.version}")
    meta = ContractMeta(name=deploy.name, code=deploy.code, version=deploy.version,
                        owner=old.owner if old else tx.sender, deployed_height=ctx.height,
                        execution=deploy.execution, endorsement_policy=deploy.endorsement_policy)
    ctx.put(f"contract/{deploy.name}", encode(meta))
    if old is None:
        cctx = CallContext(ctx, ctx.membership, deploy.name, height=ctx.height, sender=tx.sender,
                           tx_id=tx.tx_id, budget=step_budget["default"])
        _commit(ctx, tx, deploy.name, "init", execute(cls, cctx, "init", list(deploy.args), deploying=True))


def call_log(view: StateView, tx_id: bytes) -> CallLog | None:
    """The log (result and events) of a valid contract transaction, or None."""
    raw = view.get(f"clog/{tx_id.hex()}")
    return None if raw is None else decode(raw, CallLog)


def logs_at(view: StateView, height: int) -> list[CallLog]:
    """The call logs of block ``height`` in transaction order."""
    raw = view.get(f"clogs/{height}")
    ids = decode(raw, list[bytes]) if raw is not None else []
    return [log for log in (call_log(view, i) for i in ids) if log is not None]


def events_since(state: LedgerState, after_height: int, contract: str | None = None,
                 name: str | None = None) -> list[tuple[int, Any]]:
    """A subscriber's poll: ``(height, event)`` of blocks after ``after_height``, filtered."""
    out = []
    for h in range(after_height + 1, state.height + 1):
        for log in logs_at(state.kv, h):
            for ev in log.events:
                if (contract is None or ev.contract == contract) and (name is None or ev.name == name):
                    out.append((h, ev))
    return out


