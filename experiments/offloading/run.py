"""ChainFL Section IV on our MEC model: one command per experiment, a results folder each.

    python experiments/offloading/run.py fl_vs_local [--quick]   # (a) utility vs rounds, FL or not
    python experiments/offloading/run.py hidden_layers [--quick] # (b) 1..4 hidden layers
    python experiments/offloading/run.py local_rounds [--quick]  # (c) local training between aggregations
    python experiments/offloading/run.py devices [--quick]       # (d) participating devices
    python experiments/offloading/run.py security [--quick]      # (e) upload/download attacks, protection on/off
    python experiments/offloading/run.py all [--quick]

Every federated curve is a real scenario (``base.toml`` plus the variant's overrides) run by
``run_scenario``: signed uploads through the edges, digests on chain, verified downloads.
The "without FL" curve of (a) trains the same devices' agents alone (same seeds, same local
slots, no aggregation) and averages their utilities. Results go to
``experiments/offloading/results/<name>[-quick]/``: ``curves.csv`` (variant, round, metric,
value), ``summary.json`` (final figures and the references) and PNG plots with the
baselines' and the optimum's utility as horizontal lines.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from edgeledger.crypto.hashing import derive_seed  # noqa: E402
from edgeledger.offload.federated import TUNED_AGENT, OffloadFederation  # noqa: E402
from edgeledger.offload.learner import reference_costs  # noqa: E402
from edgeledger.scenario.repeats import curve_band, mean_std, plot_band, repeat_seeds  # noqa: E402
from edgeledger.scenario.runner import run_scenario  # noqa: E402
from edgeledger.scenario.schema import Scenario, load_scenario  # noqa: E402

BASE = HERE / "base.toml"
REFERENCES = ["all_local", "all_edge", "all_cloud", "random", "greedy", "coordinate_descent", "optimum"]
#: Each reference's line: black and greys told apart by dash pattern, so no reference shares a
#: colour with a variant's curve (those take matplotlib's colour cycle, purple for the fifth).
REF_STYLE = {"optimum": (":", "black"), "coordinate_descent": ("--", "black"), "greedy": ("-", "dimgray"),
             "random": ("-.", "gray"), "all_local": ((0, (1, 3)), "gray"), "all_edge": ((0, (6, 2, 1, 2)), "darkgray"),
             "all_cloud": ((0, (3, 1, 1, 1, 1, 1)), "darkgray")}
Variant = tuple[str, list[str]]  # label, scenario overrides


def _hidden(k: int) -> str:
    return "offload.env.dqn.hidden_layers=" + json.dumps([120, 80, 60, 40][:k])


def experiments(quick: bool, tuned: bool = False, rounds: int | None = None) -> dict[str, dict[str, Any]]:
    """Each experiment: common overrides and its variants (label, overrides); ``tuned`` trains
    the benchmark's agent (``TUNED_AGENT``) instead of the plain double DQN; ``rounds`` replaces
    the size's number of FL rounds (ChainFL's figures run 500)."""
    local_rounds = rounds or (8 if quick else 40)
    rounds = rounds or (10 if quick else 60)
    agent = ("offload.env.dqn={train_every_steps=2, double=true"
             + (", epsilon_decay_steps=1000}" if quick else "}"))
    if tuned:
        agent = TUNED_AGENT[1][:-1] + (", epsilon_decay_steps=1000}" if quick else "}")
    common = [f"fl.rounds={rounds}", "offload.local_slots=10", *TUNED_AGENT[:1 if tuned else 0], agent]
    return {
        "fl_vs_local": {"common": common, "variants": [("with FL", [])], "no_fl": True},
        "hidden_layers": {"common": common, "variants": [(f"{k} hidden", [_hidden(k)]) for k in (1, 2, 3, 4)]},
        "local_rounds": {
            "common": [f"fl.rounds={local_rounds}", *TUNED_AGENT[:1 if tuned else 0], agent],
            "variants": [(f"{10 * s} local steps", [f"offload.local_slots={s}"])
                         for s in ((2, 5, 10, 20) if quick else (5, 10, 25, 50, 100))],
        },
        "devices": {
            "common": [*common, "topology.devices_per_edge=4"],
            "variants": [(f"{k} devices", [f"fl.clients_per_round={k}"]) for k in (2, 5, 10, 20)],
        },
        "security": {
            "common": [*common, "topology.edges=10", "topology.devices_per_edge=1", "fl.round_timeout_s=30.0"],
            "variants": [
                (f"{what}{', protected' if on else ', unprotected'}",
                 [*attack, f"fl.verify_uploads={str(on).lower()}", f"fl.verify_downloads={str(on).lower()}"])
                for what, attack in (
                    ("no attack", []),
                    ("upload 10%", ['attacks=[{kind="upload_tamper", nodes=["edge-0"]}]']),
                    ("upload 20%", ['attacks=[{kind="upload_tamper", nodes=["edge-0", "edge-1"]}]']),
                    ("download 20%", ['attacks=[{kind="download_tamper", nodes=["edge-0", "edge-1"]}]']),
                )
                for on in ((True,) if what == "no attack" else (True, False))
            ],
        },
    }


def scenario_for(common: list[str], overrides: list[str], name: str) -> Scenario:
    return load_scenario(BASE, [f"name={json.dumps(name)}", *common, *overrides])


def federated_curves(scenario: Scenario) -> dict[str, dict[int, float]]:
    """Per-round cloud metrics (utility, gain ratio, loss) and the devices' mean TD loss."""
    result = run_scenario(scenario)
    curves: dict[str, dict[int, float]] = defaultdict(dict)
    train: dict[int, list[float]] = defaultdict(list)
    for m in result.metrics:
        if m.node == "cloud" and m.metric in ("fl.utility", "fl.gain_ratio", "fl.loss", "fl.updates_rejected"):
            curves[m.metric.removeprefix("fl.")][m.round] = m.value
        elif m.metric == "fl.train_loss" and np.isfinite(m.value):
            train[m.round].append(m.value)
    curves["train_loss"] = {r: float(np.mean(v)) for r, v in sorted(train.items())}
    curves["downloads_rejected"] = {0: float(result.summary["downloads_rejected"])}
    return curves


