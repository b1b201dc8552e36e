"""Sans-IO cores of the Fabric task-sharing workflow (Vera Rivera, Refaey, Hossain).

Rules, in order: an overloaded edge server submits ``request_help``; the cloud monitor, which
reads the servers' ``report_load`` events from the chain, answers with ``shortlist``; each
shortlisted server volunteers with its price per metered unit only if its *local* load (which
may have risen since its report) still fits the task; the requester ``agree``s with the first
volunteer in chain order -- escrowing the price of ``max_units`` and handing the task's
details (payload digest and size) to both parties' private data collections -- and that
volunteer ``countersign``s; only then does the payload move, directly and only between the
two, and the volunteer checks it against the digest in its private data; the volunteer
computes, posts the result digest and its metered usage (milliseconds of compute) on chain
and sends the bytes; the requester checks the bytes and ``confirm``s: the contract pays the
usage and refunds the rest (or refunds all on a dispute).

Every call is executed, ordered and validated as in Fabric: the core proposes it to two
endorsing peers (itself and a fellow server; for ``agree``/``countersign``/``submit_result``/
``confirm`` the two parties), an :class:`~edgeledger.node.endorsing.EndorsementClient`
collects their signatures and submits; an MVCC conflict is endorsed again. The cores read
committed contract events (``on_event``) and wire messages, and return effects. No clock:
``now`` comes in; no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Compute, Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import (
    EXECUTE_ORDER_VALIDATE, ContractDeploy, EndorseRequest, ProposalResponse, implicit_collection,
)
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import make_transaction
from edgeledger.market.sharing.events import CloudResult, CloudTask, SolveJob, TaskPayload, TaskResult
from edgeledger.market.sharing.state import TaskRecord, advance
from edgeledger.market.sharing.contract import SHARING_POLICY, PrivateCollection, details_key
from edgeledger.node.endorsing import EndorsementClient

__all__ = ["EdgeServerCore", "CloudMonitorCore", "ContractClient", "solve_task", "TIMER_PREFIX"]

TIMER_PREFIX = "share."
PrivateView = Callable[[str, str, str], "bytes | None"]


def solve_task(payload: bytes) -> bytes:
    """The task's computation (a stand-in with a checkable, deterministic result)."""
    return b"result:" + sha256(payload)


class ContractClient:
    """This node's calls of one contract instance, endorsed by the peers each call names."""

    def __init__(self, node_id: str, key: PrivateKey, contract: str,
                 local: Callable[[EndorseRequest], ProposalResponse] | None = None) -> None:
        self.node_id, self.key, self.contract = node_id, key, contract
        self.endorsing = EndorsementClient(node_id, key, local=local, timer_prefix=TIMER_PREFIX)

    def call(self, method: str, *args: Any, endorsers: list[str], transient: dict[str, bytes] | None = None) -> list[Effect]:
        return self.endorsing.call(self.contract, method, list(args), endorsers, transient)

    def deploy(self, code: str, args: list[Any], policy: str = SHARING_POLICY) -> SubmitTransaction:
        body = ContractDeploy(name=self.contract, code=code, version=1, args=args, execution=EXECUTE_ORDER_VALIDATE,
                              endorsement_policy=policy)
        return SubmitTransaction(make_transaction(self.key, self.node_id, self.endorsing.next_nonce(),
                                                  "contract.deploy", body))

    def on_timer(self, name: str, now: float) -> list[Effect] | None:
        """Route an endorsement timer; None when ``name`` is not one."""
        return self.endorsing.on_timer(name, now) if self.endorsing.owns(name) else None


