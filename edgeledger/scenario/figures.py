"""Figures fit for a paper: the experiment grids as small multiples, a run's curves and traffic.

Sizes follow a two-column paper (a panel is about 2.3 inches wide, a figure at most 7.2, the
text width of IEEE and ACM templates), fonts 8 pt, PNG at 200 dpi and, on request, vector
files (``svg``, ``pdf``) beside it. An experiment grid of two or more axes becomes one panel
per value of the leading axes (e.g. one per attack) with one line per value of the last axis
(e.g. per aggregator), sharing both axes and one legend below the panels, so no legend
covers data. Traffic spans orders of magnitude (PBFT votes against model blobs), so its axis
is logarithmic.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = ["FORMATS", "PAPER", "save", "run_figures", "grid_figures", "small_multiples"]

FORMATS = ("png", "svg", "pdf")
PANEL_W, PANEL_H, FULL_W = 2.3, 1.75, 7.2  # inches
PAPER = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "lines.linewidth": 1.2, "lines.markersize": 3, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.bbox": "tight", "savefig.pad_inches": 0.02, "svg.fonttype": "none",
         "pdf.fonttype": 42}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22"]
MARKERS = "osD^v<>ph*"


def save(fig: Any, path: Path, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix of ``formats`` (png at 200 dpi); returns the files."""
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        fig.savefig(target, dpi=200 if fmt == "png" else None,
                    metadata={"Date": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None)
        written.append(target)
    plt.close(fig)
    return written


def small_multiples(panels: dict[str, dict[str, tuple[Sequence[float], ...]]], xlabel: str,
                    ylabel: str, ylim: tuple[float, float] | None = None, hline: float | None = None,
                    logy: bool = False) -> Any:
    """One panel per key of ``panels`` (title), one line per inner key (same colour and marker in every
    panel), shared axes, the legend once below the panels. A line given as ``(xs, ys, stds)`` (the
    mean of repeated runs) carries a shaded ±1 std band."""
    names = list(dict.fromkeys(series for lines in panels.values() for series in lines))
    n = max(len(panels), 1)
    cols = min(n, 4 if n != 3 else 3)
    rows = -(-n // cols)
    with plt.rc_context(PAPER):
        fig, axes = plt.subplots(rows, cols, figsize=(min(FULL_W, PANEL_W * cols), PANEL_H * rows + 0.35),
                                 sharex=True, sharey=True, squeeze=False, layout="constrained")
        for ax, (title, lines) in zip(axes.flat, panels.items()):
            for name, (xs, ys, *band) in lines.items():
                k = names.index(name)
                ax.plot(xs, ys, color=PALETTE[k % len(PALETTE)], marker=MARKERS[k % len(MARKERS)],
                        markevery=max(1, len(xs) // 8), label=name)
                if band and len(band[0]) == len(ys) and any(band[0]):
                    ax.fill_between(xs, [y - d for y, d in zip(ys, band[0])], [y + d for y, d in zip(ys, band[0])],
                                    color=PALETTE[k % len(PALETTE)], alpha=0.18, linewidth=0)
            ax.set_title(title)
            ax.grid(alpha=0.3, linewidth=0.5)
            if hline is not None:
                ax.axhline(hline, color="grey", linestyle=":", linewidth=0.8)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel(xlabel)
            if xlabel == "round":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[:, 0]:
            ax.set_ylabel(ylabel)
        if ylim is not None:
            axes.flat[0].set_ylim(*ylim)
        if logy:
            axes.flat[0].set_yscale("log")
        if len(names) > 1:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            seen = dict(zip(labels, handles))
            for ax in axes.flat[1:n]:
                for h, label in zip(*ax.get_legend_handles_labels()):
                    seen.setdefault(label, h)
            legend_below(fig, [seen[nm] for nm in names if nm in seen], [nm for nm in names if nm in seen])
    return fig


def legend_below(fig: Any, handles: list[Any], labels: list[str], most: int = 5) -> Any:
    """The figure's legend below its panels, in as many columns (up to ``most``) as fit its width:
    a row wider than the figure is cut off at both edges when it is saved."""
    renderer = fig.canvas.get_renderer()
    for ncol in range(min(len(labels), most), 0, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)
        if ncol == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return legend
        legend.remove()
    return None


def grid_figures(result: Any, out: Path, formats: Iterable[str] = ("png",)) -> list[Path]:
    """``accuracy``, ``loss`` (small multiples, ±1 std bands over repeated runs) and, for grids of two
    or more axes, ``final_accuracy`` and ``final_<metric>`` for every other final metric (error bars)."""
    exp = result.experiment
    done = [r for r in result.settings if r.status == "done"]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    multi = len(exp.axes) >= 2
    for metric, ylabel in (("accuracy", "test accuracy"), ("loss", "test loss")):
        panels: dict[str, dict[str, tuple[list[Any], ...]]] = defaultdict(dict)
        for r in done:
            head, _, tail = r.label.rpartition(" / ") if multi else ("", "", r.label)
            stds = list(getattr(r, f"{metric}_std", None) or [])
            panels[head or exp.name][tail] = (r.rounds, getattr(r, metric), stds)
        values = [v for r in done for v in getattr(r, metric) if v is not None and v > 0]
        logy = metric == "loss" and bool(values) and max(values) / min(values) > 50
        fig = small_multiples(dict(panels), "round", ylabel, (0, 1) if metric == "accuracy" else None,
                              exp.target_accuracy if metric == "accuracy" else None, logy)
        written += save(fig, out / metric, formats)
    if multi and done:
        extra = sorted({m for r in done for m in getattr(r, "final_metrics", {})})
        for metric in ("accuracy", *extra):
            written += save(_final_bars(result, done, metric), out / f"final_{metric}", formats)
    return written


def _final(r: Any, metric: str) -> tuple[float | None, float]:
    if metric == "accuracy":
        return r.final_accuracy, getattr(r, "final_accuracy_std", None) or 0.0
    return r.final_metrics.get(metric), (getattr(r, "final_metrics_std", {}) or {}).get(metric) or 0.0


def _final_bars(result: Any, done: list[Any], metric: str = "accuracy") -> Any:
    """Grouped bars (error bars: ±1 std over repeated runs): one group per value of the leading
    axes, one bar per value of the last axis."""
    last = [s.label for s in result.experiment.axes[-1]]
    groups: dict[str, dict[str, tuple[float, float]]] = {}
    for r in done:
        head, _, tail = r.label.rpartition(" / ")
        value, std = _final(r, metric)
        if value is not None:
            groups.setdefault(head, {})[tail] = (value, std)
    width = 0.8 / len(last)
    with plt.rc_context(PAPER):
        fig, ax = plt.subplots(figsize=(min(FULL_W, max(3.5, 0.55 * len(groups) * max(len(last), 2) / 2 + 1.5)), 2.4),
                               layout="constrained")
        for j, bar in enumerate(last):
            xs = [i for i, g in enumerate(groups) if bar in groups[g]]
            vals = [groups[g][bar] for g in groups if bar in groups[g]]
            ax.bar([x - 0.4 + width * (j + 0.5) for x in xs], [v for v, _ in vals], width, label=bar,
                   color=PALETTE[j % len(PALETTE)], yerr=[d for _, d in vals] if any(d for _, d in vals) else None,
                   capsize=2, error_kw={"linewidth": 0.8})
        ax.set_xticks(range(len(groups)), list(groups), rotation=20 if len(groups) > 4 else 0,
                      ha="right" if len(groups) > 4 else "center")
        ax.set_ylim(0, 1)
        ax.set_ylabel("final test accuracy" if metric == "accuracy" else f"final {metric}")
        ax.grid(axis="y", alpha=0.3, linewidth=0.5)
        legend_below(fig, *ax.get_legend_handles_labels())
    return fig


def run_figures(result: Any, out: Path, formats: Iterable[str] = ("png",)) -> list[Path]:
    """A run's ``accuracy`` (accuracy and loss per round, two panels) and ``traffic`` (log scale)."""
    out.mkdir(parents=True, exist_ok=True)
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for m in result.metrics:
        if m.metric in ("fl.accuracy", "fl.loss"):  # from the round's closer: cloud or winner (fl.round.reporting)
            series[m.metric][m.round] = m.value
    n_bad = len(result.network.malicious)
    with plt.rc_context(PAPER):
        fig, (a, b) = plt.subplots(1, 2, figsize=(2 * PANEL_W + 0.6, PANEL_H + 0.2), layout="constrained")
        for ax, key, label, colour in ((a, "fl.accuracy", "test accuracy", PALETTE[0]), (b, "fl.loss", "test loss", PALETTE[1])):
            points = series.get(key, {})
            ax.plot(list(points), list(points.values()), marker="o", color=colour)
            ax.set_xlabel("round")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(label)
            ax.grid(alpha=0.3, linewidth=0.5)
        a.set_ylim(0, 1)
        fig.suptitle(f"{result.scenario.name}: {result.scenario.fl.aggregator}, {n_bad} malicious node(s)")
    written = save(fig, out / "accuracy", formats)
    by_role: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for node, t in result.sim.traffic.items():
        by_role[result.network.roles[node]] += t.bytes_sent
        by_type.update(t.bytes_by_type)
    with plt.rc_context(PAPER):
        fig, (a, b) = plt.subplots(1, 2, figsize=(FULL_W * 0.85, 2.4), layout="constrained",
                                   gridspec_kw={"width_ratios": [1, 1.6]})
        roles = sorted(by_role, key=lambda r: -by_role[r])
        a.bar(roles, [max(by_role[r], 1) for r in roles], color=PALETTE[2])
        a.set_yscale("log")
        a.set_ylabel("bytes sent (log scale)")
        a.set_title("by sender role")
        types = sorted(by_type, key=lambda k: by_type[k])
        b.barh(types, [max(by_type[t], 1) for t in types], color=PALETTE[4])
        b.set_xscale("log")
        b.set_xlabel("bytes (log scale)")
        b.set_title("by message type")
        for ax in (a, b):
            ax.grid(alpha=0.3, linewidth=0.5, which="major")
    return written + save(fig, out / "traffic", formats)
