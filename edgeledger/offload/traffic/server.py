"""An edge server (access point + processor) or the cloud, serving offloaded tasks (sans-IO).

The edge is its devices' access point: it collects a slot's :class:`AccessRequest` s, grants
each requester a TDMA share (k = devices offloading through it this slot, with the counts of
tasks per target), relays cloud-bound tasks over its WAN link, runs its own tasks on its
processor and sends outputs back on the device's downlink share ``r_dl / k``. The cloud runs
every task at ``f_cloud`` (an elastic server, as the model has it) and answers the edge it
came from. After each slot's grants every edge reports what it saw (:class:`ResourceReport`)
to the devices: last slot's users, tasks and cloud relays -- the agents' view of the network.

``sharing``: ``"slot"`` reproduces the analytical model's sharing exactly (a task of a slot in
which n tasks use the server gets ``f / n`` throughout; cloud transfers cross the WAN on a
fair share ``R_wan / n_c``), ``"network"`` is a real server and a real WAN link (processor
sharing over the tasks present; transfers queue on the edge-cloud link with everything else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edgeledger.effects import Broadcast, Effect, Send, SetTimer
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.traffic.cpu import Processor
from edgeledger.offload.traffic.messages import AccessGrant, AccessRequest, ResourceReport, TaskResult, TaskUpload

__all__ = ["OffloadServerCore", "GRANT_TIMER", "CPU_TIMER", "REPORT_TIMER"]

GRANT_TIMER = "offload.grant:"
CPU_TIMER = "offload.cpu"
REPORT_TIMER = "offload.report"


@dataclass
class _Slot:
    requests: dict[str, AccessRequest] = field(default_factory=dict)
    granted: bool = False


class OffloadServerCore:
    """An edge (``devices`` on its radio, it reports to ``report_to``) or the cloud (no devices)."""

    MAX_SLOTS = 64  # slots whose requests are kept (older ones are dropped)

    def __init__(self, node_id: str, config: OffloadConfig, cloud: str, devices: Sequence[str] = (),
                 report_to: Sequence[str] = (), sharing: str = "network", grant_window_s: float = 0.0) -> None:
        self.node_id, self.config, self.cloud, self.sharing = node_id, config, cloud, sharing
        self.is_cloud = node_id == cloud
        self.devices, self.report_to, self.grant_window_s = set(devices), tuple(report_to), grant_window_s
        cpu_hz = config.cloud_cpu_hz if self.is_cloud else config.edge_cpu_hz
        discipline = "slot" if (sharing == "slot" or self.is_cloud) else "ps"
        self.cpu = Processor(cpu_hz, discipline)
        self.slots: dict[int, _Slot] = {}
        self.running: dict[str, tuple[TaskUpload, str]] = {}  # task id -> (task, who sent it here)
        self.relayed: dict[str, TaskUpload] = {}  # tasks of our devices served elsewhere
        self.counts: dict[int, tuple[int, int, int]] = {}  # slot -> (users, our tasks, cloud relays)
        self.reported = -1

    def start(self, now: float) -> list[Effect]:
        return [] if self.is_cloud else [SetTimer(REPORT_TIMER, self.config.slot_s / 2)]

    # -- the access point ------------------------------------------------------------------------
    def on_request(self, sender: str, req: AccessRequest, now: float) -> list[Effect]:
        if self.is_cloud or sender not in self.devices:
            return []
        slot = self.slots.setdefault(req.slot, _Slot())
        if slot.granted or sender in slot.requests:
            return []
        slot.requests[sender] = req
        if len(self.slots) > self.MAX_SLOTS:
            del self.slots[min(self.slots)]
        return [SetTimer(f"{GRANT_TIMER}{req.slot}", self.grant_window_s)] if len(slot.requests) == 1 else []

    def _grant(self, number: int) -> list[Effect]:
        slot = self.slots.get(number)
        if slot is None or slot.granted:
            return []
        slot.granted = True
        targets = [r.target for r in slot.requests.values()]
        users = len(targets)
        self.counts[number] = (users, targets.count(self.node_id), targets.count(self.cloud))
        return [Send(device, AccessGrant(slot=number, users=users, edge_tasks=targets.count(req.target)
                                         if req.target != self.cloud else 0, cloud_tasks=targets.count(self.cloud)))
                for device, req in slot.requests.items()]

    def _report(self) -> list[Effect]:
        """Every half slot after the first: the counts of the slot whose grants are done."""
        number = self.reported + 1
        self.reported = number
        users, ours, relayed = self.counts.pop(number, (0, 0, 0))
        report = ResourceReport(server=self.node_id, slot=number, users=users, edge_tasks=ours,
                                cloud_tasks=relayed, active_tasks=len(self.cpu), cpu_hz=self.cpu.cpu_hz)
        return [SetTimer(REPORT_TIMER, self.config.slot_s)] + ([Broadcast(self.report_to, report)]
                                                               if self.report_to else [])

    # -- tasks -----------------------------------------------------------------------------------
    def on_task(self, sender: str, task: TaskUpload, now: float) -> list[Effect]:
        if task.target == self.node_id:
            if task.task_id in self.running:
                return []
            self.running[task.task_id] = (task, sender)
            self.cpu.admit(task.task_id, task.cycles, now, cohort=1 if self.is_cloud else task.n_server)
            return self._cpu_timer()
        if self.is_cloud or sender not in self.devices:
            return []  # we relay only for our own devices
        self.relayed[task.task_id] = task
        rate = self.config.wan_rate_bps / task.n_server if (self.sharing == "slot" and task.target == self.cloud) else None
        return [Send(task.target, task, rate_bps=rate)]

    def _cpu_timer(self) -> list[Effect]:
        nxt = self.cpu.next_finish()
        return [SetTimer(CPU_TIMER, max(0.0, nxt[0] - self.cpu.last_s))] if nxt is not None else []

    def _finished(self, now: float) -> list[Effect]:
        nxt = self.cpu.next_finish()
        if nxt is None:
            return []
        task_id = nxt[1]
        started = self.cpu.finish(task_id, now)
        task, sender = self.running.pop(task_id)
        result = TaskResult(task_id=task_id, device=task.device, server=self.node_id, started_s=started,
                            finished_s=now, output=bytes(task.output_bits // 8))
        if sender == task.device:  # our own device: back on its downlink share
            out: list[Effect] = [Send(task.device, result, rate_bps=task.rate_down_bps / task.share)]
        else:  # back to the AP it came through
            wan = self.is_cloud and self.sharing == "slot"
            out = [Send(sender, result, rate_bps=self.config.wan_rate_bps / task.n_server if wan else None)]
        return out + self._cpu_timer()

    def on_result(self, sender: str, result: TaskResult, now: float) -> list[Effect]:
        """A result for one of our devices from the server that ran its task: pass it down."""
        task = self.relayed.pop(result.task_id, None)
        if task is None or sender != task.target:
            return []
        return [Send(task.device, result, rate_bps=task.rate_down_bps / task.share)]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name.startswith(GRANT_TIMER):
            return self._grant(int(name.removeprefix(GRANT_TIMER)))
        if name == CPU_TIMER:
            return self._finished(now)
        if name == REPORT_TIMER:
            return self._report()
        return []
