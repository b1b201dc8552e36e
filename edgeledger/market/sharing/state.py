"""The task-sharing state table: every legal phase change of one task, per side.

The requester walks ``requested -> contracted -> payload_sent -> result_checked -> settled``
(or ``disputed``); a volunteer walks ``volunteered -> countersigned -> computing ->
result_sent``; a task offloaded to the cloud walks ``cloud_sent -> cloud_done``. A change
that is not in :data:`TRANSITIONS` is our own bug: :func:`advance` raises
:class:`LocalProtocolError` and leaves the task unchanged (h11's one-table rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeledger.errors import LocalProtocolError

__all__ = ["TRANSITIONS", "TaskRecord", "advance"]

TRANSITIONS: dict[str, tuple[str, ...]] = {
    # requester side
    "requested": ("contracted",),
    "contracted": ("payload_sent",),
    "payload_sent": ("result_checked", "disputed"),
    "result_checked": ("settled",),
    # volunteer side
    "volunteered": ("countersigned",),
    "countersigned": ("computing",),
    "computing": ("result_sent",),
    "result_sent": (),
    # cloud baseline
    "cloud_sent": ("cloud_done",),
    "cloud_done": (), "settled": (), "disputed": (),
}


@dataclass
class TaskRecord:
    """One task as one side sees it; times are the simulator's or the wall clock's ``now``."""

    task_id: str
    requester: str
    need: int
    phase: str
    started: float
    payload: bytes = b""
    payload_digest: bytes = b""
    volunteer: str = ""
    result: bytes | None = None
    result_digest: bytes | None = None
    times: dict[str, float] = field(default_factory=dict)


def advance(task: TaskRecord, new: str, now: float) -> None:
    """Move ``task`` to ``new`` and stamp the time, if the table allows it."""
    if new not in TRANSITIONS.get(task.phase, ()):
        raise LocalProtocolError(f"task {task.task_id!r} cannot go from {task.phase} to {new}; "
                                 f"expected one of {TRANSITIONS.get(task.phase, ())}")
    task.phase = new
    task.times[new] = now
