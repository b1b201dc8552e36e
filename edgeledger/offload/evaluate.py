"""Evaluation harness: run policies over K slots from one seed and report per slot.

Per slot: total cost ``sum_i Q_i``, mean delay and energy per task, deadline-miss ratio,
local/edge/cloud split, decision time and, where the exact optimum is computable (slot
mode), the gain ratio ``Q_opt / Q_policy``. Each policy drives its own environment built
from the same seed; slot draws never depend on actions, so in slot mode every policy (and
the optimum) is priced on the very same slots. Decision times are wall-clock (this is a
harness, not a core).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import OffloadEnv, SlotOutcome, SlotState
from edgeledger.offload.policies import ExactOptimum, OffloadPolicy, make_policy

__all__ = ["SlotReport", "PolicyReport", "evaluate_policies", "evaluate_policy", "env_stream", "policy_stream"]


@dataclass(frozen=True)
class SlotReport:
    """One policy's figures for one slot (NaN where undefined, e.g. no task resolved)."""

    slot: int
    total_cost: float
    mean_delay_s: float
    mean_energy_j: float
    miss_ratio: float
    share_local: float
    share_edge: float
    share_cloud: float
    decision_s: float
    optimum_cost: float
    gain_ratio: float


@dataclass(frozen=True)
class PolicyReport:
    """All slots of one policy plus the episode gain ratio ``sum Q_opt / sum Q_policy``."""

    policy: str
    slots: list[SlotReport]

    @property
    def total_cost(self) -> float:
        return float(sum(s.total_cost for s in self.slots))

    @property
    def gain_ratio(self) -> float:
        opt = sum(s.optimum_cost for s in self.slots)
        return opt / self.total_cost if self.total_cost > 0 else float("nan")

    def summary(self) -> dict[str, float | str]:
        """Episode means of every per-slot figure, the total cost and the gain ratio."""
        rows = [asdict(s) for s in self.slots]
        out: dict[str, float | str] = {"policy": self.policy}
        for key in rows[0] if rows else []:
            if key not in ("slot", "total_cost", "optimum_cost", "gain_ratio"):
                out[key] = float(np.nanmean([r[key] for r in rows]))
        out["mean_slot_cost"] = self.total_cost / max(len(self.slots), 1)
        out["utility"] = -out["mean_slot_cost"]
        out["gain_ratio"] = self.gain_ratio
        return out


def env_stream(seed: int) -> np.random.Generator:
    """The environment's generator for ``seed`` (slots, channels, tasks)."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


def policy_stream(seed: int, name: str) -> np.random.Generator:
    """A policy's own generator, independent of the environment's and of other policies'."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _slot_report(
    config: OffloadConfig, state: SlotState, outcome: SlotOutcome, decision_s: float, optimum_cost: float
) -> SlotReport:
    active = state.tasks.active
    chosen = outcome.actions[active]
    n_tasks, resolved = max(int(active.sum()), 1), int(outcome.resolved.sum())
    per_task = (lambda x: float(x.sum()) / resolved) if resolved else (lambda x: math.nan)
    cost = outcome.total_cost
    return SlotReport(
        slot=state.slot,
        total_cost=cost,
        mean_delay_s=per_task(outcome.delay_s),
        mean_energy_j=per_task(outcome.energy_j),
        miss_ratio=per_task(outcome.misses),
        share_local=float(np.sum(chosen == 0)) / n_tasks,
        share_edge=float(np.sum((chosen > 0) & (chosen < config.cloud_action))) / n_tasks,
        share_cloud=float(np.sum(chosen == config.cloud_action)) / n_tasks,
        decision_s=decision_s,
        optimum_cost=optimum_cost,
        gain_ratio=optimum_cost / cost if cost > 0 else (1.0 if optimum_cost == 0 else math.nan),
    )


def evaluate_policies(
    chosen: Mapping[str, OffloadPolicy] | list[str],
    config: OffloadConfig,
    n_slots: int,
    seed: int,
    with_optimum: bool = True,
) -> dict[str, PolicyReport]:
    """Run every policy for ``n_slots`` slots from ``seed``; returns a report per policy.

    ``chosen`` is a name -> policy mapping or a list of registered names. Each policy drives
    its own environment built from the same seed (so in slot mode all see the same slots)
    and its own generator derived from ``(seed, name)``. With ``with_optimum`` (slot mode
    only) the per-slot optimum is computed once and shared.
    """
    named = {name: make_policy(name, config) for name in chosen} if isinstance(chosen, list) else dict(chosen)
    optimum_costs = [math.nan] * n_slots
    if with_optimum and config.mode == "slot":
        optimum_costs = [r.total_cost for r in _run(ExactOptimum(config), config, n_slots, seed, "optimum", None)]
    return {
        name: PolicyReport(name, _run(policy, config, n_slots, seed, name, optimum_costs))
        for name, policy in named.items()
    }


def _run(
    policy: OffloadPolicy, config: OffloadConfig, n_slots: int, seed: int, name: str, optimum_costs: list[float] | None
) -> list[SlotReport]:
    env = OffloadEnv(config, env_stream(seed))
    rng = policy_stream(seed, name)
    rows = []
    for slot in range(n_slots):
        state = env.state
        start = time.perf_counter()
        actions = policy.decide(state, rng)
        took = time.perf_counter() - start
        outcome = env.step(actions)
        policy.observe(state, actions, outcome)
        opt = math.nan if optimum_costs is None else optimum_costs[slot]
        rows.append(_slot_report(config, state, outcome, took, opt))
    return rows


def evaluate_policy(
    policy: OffloadPolicy | str, config: OffloadConfig, n_slots: int, seed: int, with_optimum: bool = True
) -> PolicyReport:
    """:func:`evaluate_policies` for a single policy (an instance or a registered name)."""
    name = policy if isinstance(policy, str) else type(policy).__name__
    chosen = [name] if isinstance(policy, str) else {name: policy}
    return evaluate_policies(chosen, config, n_slots, seed, with_optimum)[name]
