"""The results of an experiment run: one :class:`SettingResult` per setting (means and spread over
its repeated runs) in an :class:`ExperimentResult`; written by :mod:`.experiment_report`, made
by :mod:`.experiment_run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeledger.scenario.experiments import Experiment

__all__ = ["SettingResult", "ExperimentResult"]


@dataclass
class SettingResult:
    label: str
    slug: str
    status: str  # "done" | "failed" (with the reason) | "pending" (a plug-in not registered)
    reason: str = ""
    rounds: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    final_accuracy: float | None = None
    final_loss: float | None = None
    rounds_to_target: int | None = None
    updates_rejected: int = 0
    aggregation_failures: int = 0  # rounds whose aggregation raised (the global model stayed put)
    head_hash: str | None = None
    wall_s: float = 0.0
    overrides: list[str] = field(default_factory=list)  # ``--set`` overrides the run added to the setting
    # repeated runs (``repeats = N``): the figures above are means over the runs, these their spread
    repeats: int = 1
    seeds: list[int] = field(default_factory=list)
    final_accuracy_std: float | None = None
    accuracy_std: list[float] = field(default_factory=list)
    loss_std: list[float] = field(default_factory=list)
    final_metrics: dict[str, float] = field(default_factory=dict)  # other last-round scores, e.g. backdoor_asr
    final_metrics_std: dict[str, float] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)  # each run: seed, finals, curve, head hash, wall


@dataclass
class ExperimentResult:
    experiment: Experiment
    quick: bool
    out_dir: Path
    settings: list[SettingResult]
    wall_s: float = 0.0
