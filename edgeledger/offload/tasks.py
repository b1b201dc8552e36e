"""Task workloads: synthetic per-slot tasks (QECO) and replayed trace files.

Synthetic tasks follow QECO (Rahmati et al., after Tang & Wong): input ``d ~ U[1, 7]`` Mbit,
cycles per bit ``phi`` from {197, 297, 397}, workload ``c = phi d``, output ``0.05 d`` and
deadline ``tau = 1`` s. In slot mode every device gets one task per slot; in queue mode a
task arrives with probability ``p_arr``. A trace is a CSV with the header
``arrival_s,device,size_bits,cycles,deadline_s``; a task is decided at the first slot
boundary at or after its arrival, with the deadline budget it has left then.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig

__all__ = ["TaskBatch", "Workload", "SyntheticWorkload", "TraceWorkload", "TraceRow", "read_trace", "make_workload"]

TRACE_COLUMNS = ("arrival_s", "device", "size_bits", "cycles", "deadline_s")


@dataclass(frozen=True)
class TaskBatch:
    """The tasks that arrive in one slot, one slot per device; ``active`` marks who has one.

    Inactive devices carry placeholder values (size 1 bit, 1 cycle) that the cost model
    masks out, so every array keeps shape ``(N,)``.
    """

    active: np.ndarray  # (N,) bool
    size_bits: np.ndarray  # (N,) d
    cycles_per_bit: np.ndarray  # (N,) phi
    cycles: np.ndarray  # (N,) c = phi d
    output_bits: np.ndarray  # (N,) d_out
    deadline_s: np.ndarray  # (N,) deadline budget left at the decision instant

    @staticmethod
    def empty(n_devices: int) -> TaskBatch:
        ones = np.ones(n_devices)
        return TaskBatch(np.zeros(n_devices, bool), ones, ones.copy(), ones.copy(), ones * 0.0, ones.copy())


class Workload(Protocol):
    """Supplies the tasks of slot ``slot`` (0-based); may use ``rng``."""

    def tasks(self, slot: int, rng: np.random.Generator) -> TaskBatch: ...


class SyntheticWorkload:
    """QECO's random tasks; every field is drawn for every device so that the random stream
    does not depend on which devices got a task."""

    def __init__(self, config: OffloadConfig) -> None:
        self.config = config

    def tasks(self, slot: int, rng: np.random.Generator) -> TaskBatch:
        cfg, n = self.config, self.config.n_devices
        size = rng.uniform(cfg.task_size_min_bits, cfg.task_size_max_bits, size=n)
        phi = rng.choice(np.asarray(cfg.cycles_per_bit, dtype=float), size=n)
        arrivals = rng.random(n)
        active = np.ones(n, bool) if cfg.mode == "slot" else arrivals < cfg.arrival_prob
        return TaskBatch(
            active=active,
            size_bits=size,
            cycles_per_bit=phi,
            cycles=phi * size,
            output_bits=cfg.output_ratio * size,
            deadline_s=np.full(n, cfg.deadline_s),
        )


@dataclass(frozen=True)
class TraceRow:
    """One task of a trace file."""

    arrival_s: float
    device: int
    size_bits: float
    cycles: float
    deadline_s: float


def read_trace(path: str | Path, n_devices: int) -> list[TraceRow]:
    """Read and validate a task trace CSV; errors name the file, line, column and value."""
    rows: list[TraceRow] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in TRACE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"trace {path}: missing columns {missing}; expected header {','.join(TRACE_COLUMNS)}")
        for line, record in enumerate(reader, start=2):
            rows.append(_parse_row(path, line, record, n_devices))
    return sorted(rows, key=lambda r: (r.arrival_s, r.device))


def _parse_row(path: str | Path, line: int, record: dict[str, str], n_devices: int) -> TraceRow:
    values: dict[str, float] = {}
    for column in TRACE_COLUMNS:
        try:
            values[column] = float(record[column])
        except (TypeError, ValueError):
            raise ConfigError(f"trace {path} line {line}: {column}={record[column]!r}; expected a number") from None
    device = values["device"]
    if device != int(device) or not 0 <= device < n_devices:
        raise ConfigError(
            f"trace {path} line {line}: device={record['device']!r}; expected an integer in [0, {n_devices})"
        )
    if values["arrival_s"] < 0:
        raise ConfigError(f"trace {path} line {line}: arrival_s={values['arrival_s']}; expected >= 0")
    for column in ("size_bits", "cycles", "deadline_s"):
        if not values[column] > 0:
            raise ConfigError(f"trace {path} line {line}: {column}={values[column]}; expected > 0")
    return TraceRow(values["arrival_s"], int(device), values["size_bits"], values["cycles"], values["deadline_s"])


class TraceWorkload:
    """Replays a trace: a task joins the first slot boundary at or after its arrival; at
    most one task per device per slot (a second one is a :class:`ConfigError`)."""

    def __init__(self, config: OffloadConfig, rows: list[TraceRow]) -> None:
        self.config = config
        self._by_slot: dict[int, list[TraceRow]] = {}
        for row in rows:
            slot = math.ceil(row.arrival_s / config.slot_s - 1e-9)
            bucket = self._by_slot.setdefault(slot, [])
            if any(other.device == row.device for other in bucket):
                raise ConfigError(
                    f"trace: device {row.device} has two tasks in slot {slot} (arrival_s={row.arrival_s}); "
                    "expected at most one task per device per slot"
                )
            bucket.append(row)
        self.n_slots = max(self._by_slot, default=-1) + 1

    def tasks(self, slot: int, rng: np.random.Generator) -> TaskBatch:
        batch = TaskBatch.empty(self.config.n_devices)
        for row in self._by_slot.get(slot, []):
            i = row.device
            batch.active[i] = True
            batch.size_bits[i] = row.size_bits
            batch.cycles[i] = row.cycles
            batch.cycles_per_bit[i] = row.cycles / row.size_bits
            batch.output_bits[i] = self.config.output_ratio * row.size_bits
            batch.deadline_s[i] = row.deadline_s - (slot * self.config.slot_s - row.arrival_s)
        return batch


def make_workload(config: OffloadConfig) -> Workload:
    """The trace named by ``config.trace_path`` if any, else QECO's synthetic tasks."""
    if config.trace_path is not None:
        return TraceWorkload(config, read_trace(config.trace_path, config.n_devices))
    return SyntheticWorkload(config)
