"""The Fabric task-sharing workflow: its contract (``contract``), sans-IO cores, node services and a simulator run."""

from edgeledger.market.sharing.core import TIMER_PREFIX, CloudMonitorCore, EdgeServerCore, solve_task
from edgeledger.market.sharing.events import SHARING_MESSAGES, CloudResult, CloudTask, SolveJob, TaskPayload, TaskResult
from edgeledger.market.sharing.service import CloudSharingService, EdgeSharingService, contract_events
from edgeledger.market.sharing.sim import SharingConfig, SharingRun, latency_table, run_task_sharing
from edgeledger.market.sharing.state import TRANSITIONS, TaskRecord, advance

__all__ = [
    "TIMER_PREFIX", "CloudMonitorCore", "EdgeServerCore", "solve_task", "SHARING_MESSAGES", "CloudResult",
    "CloudTask", "SolveJob", "TaskPayload", "TaskResult", "CloudSharingService", "EdgeSharingService",
    "contract_events", "SharingConfig", "SharingRun", "latency_table", "run_task_sharing", "TRANSITIONS",
    "TaskRecord", "advance",
]