def local_only_curves(scenario: Scenario) -> dict[str, dict[int, float]]:
    """The same devices' agents trained alone (no aggregation); mean utility over devices."""
    fed = OffloadFederation(scenario)
    devices = [f"device-{i}" for i in range(scenario.fl.clients_per_round)]
    learners = [fed.device_learner(d) for d in devices]
    judge = fed.cloud_learner()
    params = [fed.cloud_learner().initial_params() for _ in devices]
    curves: dict[str, dict[int, float]] = defaultdict(dict)
    for r in range(1, scenario.fl.rounds + 1):
        results = [lrn.train(p, r, derive_seed(scenario.seed, d, r)) for lrn, p, d in zip(learners, params, devices)]
        params = [res.params for res in results]
        scores = [judge.evaluate(p) for p in params]
        for key in ("utility", "gain_ratio", "loss"):
            curves[key][r] = float(np.mean([s[key] for s in scores]))
        finite = [res.loss for res in results if np.isfinite(res.loss)]
        curves["train_loss"][r] = float(np.mean(finite)) if finite else float("nan")
    return curves


def reference_utilities(scenario: Scenario) -> dict[str, float]:
    fed = OffloadFederation(scenario)
    t = scenario.offload
    return {name: -float(np.mean(reference_costs(fed.config, name, t.eval_slots, t.eval_seed))) for name in REFERENCES}


Curves = dict[str, dict[int, float]]  # metric -> round -> value, one run


def mean_curves(runs: dict[str, list[Curves]]) -> dict[str, Curves]:
    """Per variant, the mean over its runs of every metric at every round all runs have."""
    out: dict[str, Curves] = {}
    for label, curves in runs.items():
        metrics = sorted(set().union(*(c.keys() for c in curves)))
        out[label] = {m: dict(zip(*curve_band([c.get(m, {}) for c in curves])[:2])) for m in metrics}
    return out