class EdgeServerCore:
    """One edge server: requester of its own tasks, possible volunteer for others'."""

    def __init__(self, node_id: str, key: PrivateKey, *, capacity: int, load: int, buddy: str = "",
                 contract: str = "tasks", cloud: str = "cloud", volunteer_timeout_s: float = 2.0,
                 unit_price: int = 1, max_unit_price: int = 2, max_units: int = 1000,
                 local: Callable[[EndorseRequest], ProposalResponse] | None = None,
                 private: PrivateView | None = None) -> None:
        self.node_id = node_id
        self.client = ContractClient(node_id, key, contract, local)
        self.buddy = buddy  # the fellow server that co-endorses our own calls
        self.capacity, self.load, self.cloud = capacity, load, cloud
        self.volunteer_timeout_s = volunteer_timeout_s
        self.unit_price, self.max_unit_price, self.max_units = unit_price, max_unit_price, max_units
        self.private = private  # our endorsing peer's private data (our implicit collection)
        self.tasks: dict[str, TaskRecord] = {}  # tasks this server requested
        self.jobs: dict[str, TaskRecord] = {}  # tasks this server volunteered for
        self.seen: dict[str, dict[str, Any]] = {}  # requested events: task -> requester, need
        self.collections: dict[str, PrivateCollection] = {}
        self.payloads_received: list[str] = []  # task ids whose payload reached us (privacy check)
        self.paid: dict[str, int] = {}  # our settled tasks -> tokens paid for the metered usage

    def _own(self, method: str, *args: Any) -> list[Effect]:
        return self.client.call(method, *args, endorsers=[self.node_id, self.buddy])

    def _with(self, party: str, method: str, *args: Any, transient: dict[str, bytes] | None = None) -> list[Effect]:
        return self.client.call(method, *args, endorsers=[self.node_id, party], transient=transient)

    # -- local inputs ------------------------------------------------------------------------
    def report_load(self) -> list[Effect]:
        """Tell the cloud monitor our load (a ``report_load`` transaction)."""
        return self._own("report_load", self.load, self.capacity)

    def request_help(self, task_id: str, payload: bytes, need: int, now: float) -> list[Effect]:
        """We are overloaded: ask the consortium to take ``payload`` (``need`` load units)."""
        self.tasks[task_id] = TaskRecord(task_id, self.node_id, need, "requested", now, payload=payload,
                                         payload_digest=sha256(payload))
        return self._own("request_help", task_id, need, self.max_unit_price) + [
            SetTimer(f"{TIMER_PREFIX}timeout:{task_id}", self.volunteer_timeout_s)]

    def send_to_cloud(self, task_id: str, payload: bytes, now: float) -> list[Effect]:
        """The baseline: ship the task over the WAN to the cloud, no chain involved."""
        self.tasks[task_id] = TaskRecord(task_id, self.node_id, 0, "cloud_sent", now, payload=payload,
                                         payload_digest=sha256(payload))
        return [Send(self.cloud, CloudTask(task_id=task_id, payload=payload))]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """An endorsement timer, or no volunteer in time: fall back to the cloud."""
        routed = self.client.on_timer(name, now)
        if routed is not None:
            return routed
        task = self.tasks.get(name.removeprefix(f"{TIMER_PREFIX}timeout:"))
        if task is None or task.phase != "requested" or task.volunteer:
            return []
        task.phase = "cloud_sent"
        task.times["cloud_sent"] = now
        return [Metric("market.task_fallback_to_cloud", 1.0),
                Send(self.cloud, CloudTask(task_id=task.task_id, payload=task.payload))]

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        """Our own transactions committed: resubmit MVCC conflicts."""
        return self.client.endorsing.on_block(block, receipts)

    # -- committed contract events -----------------------------------------------------------
    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        """A committed event of the task-sharing contract, in chain order."""
        task_id = a.get("task")
        if name == "requested":
            self.seen[task_id] = {"requester": a["requester"], "need": a["need"]}
            return []
        if name == "shortlisted":
            return self._on_shortlisted(task_id, a["shortlist"])
        mine = self.tasks.get(task_id)
        if name == "volunteered" and mine is not None and mine.phase == "requested" and not mine.volunteer:
            mine.volunteer = a["server"]
            details = encode({"payload_digest": mine.payload_digest, "payload_size": len(mine.payload)})
            return self._with(a["server"], "agree", task_id, a["server"], self.max_units,
                              transient={"details": details})
        if name == "agreed" and a["volunteer"] == self.node_id and task_id in self.jobs:
            job = self.jobs[task_id]
            advance(job, "countersigned", now)
            self.load += job.need  # the task is ours now: its load counts
            return self._with(job.requester, "countersign", task_id) + self.report_load()
        if name == "contracted" and mine is not None and mine.phase == "requested":
            advance(mine, "contracted", now)
            advance(mine, "payload_sent", now)
            self.collections[task_id] = PrivateCollection(task_id, (self.node_id, mine.volunteer))
            return [Send(mine.volunteer, TaskPayload(task_id=task_id, payload=mine.payload))]
        if name == "result_submitted" and mine is not None:
            mine.result_digest = a["result_digest"]
            return self._check_result(mine, now)
        if name == "settled" and mine is not None and mine.phase == "result_checked":
            advance(mine, "settled", now)
            self.paid[task_id] = a["paid"]
            return [Metric("market.task_settled_s", now - mine.started), Metric("market.task_paid", float(a["paid"]))]
        return []

    def _on_shortlisted(self, task_id: str, shortlist: list[str]) -> list[Effect]:
        info = self.seen.get(task_id)
        if self.node_id not in shortlist or info is None:
            return []
        accept = self.load + info["need"] <= self.capacity  # local load decides, not the report
        if accept:
            self.jobs[task_id] = TaskRecord(task_id, info["requester"], info["need"], "volunteered", 0.0)
        return self._own("volunteer", task_id, accept, self.unit_price if accept else 0) + (
            [] if accept else [Metric("market.task_declined", 1.0)])

    def _details(self, task_id: str) -> dict[str, Any] | None:
        """The task's details from our private data collection (the chain has only their hash)."""
        raw = self.private(self.client.contract, implicit_collection(self.node_id), details_key(task_id)) \
            if self.private is not None else None
        if raw is None:
            return None
        details = decode(decode(raw, bytes), dict)
        return details if isinstance(details.get("payload_digest"), bytes) else None

    # -- wire messages -----------------------------------------------------------------------
    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ProposalResponse):
            return self.client.endorsing.on_response(sender, message, now)
        if isinstance(message, TaskPayload):
            return self._on_payload(sender, message, now)
        if isinstance(message, TaskResult):
            mine = self.tasks.get(message.task_id)
            if mine is None or sender != mine.volunteer or mine.phase != "payload_sent":
                return [Rejected(sender, "market.task_result", f"no task {message.task_id!r} awaits its result")]
            mine.result = message.result
            return self._check_result(mine, now)
        if isinstance(message, CloudResult):
            mine = self.tasks.get(message.task_id)
            if mine is None or sender != self.cloud or mine.phase != "cloud_sent":
                return [Rejected(sender, "market.cloud_result", f"no task {message.task_id!r} is at the cloud")]
            advance(mine, "cloud_done", now)
            return [Metric("market.cloud_result_s", now - mine.started)]
        return [Rejected(sender, type(message).__name__, f"edge {self.node_id} does not accept it")]

    def _on_payload(self, sender: str, message: TaskPayload, now: float) -> list[Effect]:
        job = self.jobs.get(message.task_id)
        if job is None or job.phase != "countersigned" or sender != job.requester:
            return [Rejected(sender, "market.task_payload", f"no contract with {sender!r} for {message.task_id!r}")]
        details = self._details(job.task_id)
        if details is None:
            return [Rejected(sender, "market.task_payload", f"no private details of {message.task_id!r} held here")]
        job.payload_digest = details["payload_digest"]
        pdc = self.collections.setdefault(job.task_id, PrivateCollection(job.task_id, (job.requester, self.node_id)))
        try:
            pdc.put(sender, "payload", message.payload, job.payload_digest)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "market.task_payload", str(exc))]
        self.payloads_received.append(job.task_id)
        advance(job, "computing", now)
        return [Compute(f"solve:{job.task_id}", SolveJob(task_id=job.task_id, payload=message.payload))]

    def on_solved(self, job: SolveJob, result: bytes, now: float) -> list[Effect]:
        """Our computation finished: digest and metered usage on chain, the bytes to the requester."""
        if job.task_id not in self.jobs:  # a cloud-style job is never ours; nothing else computes here
            return []
        record = self.jobs[job.task_id]
        advance(record, "result_sent", now)
        self.load -= record.need
        units = max(1, round((now - record.times["computing"]) * 1000))  # metered: milliseconds of compute
        return (self._with(record.requester, "submit_result", job.task_id, sha256(result), units)
                + [Send(record.requester, TaskResult(task_id=job.task_id, result=result))] + self.report_load())

    def _check_result(self, task: TaskRecord, now: float) -> list[Effect]:
        """Both the bytes and the on-chain digest are here: check, then confirm on chain."""
        if task.result is None or task.result_digest is None or task.phase != "payload_sent":
            return []
        try:
            self.collections[task.task_id].put(task.volunteer, "result", task.result, task.result_digest)
        except EdgeLedgerError:
            advance(task, "disputed", now)
            return self._with(task.volunteer, "confirm", task.task_id, False) + [Metric("market.task_disputed", 1.0)]
        advance(task, "result_checked", now)
        return self._with(task.volunteer, "confirm", task.task_id, True) + [
            Metric("market.task_result_s", now - task.started)]


