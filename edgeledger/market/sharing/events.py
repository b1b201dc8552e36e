"""Wire messages of the task-sharing workflow: the only payload-carrying messages.

``TaskPayload``/``TaskResult`` travel directly between the requester and its contracted
volunteer (Fabric's private data collection: the chain holds only their sha256);
``CloudTask``/``CloudResult`` are the baseline of sending the task to the cloud over the WAN.
Everything else in the workflow is a contract transaction on chain.
"""

from __future__ import annotations

from edgeledger.codec import Record

__all__ = ["TaskPayload", "TaskResult", "CloudTask", "CloudResult", "SolveJob", "SHARING_MESSAGES"]


class TaskPayload(Record, tag="market.task_payload"):
    task_id: str
    payload: bytes


class TaskResult(Record, tag="market.task_result"):
    task_id: str
    result: bytes


class CloudTask(Record, tag="market.cloud_task"):
    task_id: str
    payload: bytes


class CloudResult(Record, tag="market.cloud_result"):
    task_id: str
    result: bytes


class SolveJob(Record):
    """Local work: compute the result of ``payload`` (a ``Compute`` job; never on the wire)."""

    task_id: str
    payload: bytes  # its duration is the node's compute_time (seconds per byte of payload)


SHARING_MESSAGES = (TaskPayload, TaskResult, CloudTask, CloudResult)