def _figure() -> tuple[Any, Any, Any]:
    """pyplot (headless), a figure and its axes at the experiments' size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    return plt, fig, ax


def _finish(plt: Any, fig: Any, ax: Any, ylabel: str, title: str, path: Path) -> None:
    """Label the axes (x: FL round), grid and legend, write ``path`` and close the figure."""
    ax.set_xlabel("FL round")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot(runs: dict[str, list[Curves]], refs: dict[str, float], metric: str, path: Path, title: str) -> None:
    """One line per variant (the mean of its runs, with a ±1 std band when there are several)."""
    plt, fig, ax = _figure()
    for label, curves in runs.items():
        plot_band(ax, [c.get(metric, {}) for c in curves], label, marker="." if max(
            (len(c.get(metric, {})) for c in curves), default=0) <= 100 else None)
    if metric == "utility":
        lowest = min((min(c["utility"].values()) for cs in runs.values() for c in cs if c.get("utility")), default=0.0)
        for name, value in refs.items():
            style, color = REF_STYLE.get(name, ("-", "gray"))
            if name in ("all_edge", "all_cloud") and value < lowest:
                continue  # far below every curve: listed in summary.json, left off the axis
            ax.axhline(value, color=color, linestyle=style, linewidth=1, label=f"{name} ({value:.2f})")
    _finish(plt, fig, ax, {"utility": "utility  -sum_i Q_i per slot", "loss": "DQN TD loss (global model)",
                           "train_loss": "DQN TD loss (devices, mean)"}.get(metric, metric), title, path)


def plot_converged(runs: dict[str, list[Curves]], refs: dict[str, float], path: Path, title: str,
                   window: int = 10, skip: int = 20) -> None:
    """Long runs: the utility's moving mean over ``window`` rounds (the mean of the runs), from
    round ``skip`` on, on an axis fitted to those curves and the references near them (on the
    full plot the far-off baselines squeeze the converged curves into one line)."""
    plt, fig, ax = _figure()
    low, high = np.inf, -np.inf
    for label, series in mean_curves(runs).items():
        u = series.get("utility", {})
        rounds = [r for r in sorted(u) if r >= skip]
        if len(rounds) < window:
            continue
        values = np.array([u[r] for r in rounds])
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(rounds[window - 1:], smooth, label=f"{label} (last {window}: {values[-window:].mean():.3f})")
        low, high = min(low, smooth.min()), max(high, smooth.max())
    if not np.isfinite(low):
        plt.close(fig)
        return
    margin = 0.15 * (high - low) + 0.05
    for name in ("optimum", "coordinate_descent", "greedy", "random"):
        style, color = REF_STYLE[name]
        if name in refs and low - margin <= refs[name] <= high + margin + 1.5:
            ax.axhline(refs[name], color=color, linestyle=style, linewidth=1, label=f"{name} ({refs[name]:.2f})")
            low, high = min(low, refs[name]), max(high, refs[name])
    ax.set_ylim(low - margin, high + margin)
    _finish(plt, fig, ax, f"utility, {window}-round moving mean", title, path)


def draw(name: str, out: Path, runs: dict[str, list[Curves]], refs: dict[str, float]) -> None:
    """The experiment's PNGs: utility (with references); for runs of over 100 rounds also
    ``utility_converged.png`` (moving means, fitted axis); loss curves for the security runs."""
    plot(runs, refs, "utility", out / "utility.png", f"{name}: global Q-network on held-out slots")
    if max((len(c.get("utility", {})) for cs in runs.values() for c in cs), default=0) > 100:
        plot_converged(runs, refs, out / "utility_converged.png", f"{name}: after round 20, moving means")
    if name == "security":
        plot(runs, refs, "loss", out / "loss.png", "security: TD loss of the global Q-network")
        plot(runs, refs, "train_loss", out / "train_loss.png", "security: devices' local TD loss")


def read_runs(path: Path) -> dict[str, list[Curves]]:
    """A curves.csv back into variant -> runs (files without a ``repeat`` column hold one run)."""
    runs: dict[str, dict[int, Curves]] = defaultdict(dict)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            curves = runs[row["variant"]].setdefault(int(row.get("repeat") or 0), defaultdict(dict))
            curves[row["metric"]][int(row["round"])] = float(row["value"])
    return {label: [reps[i] for i in sorted(reps)] for label, reps in runs.items()}


def replot(out: Path) -> None:
    """Redraw a results folder's PNGs from its curves.csv and summary.json."""
    summary = json.loads((out / "summary.json").read_text())
    draw(summary["experiment"], out, read_runs(out / "curves.csv"), summary["references_utility"])


def cached_run(cache: Path | None, kind: str, label: str, scenario: Scenario,
               run: Callable[[Scenario], Curves]) -> tuple[Curves, float | None, bool]:
    """``run(scenario)``, or its curves from ``cache`` when this exact scenario (every setting and
    the seed, not the name: a run is deterministic) ran before, in this experiment or another;
    returns (curves, the run's own wall seconds when known, whether it was kept). Each run is written as it finishes, so a long experiment killed
    half-way resumes where it stopped, and a ``--repeats 5`` run reuses its first seed's run from a
    ``--repeats 1`` run of the same rounds."""
    started = time.perf_counter()
    if cache is None:
        return run(scenario), time.perf_counter() - started, False
    settings = scenario.model_dump_json(exclude={"name"})  # the name labels the results, it changes nothing
    key = hashlib.sha256(f"{kind}\n{settings}".encode()).hexdigest()[:20]
    path = cache / f"{key}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        curves = {m: {int(r): float(v) for r, v in series.items()} for m, series in saved["curves"].items()}
        return curves, saved.get("wall_s"), True
    curves = run(scenario)
    wall = round(time.perf_counter() - started, 1)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"kind": kind, "label": label, "seed": scenario.seed, "wall_s": wall, "curves": curves}))
    tmp.replace(path)
    return curves, wall, False


