"""Simulation commands: ``demo``, ``run`` and ``chain show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from edgeledger.cli.base import app, console, demo_text, new_table, rich_console, SET_HELP
from edgeledger.errors import EdgeLedgerError

chain_app = typer.Typer(no_args_is_help=True, help="Inspect the chains of a finished run.")
app.add_typer(chain_app, name="chain")


FORCE_HELP = "Replace the run already in the --out folder (without it, such a folder is refused)."


def _run(data: dict[str, Any], out: Optional[Path], seed: Optional[int], sets: list[str], quiet: bool,
         threads: int, force: bool = False) -> None:
    import torch

    from edgeledger.scenario.preflight import check_scenario
    from edgeledger.scenario.results import prepare_results_dir, results_dir_for, write_results
    from edgeledger.scenario.runner import run_scenario
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    torch.set_num_threads(threads)
    overrides = list(sets) + ([f"seed={seed}"] if seed is not None else [])
    scenario = check_scenario(parse_scenario(apply_overrides(data, overrides)))
    out_dir = prepare_results_dir(Path(out) if out else results_dir_for(scenario.output.dir, scenario.name), force)
    if not quiet:
        console.print(f"[bold]edgeledger[/] scenario [cyan]{scenario.name}[/] seed={scenario.seed}: "
                      f"{scenario.topology.edges} edges, {scenario.topology.n_devices} devices, "
                      f"{scenario.topology.n_validators} PBFT validators, {scenario.fl.rounds} rounds of "
                      f"{scenario.fl.aggregator} on "
                      f"{'the offloading DQN' if scenario.fl.task == 'offloading' else scenario.fl.dataset}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold blue]FL rounds"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[metric]} {task.fields[value]}"), TextColumn("chain height {task.fields[height]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=rich_console(), disable=quiet, transient=False) as bar:
        headline = "utility" if scenario.fl.task == "offloading" else "accuracy"  # see run_scenario's progress
        task = bar.add_task("rounds", total=scenario.fl.rounds, metric=headline, value="-", height=0)

        def on_progress(p: dict[str, Any]) -> None:
            bar.update(task, completed=p["round"], value=f"{p['value']:.3f}", height=p["height"])

        result = run_scenario(scenario, progress=on_progress)
        # the last round's close commits after its metric: end the bar on what the summary counts
        bar.update(task, completed=result.summary["rounds_completed"], height=result.summary["blocks"])
    write_results(result, out_dir)
    s = result.summary
    table = new_table(title=f"{scenario.name}: summary", show_header=False)
    acc = s["final_accuracy"]
    for key, value in [("final accuracy", f"{acc:.4f}" if acc is not None else "-"),
                       ("rounds", f"{s['rounds_completed']} / {s['rounds']}"), ("blocks", s["blocks"]),
                       ("transactions", s["transactions"]),
                       ("rejected updates / downloads", f"{s['updates_rejected']} / {s['downloads_rejected']}"),
                       ("bytes sent (simulated network)", f"{s['bytes_sent']:,}"),
                       ("simulated time", f"{s['simulated_time_s']:.2f} s"), ("wall time", f"{s['wall_time_s']:.1f} s"),
                       ("chain head", s["head_hash"][:16] if s["head_hash"] else "-")]:
        table.add_row(key, str(value))
    if not quiet:
        console.print(table)
    console.print(f"results: {out_dir}")
    if s["rounds_completed"] < s["rounds"]:
        raise EdgeLedgerError(f"only {s['rounds_completed']} of {s['rounds']} rounds completed before "
                              f"max_sim_time_s={scenario.max_sim_time_s}")


@app.command()
def demo(out: Optional[Path] = typer.Option(None, help="Results folder (default runs/demo-<timestamp>)."),
         seed: Optional[int] = typer.Option(None, help="Override the scenario seed."),
         set_: list[str] = typer.Option([], "--set", help=SET_HELP),
         write_scenario: Optional[Path] = typer.Option(None, help="Write the demo scenario (commented TOML) here and exit."),
         quiet: bool = typer.Option(False, help="No progress display or table."),
         threads: int = typer.Option(1, min=1, help="Torch threads for local training."),
         force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Run the built-in scenario: 12 devices, 3 edges, a cloud, PBFT, 10 FL rounds on digits, 2 attackers."""
    import tomllib

    text = demo_text()
    if write_scenario is not None:
        _write_scenario(write_scenario, text, force)
        return
    _run(tomllib.loads(text), out, seed, set_, quiet, threads, force)


def _write_scenario(path: Path, text: str, force: bool) -> None:
    """The demo scenario, its header naming the file it is written to."""
    from edgeledger.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"--write-scenario {str(path)!r} is a folder; expected a file name such as my.toml")
    if path.exists() and not force:
        raise ConfigError(f"--write-scenario {str(path)!r} exists; pass --force to overwrite it or choose another name")
    try:
        path.write_text(text.replace("edgeledger run demo.toml", f"edgeledger run {path.name}"), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--write-scenario {str(path)!r}: cannot write ({exc.strerror or exc}); "
                          "choose a path you can write to") from None
    console.print(f"wrote {path}; run it with: edgeledger run {path}")


@app.command()
def run(scenario: Path = typer.Argument(..., help="Scenario TOML file."),
        out: Optional[Path] = typer.Option(None, help="Results folder (default <output.dir>/<name>-<timestamp>)."),
        seed: Optional[int] = typer.Option(None, help="Override the scenario seed."),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        quiet: bool = typer.Option(False, help="No progress display or table."),
        threads: int = typer.Option(1, min=1, help="Torch threads for local training."),
        force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Run a scenario file in the simulator and write its results folder."""
    from edgeledger.scenario.schema import read_scenario_file

    _run(read_scenario_file(scenario), out, seed, set_, quiet, threads, force)


@chain_app.command("show")
def chain_show(results_dir: Path = typer.Argument(..., help="A results folder written by run or demo."),
               block: Optional[int] = typer.Option(None, help="Show this block in full (JSON)."),
               as_json: bool = typer.Option(False, "--json", help="Print the whole export as JSON.")) -> None:
    """Print the blocks and transactions of a finished run."""
    from edgeledger.errors import ConfigError
    from edgeledger.scenario.results import load_chain_export

    for chain in load_chain_export(results_dir):
        if as_json:
            console.print_json(json.dumps(chain))
            continue
        if block is not None:
            found = [b for b in chain["blocks"] if b["index"] == block]
            if not found:
                raise ConfigError(f"--block {block}: chain {chain['chain_id']!r} has blocks 1..{chain['height']}")
            console.print_json(json.dumps(found[0]))
            continue
        table = new_table(title=f"chain {chain['chain_id']} (height {chain['height']})")
        for col in ("block", "hash", "time (s)", "proposer", "txs", "kinds", "signers"):
            table.add_column(col, no_wrap=col != "kinds")
        for b in chain["blocks"]:
            kinds: dict[str, int] = {}
            for tx in b["transactions"]:
                kinds[tx["kind"]] = kinds.get(tx["kind"], 0) + 1
            table.add_row(str(b["index"]), b["hash"][:12], f"{b['timestamp_ms'] / 1000:.3f}", b["proposer"],
                          str(len(b["transactions"])), ", ".join(k if v == 1 else f"{k} ×{v}" for k, v in kinds.items()),
                          str(len(b["commit_certificate"]["votes"])))
        console.print(table)


