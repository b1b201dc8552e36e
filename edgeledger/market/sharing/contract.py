"""Task sharing between edge servers, in the Fabric workflow of Vera Rivera, Refaey and Hossain.

An overloaded edge server (``request_help``) asks for help; the cloud monitor, fed by the
servers' ``report_load``, ``shortlist``s capable servers (lowest load first, ties by id);
each shortlisted server volunteers with a price per metered unit, or declines, by its local
load; the requester ``agree``s with one volunteer, who ``countersign``s -- both signatures on
chain make the contract. The task's details (payload digest and size, deadline) are the two
parties' private data: the requester passes them as a transient input to ``agree``, the
contract writes them to both parties' implicit collections, so the chain holds only their
hashes and the two parties the plaintext (Fabric private data). The payload itself travels
only between the two. The volunteer posts the result's digest and its *metered usage*
(units of work); the requester, having checked the result bytes, ``confirm``s and the
contract settles: the volunteer is paid ``unit price x units`` from the requester's escrow,
the rest is refunded (a dispute refunds all). Tokens are the contract's own, credited to the
consortium's servers at deployment.

Deployed as execute-order-validate with an endorsement policy (the sharing run uses any two
of the consortium's peers); a write to a party's collection also needs that party's
endorsement. Per-server keys (``load/``, ``bid/``, ``balance/``, ``usage/``) keep concurrent
calls of different servers from conflicting under MVCC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError, RemoteProtocolError
from edgeledger.ledger.contracts import CallContext, Contract, contract_method, implicit_collection, register_contract

__all__ = ["TaskSharing", "PrivateCollection", "SERVER_ROLES", "shortlist_servers", "details_key", "SHARING_POLICY"]

SERVER_ROLES = ("edge", "en")
#: any two of the consortium's peers (the cloud monitor and the edge servers) endorse a call
SHARING_POLICY = "OutOf(2, 'cloud.member', 'edge.member', 'edge.member')"


def details_key(task_id: str) -> str:
    """The private data key of a task's details in each party's implicit collection."""
    return f"task/{task_id}"


def shortlist_servers(loads: dict[str, dict[str, Any]], need: int, exclude: str, k: int) -> list[str]:
    """The ``k`` servers with free capacity >= ``need``, lowest load first, ties by id."""
    fit = [(v["load"], sid) for sid, v in sorted(loads.items())
           if sid != exclude and v["capacity"] - v["load"] >= need]
    return [sid for _, sid in sorted(fit)[:k]]


def _positive(ctx: CallContext, name: str, value: Any) -> None:
    ctx.require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                f"{name} must be a positive integer, got {value!r}")


@register_contract
class TaskSharing(Contract):
    name = "fabric.task_sharing"
    version = 1

    def init(self, ctx: CallContext, accounts: list[str] | None = None, balance: int = 0) -> None:
        """Credit ``balance`` tokens to each server in ``accounts`` (the consortium's starting funds)."""
        ctx.require(isinstance(balance, int) and balance >= 0, f"balance must be an integer >= 0, got {balance!r}")
        for account in accounts or []:
            ctx.put(f"balance/{account}", balance)

    def _task(self, ctx: CallContext, task_id: Any) -> dict[str, Any]:
        task = ctx.get(f"task/{task_id}") if isinstance(task_id, str) else None
        ctx.require(task is not None, f"task {task_id!r} does not exist")
        return task  # type: ignore[return-value]

    def _advance(self, ctx: CallContext, task: dict[str, Any], expect: str, new: str, **extra: Any) -> None:
        ctx.require(task["status"] == expect, f"task {task['id']!r} is {task['status']}, expected {expect}")
        task.update(status=new, **extra)
        ctx.put(f"task/{task['id']}", task)
        ctx.emit(new, task=task["id"], **extra)

    def _move(self, ctx: CallContext, src: str | None, dst: str | None, amount: int) -> None:
        if amount <= 0:
            return
        if src is not None:
            have = ctx.get(f"balance/{src}", 0)
            ctx.require(have >= amount, f"{src!r} has {have} tokens, needs {amount}")
            ctx.put(f"balance/{src}", have - amount)
        if dst is not None:
            ctx.put(f"balance/{dst}", ctx.get(f"balance/{dst}", 0) + amount)

    @contract_method(*SERVER_ROLES)
    def report_load(self, ctx: CallContext, load: int, capacity: int) -> None:
        ctx.require(isinstance(load, int) and isinstance(capacity, int) and 0 <= load <= capacity,
                    f"need integers 0 <= load <= capacity, got load={load!r}, capacity={capacity!r}")
        ctx.put(f"load/{ctx.sender}", {"load": load, "capacity": capacity, "height": ctx.height})
        ctx.emit("load_reported", server=ctx.sender, load=load, capacity=capacity)

    @contract_method(*SERVER_ROLES)
    def request_help(self, ctx: CallContext, task_id: str, need: int, max_unit_price: int) -> None:
        ctx.require(isinstance(task_id, str) and ctx.get(f"task/{task_id}") is None, f"task id {task_id!r} is taken")
        _positive(ctx, "need", need)
        _positive(ctx, "max_unit_price", max_unit_price)
        ctx.put(f"task/{task_id}", {"id": task_id, "requester": ctx.sender, "need": need,
                                    "max_unit_price": max_unit_price, "status": "requested", "shortlist": [],
                                    "height": ctx.height})
        ctx.emit("requested", task=task_id, requester=ctx.sender, need=need, max_unit_price=max_unit_price)

    @contract_method("cloud")
    def shortlist(self, ctx: CallContext, task_id: str, k: int, candidates: list[str]) -> list[str]:
        """The monitor names the servers it watches; the contract reads their reported loads."""
        task = self._task(ctx, task_id)
        ctx.require(isinstance(candidates, list) and all(isinstance(c, str) for c in candidates),
                    "candidates must be a list of server ids")
        loads = {c: entry for c in sorted(set(candidates)) if (entry := ctx.get(f"load/{c}")) is not None}
        chosen = shortlist_servers(loads, task["need"], task["requester"], k)
        ctx.require(chosen != [], f"no edge server can take {task['need']} more load")
        self._advance(ctx, task, "requested", "shortlisted", shortlist=chosen)
        return chosen

    @contract_method(*SERVER_ROLES)
    def volunteer(self, ctx: CallContext, task_id: str, accept: bool, unit_price: int = 0) -> None:
        task = self._task(ctx, task_id)
        ctx.require(task["status"] == "shortlisted", f"task {task_id!r} is {task['status']}, expected shortlisted")
        ctx.require(ctx.sender in task["shortlist"], f"{ctx.sender!r} is not shortlisted for task {task_id!r}")
        if accept:
            _positive(ctx, "unit_price", unit_price)
            ctx.require(unit_price <= task["max_unit_price"],
                        f"unit_price {unit_price} exceeds the requester's {task['max_unit_price']}")
            ctx.put(f"bid/{task_id}/{ctx.sender}", unit_price)
            ctx.emit("volunteered", task=task_id, server=ctx.sender, unit_price=unit_price)
        else:
            ctx.emit("declined", task=task_id, server=ctx.sender)

    @contract_method(*SERVER_ROLES)
    def agree(self, ctx: CallContext, task_id: str, volunteer: str, max_units: int) -> None:
        """Choose ``volunteer`` and escrow ``its unit price x max_units``; transient ``details`` (the
        task's private details) go to both parties' collections, only their hash on chain."""
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task["requester"], f"only requester {task['requester']!r} may choose")
        price = ctx.get(f"bid/{task_id}/{volunteer}") if isinstance(volunteer, str) else None
        ctx.require(price is not None, f"{volunteer!r} did not volunteer for task {task_id!r}")
        _positive(ctx, "max_units", max_units)
        details = ctx.transient("details")
        ctx.require(details is not None, "agree needs the task's details as the transient input 'details'")
        escrow = price * max_units
        self._move(ctx, ctx.sender, None, escrow)
        for party in (ctx.sender, volunteer):
            ctx.put_private(implicit_collection(party), details_key(task_id), details)
        self._advance(ctx, task, "shortlisted", "agreed", volunteer=volunteer, unit_price=price,
                      max_units=max_units, escrow=escrow)

    @contract_method(*SERVER_ROLES)
    def countersign(self, ctx: CallContext, task_id: str) -> None:
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task.get("volunteer"), f"only the chosen volunteer may countersign {task_id!r}")
        self._advance(ctx, task, "agreed", "contracted")

    @contract_method(*SERVER_ROLES)
    def submit_result(self, ctx: CallContext, task_id: str, result_digest: bytes, units: int) -> None:
        """The result's digest and the metered usage (units of work) the volunteer bills."""
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task.get("volunteer"), f"only the volunteer may submit the result of {task_id!r}")
        ctx.require(isinstance(result_digest, bytes) and len(result_digest) == 32, "result_digest must be 32 bytes")
        _positive(ctx, "units", units)
        ctx.require(units <= task["max_units"], f"metered {units} units, the contract allows {task['max_units']}")
        self._advance(ctx, task, "contracted", "result_submitted", result_digest=result_digest, units=units)

    @contract_method(*SERVER_ROLES)
    def confirm(self, ctx: CallContext, task_id: str, result_matches: bool) -> None:
        """The requester checked the result bytes against the digest: settle (pay the metered usage,
        refund the rest of the escrow) or dispute (refund all)."""
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task["requester"], f"only requester {task['requester']!r} may confirm")
        ctx.require(task["status"] == "result_submitted", f"task {task_id!r} is {task['status']}, "
                    "expected result_submitted")
        if result_matches is True:
            paid = task["unit_price"] * task["units"]
            self._move(ctx, None, task["volunteer"], paid)
            self._move(ctx, None, task["requester"], task["escrow"] - paid)
            usage = ctx.get(f"usage/{task['volunteer']}", {"tasks": 0, "units": 0, "earned": 0})
            ctx.put(f"usage/{task['volunteer']}", {"tasks": usage["tasks"] + 1, "units": usage["units"] + task["units"],
                                                    "earned": usage["earned"] + paid})
            self._advance(ctx, task, "result_submitted", "settled", paid=paid, refunded=task["escrow"] - paid)
        else:
            self._move(ctx, None, task["requester"], task["escrow"])
            self._advance(ctx, task, "result_submitted", "disputed", paid=0, refunded=task["escrow"])


@dataclass
class PrivateCollection:
    """The task payload and result bytes of one task, exchanged only between its two parties and
    checked against the digests the parties hold (the payload digest is their private data)."""

    task_id: str
    members: tuple[str, str]
    _payloads: dict[str, bytes] = field(default_factory=dict)

    def put(self, sender: str, name: str, payload: bytes, digest_on_chain: bytes) -> None:
        """Store ``payload`` if ``sender`` is a party and it matches the digest the chain holds."""
        if sender not in self.members:
            raise RemoteProtocolError(f"{sender!r} is not a party to task {self.task_id!r}")
        if sha256(payload) != digest_on_chain:
            raise IntegrityError(f"{name} of task {self.task_id!r} does not match its on-chain digest")
        self._payloads[name] = payload

    def get(self, reader: str, name: str) -> bytes:
        if reader not in self.members:
            raise RemoteProtocolError(f"{reader!r} may not read {name} of task {self.task_id!r}")
        return self._payloads[name]
