"""A server's processor as a sans-IO queue: which task finishes when.

Two disciplines (docs/offloading.md, "Offloading on the network"):

- ``"slot"``: the analytical model's -- the ``n`` tasks of one slot's cohort each get ``f / n``
  for their whole service (``T = c n / f``), whatever else runs; ``n = 1`` gives every task
  the whole processor (the cloud's ``f_c`` per task, the device's own CPU).
- ``"ps"``: egalitarian processor sharing -- the tasks present share ``f`` equally at every
  instant, so a task speeds up when another leaves (a real multitasking server);
- ``"fifo"``: one task at a time in arrival order (a device's single-core CPU).

Time is simulated seconds; cycles are CPU cycles; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeledger.errors import ConfigError

__all__ = ["Processor", "DISCIPLINES"]

DISCIPLINES = ("slot", "ps", "fifo")
_EPS = 1e-12


@dataclass
class _Job:
    task_id: str
    cycles_left: float
    rate_hz: float  # slot discipline: its fixed share; others: set by the discipline
    started_s: float


class Processor:
    """Tasks in service on one processor of ``cpu_hz`` under ``discipline``."""

    def __init__(self, cpu_hz: float, discipline: str) -> None:
        if discipline not in DISCIPLINES:
            raise ConfigError(f"processor discipline {discipline!r}; expected one of {list(DISCIPLINES)}")
        self.cpu_hz, self.discipline = float(cpu_hz), discipline
        self.jobs: dict[str, _Job] = {}  # in arrival order
        self.last_s = 0.0
        self.busy_s = 0.0  # time with at least one task in service

    def __len__(self) -> int:
        return len(self.jobs)

    def _rates(self) -> dict[str, float]:
        if not self.jobs:
            return {}
        if self.discipline == "slot":
            return {k: j.rate_hz for k, j in self.jobs.items()}
        if self.discipline == "ps":
            return {k: self.cpu_hz / len(self.jobs) for k in self.jobs}
        first = next(iter(self.jobs))
        return {k: (self.cpu_hz if k == first else 0.0) for k in self.jobs}

    def advance(self, now: float) -> None:
        """Serve every task from the last event up to ``now``."""
        dt = max(0.0, now - self.last_s)
        if dt and self.jobs:
            self.busy_s += dt
            for key, rate in self._rates().items():
                self.jobs[key].cycles_left -= rate * dt
        self.last_s = max(self.last_s, now)

    def admit(self, task_id: str, cycles: float, now: float, cohort: int = 1) -> None:
        """Start serving ``task_id`` (``cycles`` of work); ``cohort``: the slot discipline's n."""
        self.advance(now)
        self.jobs[task_id] = _Job(task_id, float(cycles), self.cpu_hz / max(1, int(cohort)), now)

    def next_finish(self) -> tuple[float, str] | None:
        """(time, task id) of the next task to finish, or None when idle."""
        best: tuple[float, str] | None = None
        for key, rate in self._rates().items():
            if rate <= 0:
                continue
            t = self.last_s + max(0.0, self.jobs[key].cycles_left) / rate
            if best is None or t < best[0] - _EPS:
                best = (t, key)
        return best

    def finish(self, task_id: str, now: float) -> float:
        """Take ``task_id`` out at ``now`` (its work done); returns when it started."""
        self.advance(now)
        return self.jobs.pop(task_id).started_s
