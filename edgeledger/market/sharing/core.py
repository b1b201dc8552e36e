"""Sans-IO cores of the Fabric task-sharing workflow (Vera Rivera, Refaey, Hossain).

Rules, in order: an overloaded edge server submits ``request_help`` with the payload's
sha256; the cloud monitor, which reads the servers' ``report_load`` transactions from the
chain, answers with ``shortlist``; each shortlisted server volunteers only if its *local*
load (which may have risen since its report) still fits the task; the requester ``agree``s
with the first volunteer in chain order and that volunteer ``countersign``s; only then does
the payload move, directly and only between the two, and the volunteer checks it against
the on-chain digest; the volunteer computes, posts the result digest on chain and sends the
bytes; the requester checks the bytes against the chain and ``confirm``s (settle or dispute).

The cores read committed contract events (``on_event``) and wire messages, and return
effects; the node signs nothing for them, they sign their own transactions. No clock:
``now`` comes in; no randomness.
"""

from __future__ import annotations

from typing import Any

from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Compute, Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.contracts import ContractCall
from edgeledger.ledger.transaction import make_transaction
from edgeledger.market.sharing.events import CloudResult, CloudTask, SolveJob, TaskPayload, TaskResult
from edgeledger.market.sharing.state import TaskRecord, advance
from edgeledger.market.sharing.contract import PrivateCollection

__all__ = ["EdgeServerCore", "CloudMonitorCore", "solve_task", "TIMER_PREFIX"]

TIMER_PREFIX = "share."


def solve_task(payload: bytes) -> bytes:
    """The task's computation (a stand-in with a checkable, deterministic result)."""
    return b"result:" + sha256(payload)


class _Signer:
    """Signs this node's contract calls with its own increasing nonces."""

    def __init__(self, node_id: str, key: PrivateKey, contract: str) -> None:
        self.node_id, self.key, self.contract, self.nonce = node_id, key, contract, 0

    def call(self, method: str, *args: Any) -> SubmitTransaction:
        self.nonce += 1
        body = ContractCall(contract=self.contract, method=method, args=list(args))
        return SubmitTransaction(make_transaction(self.key, self.node_id, self.nonce, "contract.call", body))