class CloudMonitorCore:
    """The cloud: deploys the contract (crediting the servers' starting funds), shortlists on
    requests from the loads it saw reported, and computes tasks sent to it."""

    def __init__(self, node_id: str, key: PrivateKey, *, contract: str = "tasks", shortlist_k: int = 3,
                 servers: list[str] | None = None, balance: int = 0, co_endorser: str = "",
                 local: Callable[[EndorseRequest], ProposalResponse] | None = None) -> None:
        self.node_id = node_id
        self.client = ContractClient(node_id, key, contract, local)
        self.shortlist_k, self.servers, self.balance = shortlist_k, list(servers or []), balance
        self.co_endorser = co_endorser  # an edge server that co-endorses the monitor's calls
        self.reporting: set[str] = set()  # servers whose loads the chain holds
        self.waiting: dict[str, str] = {}  # cloud task id -> requester

    def start(self) -> list[Effect]:
        return [self.client.deploy("fabric.task_sharing", [sorted(self.servers), self.balance])]

    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        if name == "load_reported":
            self.reporting.add(a["server"])
        if name == "requested":
            return self.client.call("shortlist", a["task"], self.shortlist_k, sorted(self.reporting),
                                    endorsers=[self.node_id, self.co_endorser])
        return []

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ProposalResponse):
            return self.client.endorsing.on_response(sender, message, now)
        if not isinstance(message, CloudTask):
            return [Rejected(sender, type(message).__name__, "the cloud monitor accepts only cloud tasks")]
        self.waiting[message.task_id] = sender
        return [Compute(f"cloud:{message.task_id}", SolveJob(task_id=message.task_id, payload=message.payload))]

    def on_solved(self, job: SolveJob, result: bytes, now: float) -> list[Effect]:
        requester = self.waiting.pop(job.task_id, None)
        return [Send(requester, CloudResult(task_id=job.task_id, result=result))] if requester else []
