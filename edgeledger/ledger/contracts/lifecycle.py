"""The contract transaction kinds ``contract.deploy`` and ``contract.call`` (validate phase).

Applying a ``contract.call`` in block order: if the call carries an endorsement, every key
in its read set must still have the version it was read at -- otherwise the transaction is
invalid with "MVCC read conflict on key ..." (Fabric's validate phase, Androulaki et al.
2018, section 3.4). The call is then executed against the current state; an endorsed call
must produce exactly its endorsed write set, so a forged write set is refused without
endorsement signatures. Writes get the version ``(height, tx id)``; events and the result
go into a :class:`CallLog` that subscribers read by transaction or by height.
"""

from __future__ import annotations

from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.ledger.contracts.records import (
    ABSENT, CallLog, ContractCall, ContractDeploy, ContractMeta, Endorsement, StateEntry, Version,
)
from edgeledger.ledger.contracts.runtime import (
    DEFAULT_STEP_BUDGET, CallContext, ContractError, Execution, StateView, contract_types, execute,
    read_entry, role_of, state_key,
)
from edgeledger.ledger.state import LedgerState, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction

__all__ = [
    "simulate", "endorse", "contract_meta", "contract_state", "call_log", "logs_at", "events_since",
    "step_budget",
]

#: steps one transaction may use; a deployment may lower it for tests through this setting
step_budget = {"default": DEFAULT_STEP_BUDGET}


def contract_meta(view: StateView, name: str) -> ContractMeta | None:
    raw = view.get(f"contract/{name}")
    return None if raw is None else decode(raw, ContractMeta)


def contract_state(view: StateView, contract: str, key: str, default: Any = None) -> Any:
    """Read one decoded value of a contract's state (for explorers, audits and tests)."""
    entry = read_entry(view, contract, key)
    return default if entry is None else decode(entry.value, Any)  # type: ignore[arg-type]


def _loaded(view: StateView, name: str) -> tuple[ContractMeta, type]:
    meta = contract_meta(view, name)
    if meta is None:
        raise ContractError(f"contract {name!r} is not deployed")
    return meta, contract_types.get(f"{meta.code}@{meta.version}")


def simulate(state: LedgerState, sender: str, call: ContractCall, tx_id: bytes = b"") -> Execution:
    """Execute ``call`` against the committed snapshot, at the next height (Fabric's *execute*)."""
    _, cls = _loaded(state.kv, call.contract)
    ctx = CallContext(state.kv, state.membership, call.contract, height=state.height + 1, sender=sender,
                      tx_id=tx_id, budget=step_budget["default"])
    return execute(cls, ctx, call.method, list(call.args))


def endorse(state: LedgerState, sender: str, contract: str, method: str, args: list[Any]) -> ContractCall:
    """Simulate a call and return it carrying its read/write set, ready to submit."""
    call = ContractCall(contract=contract, method=method, args=args)
    return ContractCall(contract=contract, method=method, args=args,
                        endorsement=simulate(state, sender, call).endorsement())


def _check_read_set(view: StateView, contract: str, endorsement: Endorsement) -> None:
    for read in endorsement.read_set:
        entry = read_entry(view, contract, read.key)
        current = entry.version if entry else ABSENT
        if current != read.version:
            raise ContractError(
                f"MVCC read conflict on key {read.key!r} of contract {contract!r}: read at version "
                f"({read.version.height}, {read.version.tx.hex()}), current ({current.height}, {current.tx.hex()})")


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
    _, cls = _loaded(ctx, call.contract)
    if call.endorsement is not None:
        _check_read_set(ctx, call.contract, call.endorsement)
    cctx = CallContext(ctx, ctx.membership, call.contract, height=ctx.height, sender=tx.sender,
                       tx_id=tx.tx_id, budget=step_budget["default"])
    execution = execute(cls, cctx, call.method, list(call.args))
    if call.endorsement is not None and execution.endorsement().write_set != call.endorsement.write_set:
        raise ContractError(f"endorsed write set of {call.contract}.{call.method} does not match its execution")
    _commit(ctx, tx, call.contract, call.method, execution)


@tx_kinds.register("contract.deploy")
def apply_deploy(ctx: TxContext, tx: Transaction) -> None:
    deploy = decode(tx.payload, ContractDeploy)
    cls = contract_types.get(f"{deploy.code}@{deploy.version}")
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
                        owner=old.owner if old else tx.sender, deployed_height=ctx.height)
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