class EdgeServerCore:
    """One edge server: requester of its own tasks, possible volunteer for others'."""

    def __init__(self, node_id: str, key: PrivateKey, *, capacity: int, load: int, contract: str = "tasks",
                 cloud: str = "cloud", volunteer_timeout_s: float = 2.0) -> None:
        self.node_id = node_id
        self.signer = _Signer(node_id, key, contract)
        self.capacity, self.load, self.cloud = capacity, load, cloud
        self.volunteer_timeout_s = volunteer_timeout_s
        self.tasks: dict[str, TaskRecord] = {}  # tasks this server requested
        self.jobs: dict[str, TaskRecord] = {}  # tasks this server volunteered for
        self.seen: dict[str, dict[str, Any]] = {}  # requested events: task -> requester, need, digest
        self.collections: dict[str, PrivateCollection] = {}
        self.payloads_received: list[str] = []  # task ids whose payload reached us (privacy check)

    # -- local inputs ------------------------------------------------------------------------
    def report_load(self) -> list[Effect]:
        """Tell the cloud monitor our load (a ``report_load`` transaction)."""
        return [self.signer.call("report_load", self.load, self.capacity)]

    def request_help(self, task_id: str, payload: bytes, need: int, now: float) -> list[Effect]:
        """We are overloaded: ask the consortium to take ``payload`` (``need`` load units)."""
        digest = sha256(payload)
        self.tasks[task_id] = TaskRecord(task_id, self.node_id, need, "requested", now, payload=payload,
                                         payload_digest=digest)
        return [self.signer.call("request_help", task_id, digest, need),
                SetTimer(f"{TIMER_PREFIX}timeout:{task_id}", self.volunteer_timeout_s)]

    def send_to_cloud(self, task_id: str, payload: bytes, now: float) -> list[Effect]:
        """The baseline: ship the task over the WAN to the cloud, no chain involved."""
        self.tasks[task_id] = TaskRecord(task_id, self.node_id, 0, "cloud_sent", now, payload=payload,
                                         payload_digest=sha256(payload))
        return [Send(self.cloud, CloudTask(task_id=task_id, payload=payload))]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """No volunteer in time: fall back to the cloud."""
        task = self.tasks.get(name.removeprefix(f"{TIMER_PREFIX}timeout:"))
        if task is None or task.phase != "requested" or task.volunteer:
            return []
        task.phase = "cloud_sent"
        task.times["cloud_sent"] = now
        return [Metric("market.task_fallback_to_cloud", 1.0),
                Send(self.cloud, CloudTask(task_id=task.task_id, payload=task.payload))]

    # -- committed contract events -----------------------------------------------------------
    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        """A committed event of the task-sharing contract, in chain order."""
        task_id = a.get("task")
        if name == "requested":
            self.seen[task_id] = {"requester": a["requester"], "need": a["need"], "digest": a["payload_digest"]}
            return []
        if name == "shortlisted":
            return self._on_shortlisted(task_id, a["shortlist"])
        mine = self.tasks.get(task_id)
        if name == "volunteered" and mine is not None and mine.phase == "requested" and not mine.volunteer:
            mine.volunteer = a["server"]
            return [self.signer.call("agree", task_id, a["server"])]
        if name == "agreed" and a["volunteer"] == self.node_id and task_id in self.jobs:
            job = self.jobs[task_id]
            advance(job, "countersigned", now)
            self.load += job.need  # the task is ours now: its load counts
            return [self.signer.call("countersign", task_id)] + self.report_load()
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
            return [Metric("market.task_settled_s", now - mine.started)]
        return []

    def _on_shortlisted(self, task_id: str, shortlist: list[str]) -> list[Effect]:
        info = self.seen.get(task_id)
        if self.node_id not in shortlist or info is None:
            return []
        accept = self.load + info["need"] <= self.capacity  # local load decides, not the report
        if accept:
            self.jobs[task_id] = TaskRecord(task_id, info["requester"], info["need"], "volunteered", 0.0,
                                            payload_digest=info["digest"])
        return [self.signer.call("volunteer", task_id, accept)] + ([] if accept else [
            Metric("market.task_declined", 1.0)])

    # -- wire messages -----------------------------------------------------------------------
    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
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
        pdc = self.collections.setdefault(job.task_id, PrivateCollection(job.task_id, (job.requester, self.node_id)))
        try:
            pdc.put(sender, "payload", message.payload, job.payload_digest)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "market.task_payload", str(exc))]
        self.payloads_received.append(job.task_id)
        advance(job, "computing", now)
        return [Compute(f"solve:{job.task_id}", SolveJob(task_id=job.task_id, payload=message.payload))]

    def on_solved(self, job: SolveJob, result: bytes, now: float) -> list[Effect]:
        """Our computation of a task finished: the digest goes on chain, the bytes to the requester."""
        if job.task_id not in self.jobs:  # a cloud-style job is never ours; nothing else computes here
            return []
        record = self.jobs[job.task_id]
        advance(record, "result_sent", now)
        self.load -= record.need
        return [self.signer.call("submit_result", job.task_id, sha256(result)),
                Send(record.requester, TaskResult(task_id=job.task_id, result=result))] + self.report_load()

    def _check_result(self, task: TaskRecord, now: float) -> list[Effect]:
        """Both the bytes and the on-chain digest are here: check, then confirm on chain."""
        if task.result is None or task.result_digest is None or task.phase != "payload_sent":
            return []
        try:
            self.collections[task.task_id].put(task.volunteer, "result", task.result, task.result_digest)
        except EdgeLedgerError:
            advance(task, "disputed", now)
            return [self.signer.call("confirm", task.task_id, False), Metric("market.task_disputed", 1.0)]
        advance(task, "result_checked", now)
        return [self.signer.call("confirm", task.task_id, True), Metric("market.task_result_s", now - task.started)]


class CloudMonitorCore:
    """The cloud: deploys the contract, shortlists on requests, and computes tasks sent to it."""

    def __init__(self, node_id: str, key: PrivateKey, *, contract: str = "tasks", shortlist_k: int = 3) -> None:
        self.node_id = node_id
        self.signer = _Signer(node_id, key, contract)
        self.shortlist_k = shortlist_k
        self.waiting: dict[str, str] = {}  # cloud task id -> requester

    def on_event(self, name: str, a: dict[str, Any], now: float) -> list[Effect]:
        if name == "requested":
            return [self.signer.call("shortlist", a["task"], self.shortlist_k)]
        return []

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if not isinstance(message, CloudTask):
            return [Rejected(sender, type(message).__name__, "the cloud monitor accepts only cloud tasks")]
        self.waiting[message.task_id] = sender
        return [Compute(f"cloud:{message.task_id}", SolveJob(task_id=message.task_id, payload=message.payload))]

    def on_solved(self, job: SolveJob, result: bytes, now: float) -> list[Effect]:
        requester = self.waiting.pop(job.task_id, None)
        return [Send(requester, CloudResult(task_id=job.task_id, result=result))] if requester else []
