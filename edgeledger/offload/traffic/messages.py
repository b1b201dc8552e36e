"""Wire messages of offloading as network traffic (docs/offloading.md, "Offloading on the network").

A device that offloads asks its access point for a share of the radio (:class:`AccessRequest`),
gets it (:class:`AccessGrant`: how many devices share the AP this slot, how many tasks go to
the edge and to the cloud), uploads the task with its input bytes (:class:`TaskUpload`), and
gets the output back (:class:`TaskResult`). Servers send :class:`ResourceReport` every slot:
what the agents observe of the network (last slot's users, edge and cloud tasks, CPU load).
"""

from __future__ import annotations

from edgeledger.codec import Record

__all__ = ["AccessRequest", "AccessGrant", "TaskUpload", "TaskResult", "ResourceReport", "OFFLOAD_MESSAGES"]


class AccessRequest(Record, tag="offload.access"):
    """Device ``device`` wants to offload its slot-``slot`` task to ``target`` (an edge id or the
    cloud) through its AP; ``rate_*_bps`` are its measured channel rates this slot (pilot)."""

    slot: int
    target: str
    rate_up_bps: float
    rate_down_bps: float


class AccessGrant(Record, tag="offload.grant"):
    """The AP's TDMA grant for slot ``slot``: ``users`` devices share its radio (k), ``edge_tasks``
    tasks go to the target edge (n_m) and ``cloud_tasks`` to the cloud (n_c)."""

    slot: int
    users: int
    edge_tasks: int
    cloud_tasks: int


class TaskUpload(Record, tag="offload.task"):
    """A task and its input bytes, from ``device`` to ``target`` through the device's AP."""

    task_id: str
    device: str
    slot: int
    target: str
    size_bits: int
    cycles: float
    output_bits: int
    deadline_s: float
    share: int  # k of the grant: the AP sends the result back on the same share
    rate_down_bps: float  # the device's downlink rate this slot (the AP's result rate before sharing)
    n_server: int  # tasks of the slot sharing the target server (n_m; n_c for the cloud)
    payload: bytes


class TaskResult(Record, tag="offload.result"):
    """A task's output, from the server that ran it (relayed by the AP to the device)."""

    task_id: str
    device: str
    server: str
    started_s: float
    finished_s: float
    output: bytes


class ResourceReport(Record, tag="offload.report"):
    """A server's view of the last slot: devices on its radio (k, APs only), tasks it ran (n_m)
    or relayed to the cloud (n_c), tasks in service and its CPU (Hz)."""

    server: str
    slot: int
    users: int
    edge_tasks: int
    cloud_tasks: int
    active_tasks: int
    cpu_hz: float


OFFLOAD_MESSAGES = (AccessRequest, AccessGrant, TaskUpload, TaskResult, ResourceReport)
