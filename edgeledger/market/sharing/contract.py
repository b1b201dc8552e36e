"""Task sharing between edge servers, in the Fabric workflow of Vera Rivera, Refaey and Hossain.

An overloaded edge server (``request_help``) asks for help; the cloud monitor, fed by the
servers' ``report_load``, ``shortlist``s capable servers (lowest load first, ties by id);
each shortlisted server volunteers or declines by its local load; the requester ``agree``s
with one volunteer, who ``countersign``s -- both signatures on chain make the contract.
The task payload travels only between the two (a private data collection: the chain holds
its sha256, never the bytes); the volunteer posts the result's digest and the requester,
having checked the result bytes against it, ``confirm``s and the contract settles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError, RemoteProtocolError
from edgeledger.ledger.contracts import CallContext, Contract, contract_method, register_contract

__all__ = ["TaskSharing", "PrivateCollection", "SERVER_ROLES", "shortlist_servers"]

SERVER_ROLES = ("edge", "en")


def shortlist_servers(loads: dict[str, dict[str, Any]], need: int, exclude: str, k: int) -> list[str]:
    """The ``k`` servers with free capacity >= ``need``, lowest load first, ties by id."""
    fit = [(v["load"], sid) for sid, v in sorted(loads.items())
           if sid != exclude and v["capacity"] - v["load"] >= need]
    return [sid for _, sid in sorted(fit)[:k]]


@register_contract
class TaskSharing(Contract):
    name = "fabric.task_sharing"
    version = 1

    def _task(self, ctx: CallContext, task_id: Any) -> dict[str, Any]:
        task = ctx.get(f"task/{task_id}") if isinstance(task_id, str) else None
        ctx.require(task is not None, f"task {task_id!r} does not exist")
        return task  # type: ignore[return-value]

    def _advance(self, ctx: CallContext, task: dict[str, Any], expect: str, new: str, **extra: Any) -> None:
        ctx.require(task["status"] == expect, f"task {task['id']!r} is {task['status']}, expected {expect}")
        task.update(status=new, **extra)
        ctx.put(f"task/{task['id']}", task)
        ctx.emit(new, task=task["id"], **extra)

    @contract_method(*SERVER_ROLES)
    def report_load(self, ctx: CallContext, load: int, capacity: int) -> None:
        ctx.require(isinstance(load, int) and isinstance(capacity, int) and 0 <= load <= capacity,
                    f"need integers 0 <= load <= capacity, got load={load!r}, capacity={capacity!r}")
        loads = ctx.get("loads", {})
        loads[ctx.sender] = {"load": load, "capacity": capacity, "height": ctx.height}
        ctx.put("loads", loads)

    @contract_method(*SERVER_ROLES)
    def request_help(self, ctx: CallContext, task_id: str, payload_digest: bytes, need: int) -> None:
        ctx.require(isinstance(task_id, str) and ctx.get(f"task/{task_id}") is None, f"task id {task_id!r} is taken")
        ctx.require(isinstance(payload_digest, bytes) and len(payload_digest) == 32, "payload_digest must be 32 bytes")
        ctx.require(isinstance(need, int) and need > 0, f"need must be a positive integer, got {need!r}")
        ctx.put(f"task/{task_id}", {"id": task_id, "requester": ctx.sender, "payload_digest": payload_digest,
                                    "need": need, "status": "requested", "shortlist": [], "volunteers": [],
                                    "height": ctx.height})
        ctx.emit("requested", task=task_id, requester=ctx.sender, need=need, payload_digest=payload_digest)

    @contract_method("cloud")
    def shortlist(self, ctx: CallContext, task_id: str, k: int) -> list[str]:
        task = self._task(ctx, task_id)
        chosen = shortlist_servers(ctx.get("loads", {}), task["need"], task["requester"], k)
        ctx.require(chosen != [], f"no edge server can take {task['need']} more load")
        self._advance(ctx, task, "requested", "shortlisted", shortlist=chosen)
        return chosen

    @contract_method(*SERVER_ROLES)
    def volunteer(self, ctx: CallContext, task_id: str, accept: bool) -> None:
        task = self._task(ctx, task_id)
        ctx.require(task["status"] == "shortlisted", f"task {task_id!r} is {task['status']}, expected shortlisted")
        ctx.require(ctx.sender in task["shortlist"], f"{ctx.sender!r} is not shortlisted for task {task_id!r}")
        if accept and ctx.sender not in task["volunteers"]:
            task["volunteers"] = sorted(task["volunteers"] + [ctx.sender])
            ctx.put(f"task/{task_id}", task)
        ctx.emit("volunteered" if accept else "declined", task=task_id, server=ctx.sender)

    @contract_method(*SERVER_ROLES)
    def agree(self, ctx: CallContext, task_id: str, volunteer: str) -> None:
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task["requester"], f"only requester {task['requester']!r} may choose")
        ctx.require(volunteer in task["volunteers"], f"{volunteer!r} did not volunteer for task {task_id!r}")
        self._advance(ctx, task, "shortlisted", "agreed", volunteer=volunteer)

    @contract_method(*SERVER_ROLES)
    def countersign(self, ctx: CallContext, task_id: str) -> None:
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task.get("volunteer"), f"only the chosen volunteer may countersign {task_id!r}")
        self._advance(ctx, task, "agreed", "contracted")

    @contract_method(*SERVER_ROLES)
    def submit_result(self, ctx: CallContext, task_id: str, result_digest: bytes) -> None:
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task.get("volunteer"), f"only the volunteer may submit the result of {task_id!r}")
        ctx.require(isinstance(result_digest, bytes) and len(result_digest) == 32, "result_digest must be 32 bytes")
        self._advance(ctx, task, "contracted", "result_submitted", result_digest=result_digest)

    @contract_method(*SERVER_ROLES)
    def confirm(self, ctx: CallContext, task_id: str, result_matches: bool) -> None:
        """The requester checked the result bytes against the digest: settle or dispute."""
        task = self._task(ctx, task_id)
        ctx.require(ctx.sender == task["requester"], f"only requester {task['requester']!r} may confirm")
        self._advance(ctx, task, "result_submitted", "settled" if result_matches is True else "disputed")


@dataclass
class PrivateCollection:
    """Off-chain payloads of one task, readable only by its two contract parties (Fabric PDC)."""

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
