"""``edgeledger experiment``: list and run the papers' experiments."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import typer

from edgeledger.cli.base import app, console, new_table
from edgeledger.errors import ConfigError, EdgeLedgerError

experiment_app = typer.Typer(no_args_is_help=True, help="The paper experiments (experiments/*/*.toml): list and run.")
app.add_typer(experiment_app, name="experiment")
EXPERIMENTS_DIR_HELP = "Folder of experiment sets (default $EDGELEDGER_EXPERIMENTS or ./experiments)."
FORMATS_HELP = "Plot file formats, comma-separated: png, svg, pdf (vector formats for a paper)."


def _formats(text: str) -> tuple[str, ...]:
    """``png,svg`` -> ("png", "svg"); an unknown format is a ConfigError naming the valid ones."""
    from edgeledger.scenario.figures import FORMATS
    from edgeledger.scenario.preflight import closest

    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    for f in chosen:
        if f not in FORMATS:
            near = closest(f, FORMATS)
            raise ConfigError(f"--formats: {f!r} is not a plot format; {f'did you mean {near[0]!r}? ' if near else ''}"
                              f"expected some of: {', '.join(FORMATS)}")
    return chosen or ("png",)


@experiment_app.command("list")
def experiment_list(root: Optional[Path] = typer.Option(None, "--dir", help=EXPERIMENTS_DIR_HELP)) -> None:
    """Print every experiment: name, settings (pending ones waiting for a plug-in) and description."""
    from edgeledger.scenario.experiments import discover

    table = new_table(title="experiments")
    for col in ("name", "settings", "description"):
        table.add_column(col)
    for exp in discover(root):
        settings = exp.settings()
        pending = sum(1 for s in settings if exp.pending_reason(exp.scenario(s)) is not None)
        table.add_row(exp.name, f"{len(settings)}" + (f" ({pending} pending)" if pending else ""), exp.description)
    console.print(table)


@experiment_app.command("run")
def experiment_run(name: str = typer.Argument(..., help="Experiment name (see edgeledger experiment list)."),
                   quick: bool = typer.Option(False, help="Reduced size (data, rounds, clients) for CI: minutes."),
                   out: Optional[Path] = typer.Option(None, help="Results folder (default runs/<name>[-quick]-<ts>)."),
                   root: Optional[Path] = typer.Option(None, "--dir", help=EXPERIMENTS_DIR_HELP),
                   only: Optional[str] = typer.Option(None, help="Run only these settings: '|'-separated labels, each exact or a substring (e.g. \"IID / 30% / pedal|non-IID / 0%\")."),
                   set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a scenario key in every setting, after the setting's own, e.g. --set 'fl.executor=\"process\"' (repeatable; TOML values; recorded in the summary)."),
                   resume: bool = typer.Option(False, help="Keep the settings the --out folder's summary already holds as done (same experiment, size, --set), and the finished runs of a setting cut off part-way; run the rest."),
                   repeats: Optional[int] = typer.Option(None, min=1, max=100, help="Runs per setting (seeds derived from the base seed; tables show mean ± std). Default: the experiment's repeats (quick_repeats with --quick)."),
                   threads: int = typer.Option(1, min=1, help="Torch threads for local training."),
                   formats: str = typer.Option("png", "--formats", help=FORMATS_HELP),
                   force: bool = typer.Option(False, help="Replace the run already in the --out folder (without "
                                              "--resume or --force such a folder is refused).")) -> None:
    """Run every setting of an experiment; write per-setting runs, rounds.csv, summary and plots."""
    import torch

    from edgeledger.scenario.experiment_report import cell_text
    from edgeledger.scenario.experiment_run import run_experiment
    from edgeledger.scenario.experiments import find_experiment
    from edgeledger.scenario.results import results_dir_for

    torch.set_num_threads(threads)
    exp = find_experiment(name, root)
    if repeats is not None:
        exp = dataclasses.replace(exp, repeats=repeats, quick_repeats=repeats)
    if resume and out is None:
        raise ConfigError("--resume needs --out: the results folder of the run to resume")
    out_dir = out or results_dir_for("runs", exp.name + ("-quick" if quick else ""))
    if out is not None and not resume and (out / "summary.json").exists():
        if not force:
            raise ConfigError(f"--out {str(out)!r} already holds an experiment run; pass --resume to finish it, "
                              "--force to replace it, or choose a new folder")
        import shutil

        for name in ("summary.json", "summary.csv", "summary.md", "rounds.csv", "runs.csv", "settings", "plots"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    n_runs = exp.repeats_for(quick)
    console.print(f"[bold]experiment[/] [cyan]{exp.name}[/] ({'quick' if quick else 'full'}"
                  f"{f', {n_runs} runs per setting' if n_runs > 1 else ''}): {exp.description}")

    def on_setting(i: int, n: int, r: Any) -> None:
        acc = cell_text(r) if r.final_accuracy is not None else "-"
        note = f"accuracy {acc} in {r.wall_s:.1f} s" if r.status == "done" else f"{r.status}: {r.reason}"
        console.print(f"  [{i}/{n}] {r.label}: {note}")

    def on_round(p: dict[str, Any]) -> None:
        if not quick:
            console.print(f"    round {p['round']}/{p['rounds']}: accuracy {p['accuracy']:.4f}")

    result = run_experiment(exp, out_dir, quick=quick, progress=on_setting, only=only, on_round=on_round,
                            overrides=tuple(set_ or ()), resume=resume, formats=_formats(formats))
    _print_summary(result)
    console.print(f"results: {out_dir} ({result.wall_s:.1f} s)")
    failed = [r for r in result.settings if r.status == "failed"]
    if failed:
        raise EdgeLedgerError(f"{len(failed)} setting(s) failed: " + "; ".join(f"{r.label}: {r.reason}" for r in failed))


def _print_summary(result: Any) -> None:
    """The final-accuracy table of an experiment result (run or merged)."""
    from edgeledger.scenario.experiment_report import cell_text

    exp, quick = result.experiment, result.quick
    repeats = exp.repeats_for(quick)
    table = new_table(title=f"{exp.name} ({'quick' if quick else 'full'}): final accuracy per setting"
                  + (f" (mean ± std of {repeats} runs)" if repeats > 1 else ""))
    extra = sorted({m for r in result.settings for m in r.final_metrics})
    columns = ["setting", "final accuracy", *(f"final {m}" for m in extra), "final loss", "rounds", "rejected updates"]
    columns += ["rounds to target"] if exp.target_accuracy is not None else []
    for col in columns:
        table.add_column(col)
    for r in result.settings:
        if r.status != "done":
            table.add_row(r.label, r.status, *["-"] * (len(columns) - 2))
            continue
        row = [r.label, cell_text(r), *(cell_text(r, m) for m in extra), f"{r.final_loss:.4f}", str(len(r.rounds)),
               str(r.updates_rejected)]
        if exp.target_accuracy is not None:
            row.append(str(r.rounds_to_target) if r.rounds_to_target is not None else f"not in {len(r.rounds)}")
        table.add_row(*row)
    console.print(table)


@experiment_app.command("merge")
def experiment_merge(runs: list[Path] = typer.Argument(..., help="Results folders of runs of parts of one experiment."),
                     out: Path = typer.Option(..., help="Folder for the merged results."),
                     root: Optional[Path] = typer.Option(None, "--dir", help=EXPERIMENTS_DIR_HELP),
                     formats: str = typer.Option("png", "--formats", help=FORMATS_HELP)) -> None:
    """Merge runs of parts of one grid (--only runs, other machines) into one table and plots."""
    from edgeledger.scenario.experiment_run import merge_runs

    result = merge_runs(runs, out, root, _formats(formats))
    _print_summary(result)
    n = len(result.experiment.settings())
    console.print(f"merged {len(result.settings)} of {n} settings from {len(runs)} folder(s): {out}")
