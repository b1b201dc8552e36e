"""Deterministic Python contracts: declared methods over a per-contract key-value namespace.

A contract is a registered class; its methods (marked with :func:`contract_method`) receive
a :class:`CallContext` that is the *only* way to the outside world: state reads and writes
in the contract's own namespace, events, and the values the chain provides (block height,
transaction sender and id, the signer keys of the membership). No clock, randomness, files
or network. Every state access, event and signature check costs steps; a call that exceeds
its step budget or raises fails that transaction only.

Why contracts are referenced by registered name and version instead of uploaded: CPython
has no sandbox, so uploaded code could read the clock, files or the network, iterate
unordered sets or use floats, and nothing could meter it; a consortium instead reviews and
ships contract code with the node release and the chain records which name and version each
instance runs (an upgrade is a transaction, like Fabric's chaincode lifecycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.contracts.records import (
    ABSENT, Endorsement, Event, ReadVersion, StateEntry, Version, WriteEntry,
)
from edgeledger.crypto.keys import verify_signature
from edgeledger.ledger.identity import Identity, Membership
from edgeledger.ledger.clock import chain_time_ms
from edgeledger.registry import Registry

__all__ = [
    "Contract", "contract_method", "register_contract", "contract_types", "CallContext", "StateView",
    "Execution", "ContractError", "StepBudgetExceeded", "DEFAULT_STEP_BUDGET", "ROLE_KEY_PREFIX",
    "state_key", "read_entry", "role_of", "execute", "PRIVATE_HASH_PREFIX", "IMPLICIT_COLLECTION_PREFIX",
    "implicit_collection", "collection_owner", "private_hash_key", "PrivateView", "IDENTITY_KEY_PREFIX",
    "identity_of", "verify_registered",
]

DEFAULT_STEP_BUDGET = 10_000
#: contract keys that hold the hashes of private data (Fabric's hashed rwset), see ``CallContext.put_private``
PRIVATE_HASH_PREFIX = "#pvt/"
#: Fabric 2.x's implicit per-organisation collection; here one per identity, held by that identity only
IMPLICIT_COLLECTION_PREFIX = "_implicit_org_"
#: global keys ``membership/role/<node_id>`` (written by the consortium's membership
#: transactions) override the genesis role; the value ``b""`` means revoked
ROLE_KEY_PREFIX = "membership/role/"
#: global keys ``membership/identity/<node_id>``: identities admitted after genesis (``membership.admit``)
IDENTITY_KEY_PREFIX = "membership/identity/"
_SIGNATURE_STEPS = 20


class ContractError(EdgeLedgerError):
    """A contract refused a call (bad arguments, wrong role, insufficient funds ...); ``code`` is the
    validation code a transaction it fails gets."""

    code: str = "EXECUTION_FAILURE"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class StepBudgetExceeded(ContractError):
    """A call used more steps (state accesses, events, signature checks) than its budget."""


class StateView(Protocol):
    """Read-only raw state: ``LedgerState.kv`` (a snapshot) or a ``TxContext`` (in block order)."""

    def get(self, key: str) -> bytes | None: ...


class Contract:
    """Base of every contract. ``name``/``version`` identify the code; ``deploy_roles`` may deploy it.

    Override :meth:`init` to set up state at the first deployment.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    deploy_roles: ClassVar[tuple[str, ...]] = ()

    def init(self, ctx: CallContext, *args: Any) -> None:
        """Called once when an instance is first deployed; default: nothing."""

    @classmethod
    def methods(cls) -> dict[str, tuple[str, ...]]:
        """Declared method name -> roles allowed to call it (empty: anyone)."""
        return {n: getattr(cls, n).__contract_roles__ for n in sorted(dir(cls))
                if hasattr(getattr(cls, n, None), "__contract_roles__")}


F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type[Contract])


def contract_method(*roles: str) -> Callable[[F], F]:
    """Declare a callable method; ``roles`` restricts the transaction sender's membership role."""

    def mark(fn: F) -> F:
        fn.__contract_roles__ = tuple(roles)  # type: ignore[attr-defined]
        return fn

    return mark


contract_types: Registry[type[Contract]] = Registry("contract code")


def register_contract(cls: C) -> C:
    """Register ``cls`` under ``"<name>@<version>"``, the reference deploy transactions use."""
    if not cls.name:
        raise ContractError(f"contract class {cls.__name__} needs a non-empty `name`")
    contract_types.register(f"{cls.name}@{cls.version}")(cls)
    return cls


def state_key(contract: str, key: str) -> str:
    return f"cs/{contract}/{key}"


def implicit_collection(node_id: str) -> str:
    """The private data collection only ``node_id`` holds (Fabric 2.x implicit org collection)."""
    return IMPLICIT_COLLECTION_PREFIX + node_id


def collection_owner(collection: str) -> str | None:
    """The one member of an implicit collection, or None for another name."""
    return collection.removeprefix(IMPLICIT_COLLECTION_PREFIX) if collection.startswith(IMPLICIT_COLLECTION_PREFIX) \
        else None


