"""The task-sharing cores as node services: committed contract events in, effects out."""

from __future__ import annotations

from typing import Any

from edgeledger.effects import Effect
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import ProposalResponse, contract_meta, logs_at
from edgeledger.ledger.state import LedgerState, Receipt
from edgeledger.market.sharing.core import TIMER_PREFIX, CloudMonitorCore, EdgeServerCore, solve_task
from edgeledger.market.sharing.events import SHARING_MESSAGES, SolveJob
from edgeledger.node.service import Service

__all__ = ["EdgeSharingService", "CloudSharingService", "contract_events"]


def contract_events(state: LedgerState, height: int, contract: str) -> list[tuple[str, dict[str, Any]]]:
    """``(name, attributes)`` of ``contract``'s events in block ``height``, in chain order."""
    return [(ev.name, ev.attributes) for log in logs_at(state.kv, height) for ev in log.events
            if ev.contract == contract]


class EdgeSharingService(Service):
    """An edge server. ``plan(task_id, payload, need, to_cloud)`` queues a task; the driver fires
    timer ``share.go:<task_id>`` when the server becomes overloaded with it."""

    message_types = SHARING_MESSAGES + (ProposalResponse,)
    timer_prefix = TIMER_PREFIX

    def __init__(self, core: EdgeServerCore, state: LedgerState) -> None:
        self.core, self.state = core, state
        self.reported = False
        self.planned: dict[str, tuple[bytes, int, bool]] = {}

    def plan(self, task_id: str, payload: bytes, need: int, to_cloud: bool = False) -> None:
        self.planned[task_id] = (payload, need, to_cloud)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return self.core.on_message(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name.startswith(f"{TIMER_PREFIX}go:"):
            task_id = name.removeprefix(f"{TIMER_PREFIX}go:")
            payload, need, to_cloud = self.planned.pop(task_id)
            if to_cloud:
                return self.core.send_to_cloud(task_id, payload, now)
            return self.core.request_help(task_id, payload, need, now)
        return self.core.on_timer(name, now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        effects: list[Effect] = self.core.on_block(block, receipts, now)
        contract = self.core.client.contract
        if not self.reported and contract_meta(self.state.kv, contract) is not None:
            self.reported = True  # the monitor's contract exists: feed it our load
            effects += self.core.report_load()
        for name, attrs in contract_events(self.state, block.height, contract):
            effects += self.core.on_event(name, attrs, now)
        return effects

    def execute(self, job: SolveJob) -> bytes:
        return solve_task(job.payload)

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        return self.core.on_solved(job, result, now)


class CloudSharingService(Service):
    """The cloud: deploys the task-sharing contract at start, shortlists, computes cloud tasks."""

    message_types = SHARING_MESSAGES + (ProposalResponse,)
    timer_prefix = TIMER_PREFIX

    def __init__(self, core: CloudMonitorCore, state: LedgerState) -> None:
        self.core, self.state = core, state

    def start(self, now: float) -> list[Effect]:
        return self.core.start()

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return self.core.on_message(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.client.on_timer(name, now) or []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        effects: list[Effect] = self.core.client.endorsing.on_block(block, receipts)
        for name, attrs in contract_events(self.state, block.height, self.core.client.contract):
            effects += self.core.on_event(name, attrs, now)
        return effects

    def execute(self, job: SolveJob) -> bytes:
        return solve_task(job.payload)

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        return self.core.on_solved(job, result, now)
