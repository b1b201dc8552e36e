"""A machine at the device layer: sensors that sign what they measure, an actuator that signs what it did.

:class:`MachineDevice` is sans-IO: the simulator's host and the deployed device process both
drive it. ``next_batch`` runs the degradation model for one batch of operating hours at the
current set points and returns the signed :class:`SensorBatch`; ``on_command`` applies a
delivered command once (a retried delivery of the same command gets the same acknowledgement,
so retries are safe) and returns the signed :class:`ActuatorAck`. ``renew`` is the maintenance
crew's repair: a new wear path (the drift is redrawn from the machine's own stream).

Set points: ``set_speed(rpm)`` (0..1500; 0 stops the spindle, so no wear) and
``set_coolant(on)`` (0/1; off runs hotter).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from edgeledger.crypto.keys import PrivateKey
from edgeledger.twins.degradation import (
    SENSOR_FIELDS,
    DegradationModel,
    MachineState,
    draw_drift,
)
from edgeledger.twins.records import (
    ActuatorAck,
    ActuatorCommand,
    SensorBatch,
    ack_statement,
)

__all__ = ["HOURS_PER_BATCH", "MACHINE_COMMANDS", "MACHINE_SENSORS", "MachineDevice", "MachineEvent"]

HOURS_PER_BATCH = 8
#: the schema every machine twin registers: [field, unit] and [command, [[param, min, max]]]
MACHINE_SENSORS = [["vibration_rms", "mm/s"], ["temperature", "degC"], ["motor_current", "A"],
                   ["spindle_speed", "rpm"]]
MACHINE_COMMANDS = [["set_speed", [["rpm", 0, 1500]]], ["set_coolant", [["on", 0, 1]]]]


@dataclass(frozen=True)
class MachineEvent:
    """What happened to the machine (the ground truth an experiment scores against)."""

    hour: int  # operating hours since commissioning
    kind: str  # "failure" | "repair" | "inspection" | "set_speed" | "set_coolant"
    detail: int = 0  # inspection: 1 when failure was imminent; set points: the new value


@dataclass
class MachineDevice:
    twin_id: str
    sensor_key: PrivateKey
    actuator_key: PrivateKey
    chain_id: str
    registry: str
    company: int
    model: DegradationModel
    rng: np.random.Generator
    hours_per_batch: int = HOURS_PER_BATCH
    speed: float = 1200.0
    seq: int = 0
    total_hours: int = 0
    events: list[MachineEvent] = field(default_factory=list)
    acks: dict[int, tuple[str, list[int]]] = field(default_factory=dict)  # command id -> (status, state)

    def __post_init__(self) -> None:
        self.state = self._fresh()

    def _fresh(self) -> MachineState:
        return MachineState(self.model, draw_drift(self.model, self.company, self.rng), self.rng, speed=self.speed)

    @property
    def failed(self) -> bool:
        return self.state.failed

    def next_batch(self, time_ms: int, sign: bool = True) -> SensorBatch:
        """Run one batch of hours (or until failure) and sign the samples (``sign=False``: a replay's
        unsigned batch); a failed machine reports ``status="failed"`` with the hours it ran before breaking."""
        before = self.state.hours
        samples = self.state.run_hours(self.hours_per_batch)
        self.total_hours += self.state.hours - before
        if self.state.failed and (not self.events or self.events[-1].kind != "failure"):
            self.events.append(MachineEvent(self.total_hours, "failure"))
        self.seq += 1
        batch = SensorBatch(twin_id=self.twin_id, seq=self.seq, time_ms=time_ms, hours=self.total_hours,
                            status="failed" if self.state.failed else "running", fields=list(SENSOR_FIELDS),
                            samples=samples)
        if not sign:
            return batch
        return SensorBatch(twin_id=batch.twin_id, seq=batch.seq, time_ms=batch.time_ms, hours=batch.hours,
                           status=batch.status, fields=batch.fields, samples=batch.samples,
                           signature=self.sensor_key.sign(batch.statement()))

    def set_points(self) -> list[int]:
        return [int(self.state.speed), int(self.state.coolant)]

    def on_command(self, cmd: ActuatorCommand) -> ActuatorAck:
        """Apply ``cmd`` once (a repeat is acknowledged with the first outcome) and sign the ack."""
        if cmd.command_id not in self.acks:
            status = "refused"
            if cmd.twin_id == self.twin_id and cmd.chain_id == self.chain_id and cmd.registry == self.registry \
                    and not self.state.failed and len(cmd.args) == 1:
                if cmd.name == "set_speed" and 0 <= cmd.args[0] <= 1500:
                    self.state.speed = self.speed = float(cmd.args[0])
                    status = "applied"
                elif cmd.name == "set_coolant" and cmd.args[0] in (0, 1):
                    self.state.coolant = bool(cmd.args[0])
                    status = "applied"
                if status == "applied":
                    self.events.append(MachineEvent(self.total_hours, cmd.name, cmd.args[0]))
            self.acks[cmd.command_id] = (status, self.set_points())
        status, state = self.acks[cmd.command_id]
        signature = self.actuator_key.sign(ack_statement(cmd.chain_id, cmd.registry, cmd.command_id, cmd.twin_id,
                                                         cmd.name, list(cmd.args), cmd.attempt, status, state))
        return ActuatorAck(command_id=cmd.command_id, twin_id=cmd.twin_id, attempt=cmd.attempt, status=status,
                           state=state, signature=signature)

    def failure_imminent(self, horizon_hours: int) -> bool:
        """Would this machine fail within ``horizon_hours`` if left running as it is? (Run a copy of it,
        its random stream included, forward: the inspection's finding, the experiment's ground truth.)"""
        if self.state.failed:
            return True
        probe = copy.deepcopy(self.state)
        for _ in range(-(-horizon_hours // self.hours_per_batch)):  # in batch-sized calls, as the machine runs
            probe.run_hours(self.hours_per_batch)
        return probe.failed

    def inspect(self, horizon_hours: int) -> bool:
        """The crew's inspection after a maintenance order: repair when failure is imminent."""
        imminent = self.failure_imminent(horizon_hours)
        self.events.append(MachineEvent(self.total_hours, "inspection", int(imminent)))
        if imminent:
            self.renew()
        return imminent

    def renew(self) -> None:
        """Repair: a new wear path at the current set points."""
        coolant = self.state.coolant
        self.state = self._fresh()
        self.state.coolant = coolant
        self.events.append(MachineEvent(self.total_hours, "repair"))
