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
from typing import TYPE_CHECKING, Any

from edgeledger.scenario.repeats import format_pm

if TYPE_CHECKING:
    from edgeledger.scenario.experiment_run import ExperimentResult, SettingResult

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


def write_experiment(result: ExperimentResult, plots: bool = True) -> None:
    """rounds.csv, runs.csv, summary.csv, summary.json, summary.md and (``plots``) the plots of ``result``."""
    exp, out = result.experiment, result.out_dir
    with open(out / "rounds.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["setting", "round", "accuracy", "loss", "accuracy_std", "runs"])
        for r in result.settings:
            stds = r.accuracy_std or [0.0] * len(r.rounds)
            for rnd, a, l, sd in zip(r.rounds, r.accuracy, r.loss, stds):
                w.writerow([r.label, rnd, repr(a), repr(l), repr(sd), r.repeats])
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
        _plots(result, out / "plots")


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


def _plots(result: ExperimentResult, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    done = [r for r in result.settings if r.status == "done"]
    mode = "quick" if result.quick else "full"
    repeats = result.experiment.repeats_for(result.quick)
    for metric, ylabel in (("accuracy", "test accuracy"), ("loss", "test loss")):
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
        colors = plt.cm.tab20.colors if len(done) > 10 else plt.cm.tab10.colors
        for i, r in enumerate(done):  # colour and line style keep up to 40 settings apart
            color = colors[i % len(colors)]
            ys = getattr(r, metric)
            ax.plot(r.rounds, ys, marker="o", markersize=3, label=r.label, color=color,
                    linestyle=("-", "--")[(i // len(colors)) % 2])
            stds = r.accuracy_std if metric == "accuracy" else r.loss_std
            if r.repeats > 1 and len(stds) == len(ys):
                ax.fill_between(r.rounds, [y - s for y, s in zip(ys, stds)], [y + s for y, s in zip(ys, stds)],
                                color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel + (f" (mean ± std of {repeats} runs)" if repeats > 1 else ""))
        if metric == "accuracy":
            ax.set_ylim(0, 1)
            if result.experiment.target_accuracy is not None:
                ax.axhline(result.experiment.target_accuracy, color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"{result.experiment.name} ({mode}): {ylabel} vs rounds")
        ax.grid(alpha=0.3)
        if done:
            ax.legend(fontsize=7, ncol=2 if len(done) > 8 else 1)
        fig.tight_layout()
        fig.savefig(out / f"{metric}.png")
        plt.close(fig)
    if len(result.experiment.axes) >= 2 and done:
        for metric in _metrics(result):
            name = "final_accuracy.png" if metric == "accuracy" else f"final_{metric}.png"
            _final_bars(result, done, metric, out / name, plt)


def _final(r: SettingResult, metric: str) -> tuple[float | None, float]:
    if metric == "accuracy":
        return r.final_accuracy, r.final_accuracy_std or 0.0
    return r.final_metrics.get(metric), r.final_metrics_std.get(metric) or 0.0


def _final_bars(result: ExperimentResult, done: list[SettingResult], metric: str, path: Path, plt: Any) -> None:
    """Grouped bars (error bars: ±1 std over the runs): one group per value of the leading axes,
    one bar per value of the last axis."""
    last = [s.label for s in result.experiment.axes[-1]]
    groups: dict[str, dict[str, tuple[float, float]]] = {}
    for r in done:
        head, _, tail = r.label.rpartition(" / ")
        value, std = _final(r, metric)
        if value is not None:
            groups.setdefault(head, {})[tail] = (value, std)
    width = 0.8 / len(last)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) + 2) + 1.8, 4.5), dpi=100)
    for j, bar in enumerate(last):
        xs = [i for i, g in enumerate(groups) if bar in groups[g]]
        vals = [groups[g][bar] for g in groups if bar in groups[g]]
        ax.bar([x - 0.4 + width * (j + 0.5) for x in xs], [v for v, _ in vals], width, label=bar,
               yerr=[s for _, s in vals] if any(s for _, s in vals) else None, capsize=2)
    ax.set_xticks(range(len(groups)), list(groups), rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("final test accuracy" if metric == "accuracy" else f"final {metric}")
    ax.set_title(f"{result.experiment.name} ({'quick' if result.quick else 'full'}): final {metric}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the bars, not over them
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
