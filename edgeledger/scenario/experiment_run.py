"""Run every setting of an experiment and write its results folder.

``<out>/<experiment>[-quick]-<timestamp>/``: ``settings/<slug>/`` (each setting's run folder:
scenario, metrics.csv, summary.json, chain; with ``repeats = N`` one ``run-<i>/`` folder per
run), ``rounds.csv`` (setting, round, accuracy, loss: all settings in one long table),
``runs.csv`` (every run's seed and final figures), ``summary.csv`` / ``summary.json`` (one row
per setting: final accuracy and loss, rounds to the target, rejected updates, wall time, or
why it failed or is pending; means and standard deviations over the runs) and
``plots/accuracy.png``, ``plots/loss.png`` (one line per setting, a band for its spread);
see :mod:`edgeledger.scenario.experiment_report`.

A setting is *done* when it ran and its aggregation produced a model in at least one round;
*failed* when it raised or its aggregation failed in every round (e.g. Krum with fewer than
``2f + 3`` updates: the global model never moved, so its accuracy says nothing), with the
reason; *pending* only when its aggregator or attack is not registered (see
:meth:`Experiment.pending_reason`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.scenario.experiment_report import markdown_table, summary_row, write_experiment
from edgeledger.scenario.experiment_result import ExperimentResult, SettingResult
from edgeledger.scenario.experiments import Experiment, Setting
from edgeledger.scenario.repeats import mean_std, repeat_seeds

__all__ = ["SettingResult", "ExperimentResult", "run_experiment", "rounds_to", "select_settings", "merge_runs",
           "combine_runs", "write_experiment", "markdown_table", "summary_row"]


def rounds_to(accuracy: list[float], target: float) -> int | None:
    """The first round (1-based) whose accuracy reaches ``target``, or None."""
    return next((i + 1 for i, a in enumerate(accuracy) if a is not None and a >= target), None)


HEADLINE_SCORES = ("round", "accuracy", "loss")


def _run_once(exp: Experiment, setting: Setting, scenario: Any, folder: Path,
              on_round: Callable[[dict[str, Any]], None] | None) -> SettingResult:
    """One run of ``setting`` (one seed) into ``folder``: done or failed, never pending."""
    from edgeledger.scenario.results import write_results
    from edgeledger.scenario.runner import run_scenario

    t0 = time.perf_counter()
    try:
        result = run_scenario(scenario, progress=on_round)
    except EdgeLedgerError as exc:  # this setting failed; the rest still run
        return SettingResult(setting.label, setting.slug, "failed", f"{type(exc).__name__}: {exc}",
                             wall_s=round(time.perf_counter() - t0, 3))
    write_results(result, folder)
    history = result.network.aggregator.history
    acc = [float(h.get("accuracy", float("nan"))) for h in history]
    loss = [float(h.get("loss", float("nan"))) for h in history]
    s = result.summary
    failures = [r[4] for r in result.rejections if r[3] == "aggregation"]
    if failures and len(failures) >= len(history):  # the global model never moved: a misconfiguration
        return SettingResult(setting.label, setting.slug, "failed",
                             f"aggregation failed in every round ({len(failures)} of {len(history)}): {failures[0]}",
                             aggregation_failures=len(failures), wall_s=round(time.perf_counter() - t0, 3))
    extra = {k: float(v) for k, v in (history[-1] if history else {}).items() if k not in HEADLINE_SCORES}
    return SettingResult(
        setting.label, setting.slug, "done", aggregation_failures=len(failures),
        rounds=[int(h.get("round", i + 1)) for i, h in enumerate(history)],
        accuracy=acc, loss=loss, final_accuracy=acc[-1] if acc else None, final_loss=loss[-1] if loss else None,
        rounds_to_target=rounds_to(acc, exp.target_accuracy) if exp.target_accuracy is not None else None,
        updates_rejected=int(s["updates_rejected"]), head_hash=s["head_hash"], final_metrics=extra,
        seeds=[scenario.seed], wall_s=round(time.perf_counter() - t0, 3))


RUN_RECORD = "run.json"  # a finished repeat's result and its scenario's fingerprint (per-run resume)


def _fingerprint(scenario: Any) -> str:
    """A digest of everything that decides a run's outcome: the whole scenario, seed included."""
    text = json.dumps(scenario.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _kept_run(folder: Path, scenario: Any) -> SettingResult | None:
    """The result recorded in ``folder`` by a finished run of exactly ``scenario``, else None
    (no record, a record of another scenario or seed, or one that does not parse)."""
    try:
        record = json.loads((folder / RUN_RECORD).read_text())
        if record["fingerprint"] != _fingerprint(scenario):
            return None
        return SettingResult(**record["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _keep_run(folder: Path, scenario: Any, run: SettingResult) -> None:
    """Record a finished run in its folder, written whole or not at all (a kill mid-write leaves none)."""
    tmp = folder / (RUN_RECORD + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": _fingerprint(scenario), "result": dataclasses.asdict(run)}))
    os.replace(tmp, folder / RUN_RECORD)


def _run_setting(exp: Experiment, setting: Setting, quick: bool, out: Path,
                 on_round: Callable[[dict[str, Any]], None] | None = None,
                 overrides: tuple[str, ...] = (), resume: bool = False) -> SettingResult:
    """Every run of ``setting`` (``exp.repeats_for(quick)`` seeds), combined into one result.

    With several runs each finished one is recorded in its ``run-<i>`` folder; ``resume=True``
    takes a recorded run of the same scenario and seed instead of running it again, so a setting
    interrupted after three of five runs runs only the last two."""
    scenario = exp.scenario(setting, quick, overrides)
    reason = exp.pending_reason(scenario)
    if reason is not None:
        return SettingResult(setting.label, setting.slug, "pending", reason)
    scenario = scenario.model_copy(update={"output": scenario.output.model_copy(update={"plots": False})})
    seeds = repeat_seeds(scenario.seed, exp.repeats_for(quick))
    folder = out / "settings" / setting.slug
    runs = []
    for i, seed in enumerate(seeds):
        seeded = scenario.model_copy(update={"seed": seed})
        run_folder = folder if len(seeds) == 1 else folder / f"run-{i}"
        kept = _kept_run(run_folder, seeded) if resume and len(seeds) > 1 else None
        run = kept if kept is not None else _run_once(exp, setting, seeded, run_folder, on_round)
        if kept is None and run.status == "done" and len(seeds) > 1:
            _keep_run(run_folder, seeded, run)
        if run.status != "done":
            run.reason = f"run {i + 1} of {len(seeds)} (seed {seed}): {run.reason}" if len(seeds) > 1 else run.reason
            run.wall_s = round(sum(r.wall_s for r in runs) + run.wall_s, 3)
            return run
        runs.append(run)
    return combine_runs(exp, runs)


def combine_runs(exp: Experiment, runs: list[SettingResult]) -> SettingResult:
    """One setting's result from its runs: mean curves and finals, their standard deviations,
    and every run's own figures (``runs``). Curves are averaged over the rounds all runs have."""
    first = runs[0]
    n_rounds = min(len(r.accuracy) for r in runs)
    acc = [mean_std(r.accuracy[k] for r in runs) for k in range(n_rounds)]
    loss = [mean_std(r.loss[k] for r in runs) for k in range(n_rounds)]
    finals = mean_std(r.final_accuracy for r in runs)
    names = sorted({m for r in runs for m in r.final_metrics})
    metric_stats = {m: mean_std(r.final_metrics.get(m) for r in runs) for m in names}
    mean_acc = [a[0] if a[0] is not None else float("nan") for a in acc]
    mean_loss = [x[0] if x[0] is not None else float("nan") for x in loss]
    return SettingResult(
        first.label, first.slug, "done", rounds=first.rounds[:n_rounds], accuracy=mean_acc, loss=mean_loss,
        final_accuracy=finals[0], final_loss=mean_std(r.final_loss for r in runs)[0],
        rounds_to_target=rounds_to(mean_acc, exp.target_accuracy) if exp.target_accuracy is not None else None,
        updates_rejected=int(round(sum(r.updates_rejected for r in runs) / len(runs))),
        aggregation_failures=sum(r.aggregation_failures for r in runs), head_hash=first.head_hash,
        wall_s=round(sum(r.wall_s for r in runs), 3), repeats=len(runs), seeds=[r.seeds[0] for r in runs],
        final_accuracy_std=finals[1], accuracy_std=[a[1] or 0.0 for a in acc], loss_std=[x[1] or 0.0 for x in loss],
        final_metrics={m: v[0] for m, v in metric_stats.items() if v[0] is not None},
        final_metrics_std={m: v[1] for m, v in metric_stats.items() if v[1] is not None},
        runs=[{"seed": r.seeds[0], "final_accuracy": r.final_accuracy, "final_loss": r.final_loss,
               "final_metrics": r.final_metrics, "rounds_to_target": r.rounds_to_target, "accuracy": r.accuracy,
               "loss": r.loss, "head_hash": r.head_hash, "updates_rejected": r.updates_rejected, "wall_s": r.wall_s}
              for r in runs])


def select_settings(settings: list[Setting], only: str | None) -> list[Setting]:
    """The settings ``only`` names: ``|``-separated label filters, each an exact label
    (case-insensitive; "IID / 30% / pedal" is not also "non-IID / 30% / pedal") or else a
    substring of labels ("30%"). Raises when a filter matches nothing."""
    if only is None:
        return list(settings)
    chosen: set[int] = set()
    for wanted in (w.strip().lower() for w in only.split("|") if w.strip()):
        exact = [i for i, s in enumerate(settings) if s.label.lower() == wanted]
        hits = exact or [i for i, s in enumerate(settings) if wanted in s.label.lower()]
        if not hits:
            labels = ", ".join(repr(s.label) for s in settings)
            raise ConfigError(f"no setting matches {wanted!r}; the settings are {labels}")
        chosen.update(hits)
    return [s for i, s in enumerate(settings) if i in chosen]


def run_experiment(exp: Experiment, out_dir: Path, quick: bool = False,
                   progress: Callable[[int, int, SettingResult], None] | None = None,
                   only: str | None = None,
                   on_round: Callable[[dict[str, Any]], None] | None = None,
                   overrides: tuple[str, ...] = (), resume: bool = False,
                   formats: tuple[str, ...] = ("png",)) -> ExperimentResult:
    """Run every setting of ``exp`` (those :func:`select_settings` picks by ``only``) into ``out_dir``;
    ``progress`` hears of each finished setting, ``on_round`` of each round (the runner's progress).
    ``overrides`` (``key=value``) are applied to every setting after its own and recorded with it.

    The summary files are rewritten after every setting, so an interrupted run keeps what it
    finished; ``resume=True`` takes the settings ``out_dir``'s summary already holds as done
    (same experiment, size and overrides) instead of running them again, and in a setting cut
    off part-way the runs that finished (same scenario and seed)."""
    t0 = time.perf_counter()
    settings = select_settings(exp.settings(), only)
    if overrides and settings:
        exp.scenario(settings[0], quick, tuple(overrides))  # a bad override fails now, not after hours
    out_dir.mkdir(parents=True, exist_ok=True)  # only once the command line is known to be good
    finished = _finished_settings(exp, out_dir, quick, list(overrides)) if resume else {}
    results = []
    for i, setting in enumerate(settings):
        r = finished.get(setting.label)
        if r is None:
            r = _run_setting(exp, setting, quick, out_dir, on_round, tuple(overrides), resume)
            r.overrides = list(overrides)
        results.append(r)
        if progress is not None:
            progress(i + 1, len(settings), r)
        if i + 1 < len(settings):  # progress on disk; plots once, at the end
            write_experiment(ExperimentResult(exp, quick, out_dir, list(results), round(time.perf_counter() - t0, 3)),
                             plots=False)
    chosen = {s.label for s in settings}
    if finished:  # settings done earlier but not selected this time stay in the folder's summary
        order = {s.label: i for i, s in enumerate(exp.settings())}
        results += [r for label, r in finished.items() if label not in chosen and label in order]
        results.sort(key=lambda r: order[r.label])
    result = ExperimentResult(exp, quick, out_dir, results, round(time.perf_counter() - t0, 3))
    write_experiment(result, formats=formats)
    return result


def _finished_settings(exp: Experiment, out_dir: Path, quick: bool, overrides: list[str]) -> dict[str, SettingResult]:
    """Done settings of an earlier run into ``out_dir`` (resume), by label; refuses another experiment."""
    path = out_dir / "summary.json"
    meta = _load_json(path)
    if meta is None:
        return {}
    name, was_quick, done = _read_summary(path, meta)
    if name != exp.name or was_quick != quick:
        raise ConfigError(f"cannot resume {exp.name!r} ({'quick' if quick else 'full'}) in {out_dir}: it holds "
                          f"{name!r} ({'quick' if was_quick else 'full'}); choose another --out")
    repeats = exp.repeats_for(quick)
    return {r.label: r for r in done if r.status == "done" and r.overrides == overrides and r.repeats == repeats}


def _load_json(path: Path) -> Any:
    """The parsed JSON file at ``path``, or None when there is none; malformed is a ConfigError."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None


def _read_summary(path: Path, meta: Any) -> tuple[str, bool, list[SettingResult]]:
    """(experiment, quick, setting results) of an experiment summary.json's parsed ``meta``."""
    try:
        return str(meta["experiment"]), bool(meta["quick"]), [SettingResult(**c) for c in meta["curves"]]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not an experiment summary ({type(exc).__name__}: {exc})") from None


def merge_runs(run_dirs: list[Path], out_dir: Path, root: Path | None = None,
               formats: tuple[str, ...] = ("png",)) -> ExperimentResult:
    """One experiment result from runs of parts of its grid (``--only`` runs, other machines).

    Each of ``run_dirs`` is a results folder of ``edgeledger experiment run`` (its summary.json
    and settings/ folders), or a folder of setting runs without that summary (an interrupted
    run's ``settings/`` parents, or one ``settings/<slug>`` folder): those are read from their
    metrics.csv. All must be of one experiment at one size; a setting present in several is
    taken from the last. ``out_dir`` gets the per-setting folders, rounds.csv, the summary
    files and the plots, settings in the experiment's grid order."""
    import shutil

    from edgeledger.scenario.experiments import find_experiment

    if not run_dirs:
        raise ConfigError("merge needs at least one results folder")
    exp: Experiment | None = None
    quick: bool | None = None
    found: dict[str, tuple[SettingResult, Path]] = {}

    def adopt(name: str, run_quick: bool, where: Path) -> None:
        nonlocal exp, quick
        if exp is None:
            exp, quick = find_experiment(name, root), run_quick
        elif name != exp.name or run_quick != quick:
            raise ConfigError(f"{where} holds {name!r} ({'quick' if run_quick else 'full'}); the first folder holds "
                              f"{exp.name!r} ({'quick' if quick else 'full'}); only runs of one experiment at one size merge")

    for run in map(Path, run_dirs):
        if not run.is_dir():
            raise ConfigError(f"{run} {'is not a folder' if run.exists() else 'does not exist'}: "
                              "name results folders of `edgeledger experiment run`")
        path = run / "summary.json"
        meta = _load_json(path)
        if meta is not None and "experiment" in meta:
            name, run_quick, results = _read_summary(path, meta)
            adopt(name, run_quick, run)
            found.update((r.label, (r, run)) for r in results)
            continue
        folders = [run] if meta is not None else sorted(p for p in (run / "settings").glob("*") if p.is_dir())
        if not folders:
            raise ConfigError(f"{path} not found and {run / 'settings'} holds no setting runs: "
                              "not a results folder of `edgeledger experiment run`")
        for folder in folders:
            repeated = sorted(folder.glob("run-*"), key=lambda p: int(p.name[4:])) if not (
                folder / "summary.json").exists() else []
            parts = [_setting_from_run(f, root) for f in (repeated or [folder])]
            name, sizes, _ = parts[0]
            adopt(name, quick if quick in sizes else sizes[0], folder)  # a grid without quick overrides: either
            assert exp is not None
            r = parts[0][2] if not repeated else combine_runs(exp, [p[2] for p in parts])
            found[r.label] = (r, folder.parent.parent)
    assert exp is not None and quick is not None
    order = {s.label: i for i, s in enumerate(exp.settings())}
    unknown = sorted(set(found) - set(order))
    if unknown:
        raise ConfigError(f"settings {unknown} are not in experiment {exp.name!r} as it is defined now")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = []
    for label in sorted(found, key=order.__getitem__):
        r, run = found[label]
        src, dst = run / "settings" / r.slug, out_dir / "settings" / r.slug
        if src.is_dir() and src.resolve() != dst.resolve():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        settings.append(r)
    result = ExperimentResult(exp, quick, out_dir, settings, round(sum(r.wall_s for r in settings), 3))
    write_experiment(result, formats=formats)
    return result


def _setting_from_run(folder: Path, root: Path | None) -> tuple[str, list[bool], SettingResult]:
    """(experiment name, the sizes (quick?) its scenario matches, result) of one setting's
    scenario run folder (``settings/<slug>``)."""
    from edgeledger.scenario.experiments import discover
    from edgeledger.scenario.schema import load_scenario

    summary = json.loads((folder / "summary.json").read_text())
    run_name = str(summary.get("name", ""))
    for exp in discover(root):
        for setting in exp.settings():
            if f"{exp.name}-{setting.slug}" != run_name:
                continue
            stored = load_scenario(folder / "scenario.toml")
            shape = lambda sc: (sc.fl.dataset, sc.fl.model, sc.fl.rounds, sc.topology.n_devices)  # noqa: E731
            sizes = [q for q in (False, True) if shape(exp.scenario(setting, q)) == shape(stored)]
            if not sizes:
                raise ConfigError(f"{folder}: its scenario matches neither the full nor the quick size of "
                                  f"{exp.name!r} / {setting.label!r} as defined now")
            series: dict[str, dict[int, float]] = {"fl.accuracy": {}, "fl.loss": {}, "fl.backdoor_asr": {}}
            with open(folder / "metrics.csv", newline="") as fh:
                for row in csv.DictReader(fh):
                    if row["metric"] in series:  # the round's closer, cloud or winner (fl.round.reporting)
                        series[row["metric"]][int(row["round"])] = float(row["value"])
            rounds = sorted(series["fl.accuracy"])
            acc = [series["fl.accuracy"][r] for r in rounds]
            loss = [series["fl.loss"].get(r, float("nan")) for r in rounds]
            return exp.name, sizes, SettingResult(
                setting.label, setting.slug, "done", rounds=rounds, accuracy=acc, loss=loss,
                final_accuracy=acc[-1] if acc else None, final_loss=loss[-1] if loss else None,
                rounds_to_target=rounds_to(acc, exp.target_accuracy) if exp.target_accuracy is not None else None,
                updates_rejected=int(summary.get("updates_rejected", 0)), head_hash=summary.get("head_hash"),
                final_metrics={"backdoor_asr": asr[max(asr)]} if (asr := series["fl.backdoor_asr"]) else {},
                seeds=[int(summary.get("seed", stored.seed))], wall_s=float(summary.get("wall_time_s", 0.0)))
    raise ConfigError(f"{folder}: run {run_name!r} is no setting of a known experiment")


