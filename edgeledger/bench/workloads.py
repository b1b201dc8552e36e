"""Workload modules (Caliper's "workload modules"): what each transaction of a round does.

A workload turns transaction number ``i`` and the sender chosen for it into an operation:
a transaction (kind and payload, optionally with a blob uploaded first) or a read. It may
ask for set-up transactions that run before the round and are not measured. ``plugins``
names the modules a node must import to know the workload's transaction kinds.

Built in: ``kv_create`` (kv.set), ``kv_query`` (GET /v1/state/kv/...), ``transfer``
(bench.simple contract), ``fl_update`` (fl.update with a blob), ``edge_match``
(edgetoll.matching). Register your own with ``@workloads.register("name")``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import ConfigError
from edgeledger.ledger.contracts import EXECUTE_ORDER_VALIDATE, EXECUTION_MODELS, ContractCall, ContractDeploy
from edgeledger.ledger.kv import KVSet
from edgeledger.registry import Registry

__all__ = ["TxOp", "ReadOp", "Consortium", "WorkloadContext", "Workload", "workloads", "DEFAULT_POLICY"]

#: the transfer workload's endorsement policy: two of the (four) edge servers of the bench network
DEFAULT_POLICY = "OutOf(2, 'edge.member', 'edge.member', 'edge.member', 'edge.member')"


@dataclass(frozen=True)
class TxOp:
    """Sign and submit a transaction of ``kind``; upload ``blob`` to the same node first.

    ``endorse`` (contract calls of an execute-order-validate instance): one endorsing peer of
    each listed role is asked (``POST /v1/endorse``, Fabric's execute) before the call is
    assembled with their signatures, signed and submitted.
    """

    kind: str
    payload: Any
    blob: bytes | None = None
    endorse: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadOp:
    """GET ``path`` on a node (a query round)."""

    path: str


@dataclass(frozen=True)
class Consortium:
    """The network's EdgeToll consortium (scenario ``[consortium]``): accounts and EN owners."""

    accounts: dict[str, str] = field(default_factory=dict)  # account -> role (proxy | company | en | device)
    edge_nodes: dict[str, str] = field(default_factory=dict)  # edge server (EN) -> owning company account

    def with_role(self, role: str) -> list[str]:
        return sorted(n for n, r in self.accounts.items() if r == role)


@dataclass
class WorkloadContext:
    """What a workload sees: the round label, its seeded generator, state shared across rounds
    and the network's consortium."""

    label: str
    rng: random.Random
    shared: dict[str, Any] = field(default_factory=dict)
    consortium: Consortium = field(default_factory=Consortium)


class Workload(ABC):
    kind: ClassVar[str] = "write"  # "write": transactions, "read": queries
    check_receipts: ClassVar[bool] = True  # read every committed receipt (a failed one counts as fail)
    plugins: ClassVar[tuple[str, ...]] = ()
    sender_roles: ClassVar[tuple[str, ...]] = ()  # empty: any identity may send

    def __init__(self, params: dict[str, Any], ctx: WorkloadContext) -> None:
        self.params, self.ctx = params, ctx

    def param(self, key: str, default: Any, kind: type = int) -> Any:
        value = self.params.get(key, default)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"workload.params.{key}: expected {kind.__name__}, got {value!r}")
        return value

    def prepare(self, senders: list[str]) -> list[tuple[str, TxOp]]:
        """Set-up transactions (sender, op) committed before the round starts; default none."""
        return []

    def execution_model(self) -> str:
        """How the round's transactions are executed, for the report (Fabric's EOV or order-execute)."""
        return "order-execute: every node applies each transaction in block order"

    @abstractmethod
    def op(self, i: int, sender: str) -> TxOp | ReadOp:
        """The operation of transaction ``i`` sent by ``sender``."""


workloads: Registry[type[Workload]] = Registry("workload")


@workloads.register("kv_create")
class KvCreate(Workload):
    """kv.set of fresh keys ``<prefix>/<label>/<i>`` with ``value_bytes`` random bytes."""

    check_receipts = False  # kv.set refuses only oversized keys/values, which this workload never makes

    def execution_model(self) -> str:
        return "order-execute: kv.set transactions applied in block order"

    def op(self, i: int, sender: str) -> TxOp:
        key = f"{self.param('key_prefix', 'bench', str)}/{self.ctx.label}/{i}"
        self.ctx.shared.setdefault("kv_keys", []).append(key)
        value = self.ctx.rng.randbytes(self.param("value_bytes", 32))
        return TxOp("kv.set", KVSet(key=key, value=value))


@workloads.register("kv_query")
class KvQuery(Workload):
    """Read keys written by an earlier kv_create round (or ``keys``: a list of key names)."""

    kind = "read"

    def execution_model(self) -> str:
        return "query: a node answers from its committed state; nothing is ordered"

    def op(self, i: int, sender: str) -> ReadOp:
        keys = self.params.get("keys") or self.ctx.shared.get("kv_keys")
        if not keys:
            raise ConfigError("workload kv_query: no keys to read; run a kv_create round first or give params.keys")
        return ReadOp(f"/v1/state/kv/{keys[self.ctx.rng.randrange(len(keys))]}")