def last_mean(series: dict[int, float], k: int = 3) -> float:
    """Mean of the last ``k`` rounds of a per-round series."""
    return float(np.mean([series[r] for r in sorted(series)[-k:]]))


def attack_costs(curves: dict[str, dict[str, dict[int, float]]]) -> dict[str, dict[str, float]]:
    """Per attacked variant, its utility change against the clean run in percent (positive:
    better), at the final round and over the mean of the last three rounds (one round's
    figure on 20 held-out slots moves by a few percent from round to round)."""
    clean = curves["no attack, protected"]["utility"]
    out = {}
    for label, series in curves.items():
        u = series.get("utility", {})
        if label.startswith("no attack") or not u:
            continue
        final_pct = 100 * (u[max(u)] - clean[max(clean)]) / abs(clean[max(clean)])
        mean_pct = 100 * (last_mean(u) - last_mean(clean)) / abs(last_mean(clean))
        out[label] = {"final": round(final_pct, 2), "last3": round(mean_pct, 2)}
    return out


def folder_name(name: str, quick: bool, tuned: bool, rounds: int | None, repeats: int) -> str:
    """``NAME[-tuned][-quick][-rROUNDS][-xREPEATS]``: the results folder of one run of the script."""
    return (name + ("-tuned" if tuned else "") + ("-quick" if quick else "") + (f"-r{rounds}" if rounds else "")
            + (f"-x{repeats}" if repeats > 1 else ""))


def gain_pct(fl: float, alone: float) -> float:
    """Utility change of FL over training alone, in percent of |alone| (utility is negative: higher is better)."""
    return 100 * (fl - alone) / abs(alone)


def variant_stats(curves: list[Curves], tail: int = 10) -> dict[str, Any]:
    """Final utility and gain ratio over the runs (mean, std, n, each run) and the mean of the last ``tail`` rounds."""
    finals = [c["utility"][max(c["utility"])] for c in curves]
    tails = [last_mean(c["utility"], tail) for c in curves]
    gains = [c["gain_ratio"][max(c["gain_ratio"])] for c in curves if c.get("gain_ratio")]
    out: dict[str, Any] = {}
    for key, values in (("utility", finals), (f"utility_last{tail}", tails), ("gain_ratio", gains)):
        mean, std, n = mean_std(values)
        out[key] = {"mean": mean, "std": std, "n": n, "runs": values}
    return out


