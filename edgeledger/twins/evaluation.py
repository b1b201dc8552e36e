"""Scoring maintenance: inspections against failures, and the schedule-based baseline.

Both policies act the same way: an order (the model's, or the schedule's) sends the crew to
inspect the machine; if it would fail within :data:`HORIZON_HOURS` were it left running
(:meth:`MachineDevice.failure_imminent`: a copy of the machine, random stream included, run
forward), it is repaired -- a *true positive* -- else the order was a false alarm (*false
positive*) and the machine runs on. A failure no order caught is a *false negative*; the machine
is repaired after it. Precision = TP / (TP + FP), recall = TP / (TP + FN).

The baseline inspects every ``tau`` operating hours since the last repair (time-based
maintenance). To compare at equal cost, ``tau`` is the multiple of a batch whose inspection
count over the same machines is closest to the model's order count (:func:`equal_budget_schedule`);
it runs on machines with the same seeds and the same set-point changes at the same hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edgeledger.twins.degradation import DegradationModel
from edgeledger.twins.machine import HOURS_PER_BATCH, MachineDevice, MachineEvent
from edgeledger.twins.maintenance import HORIZON_HOURS

__all__ = ["MaintenanceScore", "ScheduleReplay", "equal_budget_schedule", "replay_schedule", "score_events"]


@dataclass(frozen=True)
class MaintenanceScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def orders(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float:
        return self.true_positives / self.orders if self.orders else 0.0

    @property
    def recall(self) -> float:
        found = self.true_positives + self.false_negatives
        return self.true_positives / found if found else 0.0

    def __add__(self, other: MaintenanceScore) -> MaintenanceScore:
        return MaintenanceScore(self.true_positives + other.true_positives,
                                self.false_positives + other.false_positives,
                                self.false_negatives + other.false_negatives)


def score_events(events: Iterable[MachineEvent]) -> MaintenanceScore:
    """Score one machine's event log: inspections (detail 1: failure was imminent) and failures."""
    tp = fp = fn = 0
    for ev in events:
        if ev.kind == "inspection":
            tp, fp = tp + ev.detail, fp + (1 - ev.detail)
        elif ev.kind == "failure":
            fn += 1
    return MaintenanceScore(tp, fp, fn)


@dataclass(frozen=True)
class ScheduleReplay:
    """A machine to replay: its identity and seed, and the set-point changes it saw (hour, kind, value)."""

    twin_id: str
    company: int
    seed: int
    hours: int
    set_points: tuple[tuple[int, str, int], ...] = ()


def _replay_device(spec: ScheduleReplay, model: DegradationModel, device: MachineDevice | None) -> MachineDevice:
    if device is not None:
        return device
    from edgeledger.crypto.keys import derive_key

    key = derive_key("ed25519", b"replay-" + spec.twin_id.encode())
    return MachineDevice(spec.twin_id, key, key, "replay", "replay", spec.company, model,
                         np.random.default_rng(spec.seed))


def replay_schedule(spec: ScheduleReplay, tau_hours: int, model: DegradationModel,
                    horizon_hours: int = HORIZON_HOURS) -> MaintenanceScore:
    """Run one machine for ``spec.hours`` under time-based inspection every ``tau_hours``."""
    device = _replay_device(spec, model, None)
    changes = sorted(spec.set_points)
    age = 0
    while device.total_hours < spec.hours:
        while changes and changes[0][0] <= device.total_hours:
            _, kind, value = changes.pop(0)
            if kind == "set_speed":
                device.state.speed = device.speed = float(value)
            elif kind == "set_coolant":
                device.state.coolant = bool(value)
        if device.failed:
            device.renew()
            age = 0
        device.next_batch(0, sign=False)
        age += HOURS_PER_BATCH
        if not device.failed and age >= tau_hours:
            device.inspect(horizon_hours)
            age = 0
    return score_events(device.events)


def equal_budget_schedule(fleet: Sequence[ScheduleReplay], orders: int, model: DegradationModel,
                          span: int = 6) -> tuple[int, MaintenanceScore]:
    """The inspection interval (a multiple of a batch) whose inspections over ``fleet`` come closest
    to ``orders``, with its score: the intervals within ``span`` batches of ``hours / orders`` are
    tried; ties go to the shorter interval (the higher recall)."""
    hours = sum(spec.hours for spec in fleet)
    guess = max(1, round(hours / max(orders, 1) / HOURS_PER_BATCH))
    best: tuple[int, int, MaintenanceScore] | None = None
    for batches in range(max(1, guess - span), guess + span + 1):
        tau = batches * HOURS_PER_BATCH
        total = MaintenanceScore(0, 0, 0)
        for spec in fleet:
            total = total + replay_schedule(spec, tau, model)
        gap = abs(total.orders - orders)
        if best is None or gap < best[0]:
            best = (gap, tau, total)
    assert best is not None
    return best[1], best[2]
