"""A scenario: every setting one run of the Byzantine test world uses, derived from one id.

An id is ``family:arg:...`` (``random:large:728``, ``twins:4:2:1234``, ``strategy:omit-certificates:17``);
the family's generator turns it into a :class:`Scenario` deterministically, so the id alone
replays a run exactly (TigerBeetle's VOPR: one seed decides everything, printed first).
Families register themselves with :func:`family`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edgeledger.errors import ConfigError

__all__ = ["Scenario", "family", "scenario_from_id", "FAMILIES", "twin_name", "LIVENESS_BOUND_S", "SAFETY_RUN_S"]

LIVENESS_BOUND_S = 60.0  # after stabilisation, every transaction commits everywhere within this
SAFETY_RUN_S = 12.0  # a safety run (faults never heal) lasts this long


def twin_name(node: str) -> str:
    """The second instance of a twinned node (Twins: same identity and key, separate memory)."""
    return node + "'"


@dataclass
class Scenario:
    id: str
    n: int
    mode: str  # "safety": faults never heal | "liveness": faults stop at gst_s, everything must commit
    rotate_leader: bool = False
    leader_order: tuple[int, ...] = ()
    byzantine: dict[str, str] = field(default_factory=dict)  # node -> scripted strategy name
    twins: tuple[str, ...] = ()  # nodes run as two honest instances (Twins)
    round_partitions: tuple[tuple[tuple[str, ...], ...], ...] = ()  # per view < R: groups of instances
    n_txs: int = 6
    loss: float = 0.0
    duplicate: float = 0.0
    jitter_s: float = 0.0
    commit_loss: float = 0.0  # extra loss of COMMITs: blocks committed at only some replicas
    gst_s: float = 3.0
    partitions: list[tuple[float, float, tuple[str, ...]]] = field(default_factory=list)  # (start, end, side)
    crashes: list[tuple[float, float, str]] = field(default_factory=list)  # (crash at, restart at, instance)
    crash_triggers: list[tuple[str, str, int, float]] = field(default_factory=list)  # (instance, kind, nth, down)
    submits: list[tuple[float, int, str]] = field(default_factory=list)  # (time, tx index, instance)
    checkpoint_interval: int = 4
    net_seed: int = 0

    @property
    def f(self) -> int:
        return (self.n - 1) // 3

    def describe(self) -> str:
        parts = [f"{self.id}: n={self.n} f={self.f} mode={self.mode}"]
        if self.rotate_leader:
            parts.append("rotate")
        if self.leader_order:
            parts.append(f"leaders={list(self.leader_order[:len(self.round_partitions) or None])}")
        if self.twins:
            parts.append(f"twins={list(self.twins)}")
        if self.round_partitions:
            parts.append("rounds=" + " ".join("[" + " ".join("{" + ",".join(g) + "}" for g in r) + "]"
                                              for r in self.round_partitions))
        if self.byzantine:
            parts.append(f"byzantine={self.byzantine}")
        parts.append(f"txs={self.n_txs} loss={self.loss:.2f} dup={self.duplicate:.2f} jitter={self.jitter_s:.3f} "
                     f"closs={self.commit_loss:.1f} ckpt={self.checkpoint_interval} gst={self.gst_s:.1f}")
        if self.partitions:
            parts.append(f"partitions={len(self.partitions)}")
        if self.crashes or self.crash_triggers:
            parts.append(f"crashes={len(self.crashes)}+{len(self.crash_triggers)} triggered")
        return " ".join(parts)

    def replay_command(self) -> str:
        return f"edgeledger consensus replay {self.id}"


FAMILIES: dict[str, Callable[[list[str]], Scenario]] = {}
USAGE: dict[str, str] = {}


def family(name: str, usage: str) -> Callable[[Callable[[list[str]], Scenario]], Callable[[list[str]], Scenario]]:
    """Register a generator: ``family:args`` ids are passed to it as the list of args."""
    def register(fn: Callable[[list[str]], Scenario]) -> Callable[[list[str]], Scenario]:
        FAMILIES[name], USAGE[name] = fn, usage
        return fn
    return register


def scenario_from_id(scenario_id: str) -> Scenario:
    """The scenario an id names; a ConfigError naming the families and the expected form otherwise."""
    name, _, rest = scenario_id.strip().partition(":")
    if name not in FAMILIES:
        raise ConfigError(f"unknown scenario family {name!r} in {scenario_id!r}; expected one of "
                          f"{sorted(FAMILIES)} (e.g. twins:4:2:1234, random:large:728, strategy:equivocate:5)")
    try:
        return FAMILIES[name](rest.split(":") if rest else [])
    except (ValueError, IndexError, KeyError) as exc:
        raise ConfigError(f"bad scenario id {scenario_id!r} ({exc}); expected {USAGE[name]}") from None