def run_experiment(name: str, quick: bool, out_root: Path, tuned: bool = False, rounds: int | None = None,
                   repeats: int = 1, cache: bool = True) -> dict[str, Any]:
    """Run every variant of ``name`` ``repeats`` times (seeds derived from the base scenario's) and
    write its results folder; returns the summary. With ``cache`` each run is kept in
    ``out_root/kept-runs`` and reused (see :func:`cached_run`)."""
    runs_cache = out_root / "kept-runs" if cache else None
    spec = experiments(quick, tuned, rounds)[name]
    out = out_root / folder_name(name, quick, tuned, rounds, repeats)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs: dict[str, list[Curves]] = defaultdict(list)
    run_walls: list[float | None] = []  # each run's own wall time (a kept run: when it ran)
    first: Scenario | None = None
    for label, overrides in spec["variants"]:
        base = scenario_for(spec["common"], overrides, f"offload-{name}")
        first = first or base
        for i, seed in enumerate(repeat_seeds(base.seed, repeats)):
            scenario = base.model_copy(update={"seed": seed})
            c, wall, cached = cached_run(runs_cache, "federated", label, scenario, federated_curves)
            run_walls.append(wall)
            runs[label].append(c)
            print(f"  {label} [run {i + 1}/{repeats}, seed {seed}]: utility {c['utility'][scenario.fl.rounds]:.3f} "
                  f"gain {c['gain_ratio'][scenario.fl.rounds]:.3f} "
                  f"({'kept from an earlier run' if cached else f'{time.perf_counter() - start:.0f} s'})", flush=True)
            if spec.get("no_fl") and label == "with FL":
                alone, wall, cached = cached_run(runs_cache, "alone", "without FL", scenario, local_only_curves)
                run_walls.append(wall)
                runs["without FL"].append(alone)
                print(f"  without FL [run {i + 1}/{repeats}]: utility {alone['utility'][scenario.fl.rounds]:.3f}"
                      + (" (kept from an earlier run)" if cached else ""), flush=True)
    assert first is not None
    refs = reference_utilities(first)
    with open(out / "curves.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["variant", "repeat", "round", "metric", "value"])
        for label, curves in runs.items():
            for i, series in enumerate(curves):
                for metric, data in series.items():
                    writer.writerows([label, i, r, metric, repr(v)] for r, v in sorted(data.items()))
    draw(name, out, runs, refs)
    means = mean_curves(runs)
    final = {label: {k: (v[max(v)] if v else None) for k, v in series.items()} for label, series in means.items()}
    summary = {"experiment": name, "quick": quick, "tuned": tuned, "rounds": first.fl.rounds, "repeats": repeats,
               "seeds": repeat_seeds(first.seed, repeats), "wall_s": round(time.perf_counter() - start, 1),
               "runs_wall_s": (round(sum(w for w in run_walls if w is not None), 1)
                               if all(w is not None for w in run_walls) else None),
               "final": final, "stats": {label: variant_stats(curves) for label, curves in runs.items()},
               "references_utility": refs}
    if name == "fl_vs_local":  # ChainFL: FL gains 11.7% utility over training alone
        paired = [gain_pct(f["utility"][max(f["utility"])], a["utility"][max(a["utility"])])
                  for f, a in zip(runs["with FL"], runs["without FL"])]
        paired10 = [gain_pct(last_mean(f["utility"], 10), last_mean(a["utility"], 10))
                    for f, a in zip(runs["with FL"], runs["without FL"])]
        summary["fl_gain_pct"] = round(gain_pct(final["with FL"]["utility"], final["without FL"]["utility"]), 2)
        for key, values in (("fl_gain_pct_runs", paired), ("fl_gain_pct_last10_runs", paired10)):
            mean, std, n = mean_std(values)
            summary[key] = {"mean": round(mean, 2), "std": round(std, 2), "n": n, "runs": [round(v, 2) for v in values]}
    if name == "security":
        summary["utility_change_pct"] = attack_costs(means)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ChainFL Section IV experiments on the offloading DQN")
    parser.add_argument("name", choices=[*experiments(True), "all"], help="experiment to run (or all)")
    parser.add_argument("--quick", action="store_true", help="few rounds and slots (about a minute each)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="FL rounds of every variant instead of the size's (ChainFL's figures: 500)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per variant, seeds derived from the base seed; mean and std bands")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the results folders")
    parser.add_argument("--replot", action="store_true", help="only redraw the PNGs of existing results folders")
    parser.add_argument("--no-cache", action="store_true",
                        help="run every setting again instead of reusing runs kept in OUT/kept-runs (a run is "
                             "deterministic: the same settings and seed give the same curves)")
    parser.add_argument("--agent", choices=["plain", "tuned"], default="plain",
                        help="plain double DQN (docs/offloading.md's state) or the benchmark's tuned agent "
                             "(marginal and lookahead features, gamma 1, [256, 128]); results go to NAME-tuned")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny MLPs: threads only add contention
    names = list(experiments(args.quick)) if args.name == "all" else [args.name]
    tuned = args.agent == "tuned"
    if args.replot:
        folders = [Path(args.out) / folder_name(name, args.quick, tuned, args.rounds, args.repeats) for name in names]
        found = [f for f in folders if (f / "curves.csv").exists()]
        for folder in found:
            replot(folder)
            print(f"redrew {folder}")
        if not found:  # --rounds / --repeats / --quick name the folder: a missing one is a typo or no run yet
            print(f"run.py: error: no results to redraw in {', '.join(str(f) for f in folders)} "
                  f"(--quick, --rounds and --repeats pick the folder)", file=sys.stderr)
            return 2
        return 0
    for name in names:
        print(f"{name} ({'quick' if args.quick else 'full'})", flush=True)
        summary = run_experiment(name, args.quick, Path(args.out), tuned=tuned, rounds=args.rounds,
                                 repeats=args.repeats, cache=not args.no_cache)
        print(json.dumps({k: v for k, v in summary.items() if k not in ("final", "stats")} | {
            "final_utility": {k: round(v["utility"], 3) for k, v in summary["final"].items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
