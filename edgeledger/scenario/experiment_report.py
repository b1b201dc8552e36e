"""An experiment's results folder: rounds.csv, summary.csv/json/md and the plots.

With ``repeats = N`` every figure is the mean over the setting's N runs: tables read
``mean ± std`` (sample standard deviation) and say how many runs stand behind each number,
curves carry a ±1 std band, ``runs.csv`` lists every run's final figures and its seed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeledger.scenario.experiment_result import ExperimentResult, SettingResult
from edgeledger.scenario.repeats import format_pm

__all__ = ["write_experiment", "markdown_table", "summary_row", "cell_text"]


def summary_row(exp: Any, r: SettingResult) -> dict[str, Any]:
    """One setting's row of summary.csv / summary.json (means over its runs)."""
    row = {"setting": r.label, "status": r.status, "final_accuracy": r.final_accuracy,
           "final_accuracy_std": r.final_accuracy_std, "runs": r.repeats, "final_loss": r.final_loss,
           "rounds": len(r.rounds), "updates_rejected": r.updates_rejected,
           "aggregation_failures": r.aggregation_failures, "wall_s": r.wall_s,
           "head_hash": r.head_hash, "reason": r.reason, "overrides": " ".join(r.overrides)}
    for name, value in sorted(r.final_metrics.items()):
        row[f"final_{name}"] = value
        row[f"final_{name}_std"] = r.final_metrics_std.get(name)
    if exp.target_accuracy is not None:
        row["rounds_to_target"] = r.rounds_to_target
    return row


def write_experiment(result: ExperimentResult, plots: bool = True, formats: tuple[str, ...] = ("png",)) -> None:
    """rounds.csv, runs.csv, summary.csv, summary.json, summary.md and (``plots``) the plots of ``result``
    in ``formats`` (see :mod:`edgeledger.scenario.figures`: bands and error bars over repeated runs)."""
    exp, out = result.experiment, result.out_dir
    with open(out / "rounds.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["setting", "round", "accuracy", "loss", "accuracy_std", "runs"])
        for r in result.settings:
            stds = r.accuracy_std or [0.0] * len(r.rounds)
            for rnd, acc, loss, sd in zip(r.rounds, r.accuracy, r.loss, stds):
                w.writerow([r.label, rnd, repr(acc), repr(loss), repr(sd), r.repeats])
    with open(out / "runs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["setting", "run", "seed", "final_accuracy", "final_loss", "metrics", "head_hash", "wall_s"])
        for r in result.settings:
            for i, run in enumerate(r.runs):
                w.writerow([r.label, i, run.get("seed"), run.get("final_accuracy"), run.get("final_loss"),
                            json.dumps(run.get("final_metrics", {}), sort_keys=True), run.get("head_hash"),
                            run.get("wall_s")])
    rows = [summary_row(exp, r) for r in result.settings]
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["setting"]
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    meta = {"experiment": exp.name, "description": exp.description, "quick": result.quick,
            "repeats": exp.repeats_for(result.quick), "target_accuracy": exp.target_accuracy,
            "wall_s": result.wall_s, "settings": rows, "curves": [asdict(r) for r in result.settings]}
    tmp = out / "summary.json.tmp"  # replaced whole: an interrupted write never leaves half a summary
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(out / "summary.json")
    (out / "summary.md").write_text(markdown_table(result))
    if plots:
        _plots(result, out / "plots", formats)


def cell_text(r: SettingResult | None, metric: str = "accuracy") -> str:
    """A setting's table cell: ``mean ± std`` of ``metric`` over its runs, its status, or "—"."""
    if r is None:
        return "—"
    if r.status != "done":
        return r.status
    values = [run.get("final_accuracy") if metric == "accuracy" else run.get("final_metrics", {}).get(metric)
              for run in r.runs]
    if not r.runs:  # a result read from an older summary: its one run's figure
        values = [r.final_accuracy if metric == "accuracy" else r.final_metrics.get(metric)]
    return format_pm(values)


def _metrics(result: ExperimentResult) -> list[str]:
    """The headline (accuracy) and every other final metric some setting reported (e.g. backdoor_asr)."""
    extra = sorted({m for r in result.settings for m in r.final_metrics})
    return ["accuracy", *extra]


def markdown_table(result: ExperimentResult) -> str:
    """Final figures per setting as Markdown tables, ready for a paper or a README.

    One table per final metric (test accuracy first, then e.g. the backdoor's attack success
    rate). Grids of two or more axes are pivoted: one row per value of the leading axes, one
    column per value of the last; a cell is ``mean ± std`` over the setting's runs, the status
    of a setting that did not finish, or "—" for one not run. One-axis grids list setting,
    accuracy, loss, rounds, rejected updates and runs (and rounds to the target, when the
    experiment has one). The title says how many runs stand behind each number."""
    exp = result.experiment
    repeats = exp.repeats_for(result.quick)
    size = "quick" if result.quick else "full"
    runs = f"; mean ± std over {repeats} runs per setting" if repeats > 1 else "; one run per setting"
    by_label = {r.label: r for r in result.settings}
    parts = []
    for metric in _metrics(result):
        what = "final test accuracy" if metric == "accuracy" else f"final {metric}"
        lines = [f"{exp.name} ({size}): {what}{runs}", ""]
        if len(exp.axes) >= 2:
            last = [s.label for s in exp.axes[-1]]
            heads = list(dict.fromkeys(s.label.rpartition(" / ")[0] for s in exp.settings()))
            names = " / ".join(exp.axis_names[:-1]) or "setting"
            lines += [f"| {names} | " + " | ".join(last) + " |", "|" + " --- |" * (len(last) + 1)]
            lines += [f"| {h} | " + " | ".join(cell_text(by_label.get(f"{h} / {b}"), metric) for b in last) + " |"
                      for h in heads]
        else:
            lines += _one_axis(exp, by_label, metric)
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _one_axis(exp: Any, by_label: dict[str, SettingResult], metric: str) -> list[str]:
    target = exp.target_accuracy is not None and metric == "accuracy"
    head = f"| setting | final {'accuracy' if metric == 'accuracy' else metric} | final loss | rounds | rejected updates | runs |"
    lines = [head + (" rounds to target |" if target else ""), "|" + " --- |" * (6 + target)]
    for s in exp.settings():
        r = by_label.get(s.label)
        done = r is not None and r.status == "done"
        row = [s.label, cell_text(r, metric), f"{r.final_loss:.4f}" if done and r.final_loss is not None else "—",
               str(len(r.rounds)) if done else "—", str(r.updates_rejected) if done else "—",
               str(r.repeats) if done else "—"]
        if target:
            row.append((str(r.rounds_to_target) if r.rounds_to_target is not None else f"not in {len(r.rounds)}")
                       if done else "—")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _plots(result: ExperimentResult, out: Path, formats: tuple[str, ...] = ("png",)) -> None:
    from edgeledger.scenario.figures import grid_figures

    grid_figures(result, out, formats)