@workloads.register("transfer")
class Transfer(Workload):
    """Transfers between ``accounts`` accounts of the bench.simple contract (few accounts: conflicts).

    ``execution`` = ``"execute-order-validate"`` (default, Fabric): the instance is deployed with
    ``policy`` (default two of the edge servers) and every call is endorsed by one peer per
    role in ``endorsers`` (default ``"edge,edge"``) before ordering; concurrent transfers on
    few accounts then meet MVCC read conflicts at validation. ``"order-execute"`` (FISCO-BCOS)
    runs the calls in block order instead, where an overdraft is the only failure.
    """

    plugins = ("edgeledger.bench.contracts",)

    def _eov(self) -> bool:
        model = self.param("execution", EXECUTE_ORDER_VALIDATE, str)
        if model not in EXECUTION_MODELS:
            raise ConfigError(f"workload transfer: params.execution={model!r}; expected one of {list(EXECUTION_MODELS)}")
        return model == EXECUTE_ORDER_VALIDATE

    def _endorsers(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.param("endorsers", "edge,edge", str).split(",") if r.strip()) \
            if self._eov() else ()

    def execution_model(self) -> str:
        if not self._eov():
            return "order-execute: every node runs each transfer in block order (FISCO-BCOS)"
        return (f"execute-order-validate: endorsed by {' + '.join(self._endorsers())} peers under policy "
                f"{self.param('policy', DEFAULT_POLICY, str)}; committers check signatures and MVCC versions "
                "and apply the write set without executing (Fabric)")

    def prepare(self, senders: list[str]) -> list[tuple[str, TxOp]]:
        name, n = self.param("contract", "bench-simple", str), self.param("accounts", 10)
        deploy = ContractDeploy(name=name, code="bench.simple", version=1)
        if self._eov():
            deploy = ContractDeploy(name=name, code="bench.simple", version=1, execution=EXECUTE_ORDER_VALIDATE,
                                    endorsement_policy=self.param("policy", DEFAULT_POLICY, str))
        ops = [(senders[0], TxOp("contract.deploy", deploy))]
        money = self.param("initial_balance", 1000)
        ops += [(senders[0], TxOp("contract.call", ContractCall(contract=name, method="open", args=[f"a{k}", money]),
                                  endorse=self._endorsers())) for k in range(n)]
        return ops

    def op(self, i: int, sender: str) -> TxOp:
        n = self.param("accounts", 10)
        src = self.ctx.rng.randrange(n)
        dst = (src + 1 + self.ctx.rng.randrange(n - 1)) % n if n > 1 else src
        amount = 1 + self.ctx.rng.randrange(self.param("max_amount", 10))
        call = ContractCall(contract=self.param("contract", "bench-simple", str), method="transfer",
                            args=[f"a{src}", f"a{dst}", amount])
        return TxOp("contract.call", call, endorse=self._endorsers())


@workloads.register("fl_update")
class FlUpdate(Workload):
    """fl.update naming a ``blob_bytes`` random blob uploaded first (PUT /v1/blobs/{digest}).

    The chain accepts an update only from a participant of the open round, once per round;
    without an open round every update commits with an invalid receipt (committed-but-failed).
    """

    plugins = ("edgeledger.fl.round.chain",)
    sender_roles = ("device",)

    def op(self, i: int, sender: str) -> TxOp:
        from edgeledger.fl.round.events import UpdateRecord

        blob = self.ctx.rng.randbytes(self.param("blob_bytes", 1024))
        record = UpdateRecord(round=self.param("round", 1), update_digest=sha256(blob), update_size=len(blob),
                              n_samples=self.param("n_samples", 100))
        return TxOp("fl.update", record, blob=blob)


@workloads.register("edge_match")
class EdgeMatch(Workload):
    """edgetoll.matching's edge_match from devices at random locations (EdgeToll's service matching).

    Set-up (once per contract instance): the consortium's proxy (else its first company)
    deploys the instance and every company registers the edge servers it owns
    (``[consortium] edge_nodes``) as ENs at seeded random locations on a 100 x 100 grid.
    Devices then ask for their nearest EN; each match is recorded on chain.
    """

    plugins = ("edgeledger.market",)
    sender_roles = ("device",)

    def execution_model(self) -> str:
        return "order-execute: edgetoll.matching runs in block order on every node (FISCO-BCOS, as EdgeToll)"

    def prepare(self, senders: list[str]) -> list[tuple[str, TxOp]]:
        name = self.param("contract", "bench-matching", str)
        deployed = self.ctx.shared.setdefault("edge_match_contracts", set())
        if name in deployed:
            return []
        con = self.ctx.consortium
        if not con.edge_nodes:
            raise ConfigError("workload edge_match: the network's scenario has no consortium company to register "
                              "edge nodes (add_node needs the company role); add e.g. [consortium] accounts = "
                              "{ proxy = \"proxy\", company-0 = \"company\" } to the scenario")
        deployer = (con.with_role("proxy") or con.with_role("company"))[0]
        ops = [(deployer, TxOp("contract.deploy", ContractDeploy(name=name, code="edgetoll.matching", version=1)))]
        capacity, price = self.param("capacity", 1_000_000), self.param("price", 1)
        for en, company in con.edge_nodes.items():
            x, y = self.ctx.rng.randrange(100), self.ctx.rng.randrange(100)
            call = ContractCall(contract=name, method="add_node", args=[en, company, x, y, capacity, price])
            ops.append((company, TxOp("contract.call", call)))
        deployed.add(name)
        return ops

    def op(self, i: int, sender: str) -> TxOp:
        x, y = self.ctx.rng.randrange(100), self.ctx.rng.randrange(100)
        call = ContractCall(contract=self.param("contract", "bench-matching", str), method="edge_match",
                            args=[sender, x, y, self.param("need", 1)])
        return TxOp("contract.call", call)