def private_hash_key(collection: str, key: str) -> str:
    """The public contract key holding the hash of private ``key`` of ``collection`` (key hashed too)."""
    return f"{PRIVATE_HASH_PREFIX}{collection}/{sha256(key.encode()).hex()}"


#: an endorsing peer's private data: (contract, collection, key) -> the value's canonical bytes, or None
PrivateView = Callable[[str, str, str], "bytes | None"]


def read_entry(view: StateView, contract: str, key: str) -> StateEntry | None:
    raw = view.get(state_key(contract, key))
    return None if raw is None else decode(raw, StateEntry)


def role_of(view: StateView, membership: Membership, node_id: str) -> str | None:
    """The node's current role: a committed membership change, else its genesis role."""
    raw = view.get(ROLE_KEY_PREFIX + node_id)
    if raw is not None:
        return raw.decode() or None
    return membership.role(node_id)


def identity_of(view: StateView, membership: Membership, node_id: str) -> Identity | None:
    """``node_id``'s registered identity as of this state: a founder's, or one a committed admission
    added. Read from state, not from a node's in-memory membership, so every node agrees in block order."""
    raw = view.get(IDENTITY_KEY_PREFIX + node_id)
    return decode(raw, Identity) if raw is not None else membership.founders.get(node_id)


def verify_registered(view: StateView, membership: Membership, node_id: str, message: bytes,
                      signature: bytes) -> bool:
    """Is ``signature`` ``node_id``'s over ``message``, under the key the state registers for it?"""
    identity = identity_of(view, membership, node_id)
    return identity is not None and verify_signature(identity.scheme, identity.public_key, message, signature)


def _reject_floats(value: Any, where: str) -> None:
    if isinstance(value, float):
        raise ContractError(f"{where}: floats are not allowed in contract values (got {value!r}); use integers")
    if isinstance(value, (list, tuple)):
        for v in value:
            _reject_floats(v, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _reject_floats(k, where)
            _reject_floats(v, where)


@dataclass
class Execution:
    """The outcome of running one call: read set with versions, write set, events, result."""

    read_set: dict[str, Version] = field(default_factory=dict)
    write_set: dict[str, bytes | None] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    result: Any = None
    steps: int = 0
    private: dict[tuple[str, str], bytes | None] = field(default_factory=dict)  # (collection, key) -> plaintext

    def endorsement(self, code: str = "", version: int = 0) -> Endorsement:
        """The signed part: read and write sets (private data as hashes only), events, result."""
        return Endorsement(
            read_set=[ReadVersion(key=k, version=self.read_set[k]) for k in sorted(self.read_set)],
            write_set=[WriteEntry(key=k, value=self.write_set[k]) for k in sorted(self.write_set)],
            events=list(self.events), result=self.result, code=code, version=version,
        )


class CallContext:
    """A contract's window on the chain for one call; counts steps against the budget."""

    def __init__(self, view: StateView, membership: Membership, contract: str, *, height: int,
                 sender: str, tx_id: bytes, budget: int = DEFAULT_STEP_BUDGET,
                 transient: dict[str, bytes] | None = None, private: PrivateView | None = None) -> None:
        self._view = view
        self._membership = membership
        self.contract = contract
        self.height = height
        self.sender = sender
        self.tx_id = tx_id
        self.budget = budget
        self._transient = transient or {}
        self._private = private
        self.execution = Execution()

    def step(self, n: int = 1) -> None:
        """Charge ``n`` steps; a contract looping without state access may charge itself."""
        self.execution.steps += n
        if self.execution.steps > self.budget:
            raise StepBudgetExceeded(
                f"contract {self.contract!r} exceeded its step budget of {self.budget} steps")

    def _raw(self, key: str) -> bytes | None:
        """Canonical bytes of ``key`` (own writes first); records the version read."""
        ex = self.execution
        if key in ex.write_set:
            return ex.write_set[key]
        entry = read_entry(self._view, self.contract, key)
        if key not in ex.read_set:
            ex.read_set[key] = entry.version if entry else ABSENT
        return None if entry is None else entry.value

    def _own_key(self, key: str) -> str:
        if not isinstance(key, str) or key.startswith("#"):
            raise ContractError(f"{self.contract}: key {key!r} must be a string not starting with '#' "
                                "(reserved for private data hashes)")
        return key

    def get(self, key: str, default: Any = None) -> Any:
        """The decoded value of ``key`` in this contract's namespace (own writes first)."""
        self.step()
        raw = self._raw(self._own_key(key))
        return default if raw is None else decode(raw, Any)  # type: ignore[arg-type]

    def put(self, key: str, value: Any) -> None:
        self.step()
        _reject_floats(value, f"{self.contract}.put({key!r})")
        self.execution.write_set[self._own_key(key)] = encode(value)

    def delete(self, key: str) -> None:
        self.step()
        self.execution.write_set[self._own_key(key)] = None

    # -- private data (Fabric private data collections) -----------------------------------------
    def transient(self, name: str) -> bytes | None:
        """A transient input of the proposal (private data for the endorsers, never on chain)."""
        self.step()
        return self._transient.get(name)

    def put_private(self, collection: str, key: str, value: Any) -> None:
        """Write ``value`` to ``collection``: the chain gets only sha256 of key and value; the
        plaintext goes to the collection's members (the endorsing peers that hold it)."""
        self.step()
        _reject_floats(value, f"{self.contract}.put_private({collection!r}, {key!r})")
        raw = encode(value)
        self.execution.private[(collection, key)] = raw
        self.execution.write_set[private_hash_key(collection, key)] = encode(sha256(raw))

    def get_private_hash(self, collection: str, key: str) -> bytes | None:
        """The on-chain sha256 of private ``key`` (anyone may read it, as Fabric's GetPrivateDataHash)."""
        self.step()
        raw = self._raw(private_hash_key(collection, key))
        return None if raw is None else decode(raw, bytes)

    def get_private(self, collection: str, key: str) -> Any:
        """The plaintext of private ``key`` on an endorsing peer that holds ``collection``; fails the
        call elsewhere (a peer that is no member cannot endorse a call that reads it)."""
        on_chain = self.get_private_hash(collection, key)
        if (collection, key) in self.execution.private:
            raw = self.execution.private[(collection, key)]
        else:
            raw = self._private(self.contract, collection, key) if self._private is not None else None
            if on_chain is not None and raw is None:
                raise ContractError(f"{self.contract}: private {key!r} of {collection!r} is not held here "
                                    "(only the collection's members hold it)")
        if raw is None:
            return None
        if sha256(raw) != on_chain and (collection, key) not in self.execution.private:
            raise ContractError(f"{self.contract}: private {key!r} of {collection!r} does not match its on-chain hash")
        return decode(raw, Any)  # type: ignore[arg-type]

    def emit(self, name: str, **attributes: Any) -> None:
        """Emit an event that subscribers read from the call log once the transaction is valid."""
        self.step()
        _reject_floats(attributes, f"{self.contract} event {name!r}")
        event = Event(contract=self.contract, name=name, attributes=attributes)
        encode(event)  # fail the call now, not the block later, if an attribute cannot encode
        self.execution.events.append(event)

    @property
    def chain_id(self) -> str:
        """The chain's id, to bind signed off-chain messages to this chain."""
        return self._membership.chain_id

    def chain_time_ms(self) -> int:
        """The chain's BFT time in milliseconds (:mod:`edgeledger.ledger.clock`; 0 until the validators
        tick). Compare deadlines against it, never against a block timestamp. In an execute-order-validate
        call it is the endorser's view at simulation time."""
        self.step()
        return chain_time_ms(self._view)

    def role(self, node_id: str | None = None) -> str | None:
        """The membership role of ``node_id`` (default: the sender)."""
        self.step()
        return role_of(self._view, self._membership, node_id or self.sender)

    def verify_signature(self, node_id: str, message: bytes, signature: bytes) -> bool:
        """Check a signature against ``node_id``'s registered key (the chain's, not a claimed one)."""
        self.step(_SIGNATURE_STEPS)
        return verify_registered(self._view, self._membership, node_id, message, signature)

    def require(self, condition: bool, message: str) -> None:
        """Fail the call with ``message`` unless ``condition`` holds."""
        if not condition:
            raise ContractError(f"{self.contract}: {message}")


def execute(contract_cls: type[Contract], ctx: CallContext, method: str, args: list[Any], *,
            deploying: bool = False) -> Execution:
    """Run ``method`` of ``contract_cls`` with ``args``; the role check comes first.

    ``init`` runs only when ``deploying`` (a first deployment), never through a call.

    Any exception the contract raises becomes a :class:`ContractError`, so a faulty contract
    fails its transaction, never the node.
    """
    declared = contract_cls.methods()
    if not (deploying and method == "init") and method not in declared:
        raise ContractError(f"contract {ctx.contract!r} has no method {method!r}; "
                            f"expected one of: {', '.join(declared) or 'none'}")
    roles = declared.get(method, ())
    if roles:
        role = ctx.role()
        if role not in roles:
            raise ContractError(f"{ctx.contract}.{method} needs role {' or '.join(roles)}; "
                                f"sender {ctx.sender!r} has role {role!r}")
    try:
        _reject_floats(args, f"{ctx.contract}.{method} arguments")
        ctx.execution.result = getattr(contract_cls(), method)(ctx, *args)
        _reject_floats(ctx.execution.result, f"{ctx.contract}.{method} result")
        encode(ctx.execution.result)  # the result goes into the call log: it must encode
    except EdgeLedgerError:
        raise
    except Exception as exc:  # a contract bug fails its transaction only (docs/design.md rule 5)
        raise ContractError(f"{ctx.contract}.{method} raised {type(exc).__name__}: {exc}") from None
    return ctx.execution
