"""The ``edgeledger`` command line (typer + rich).

Exit codes: 0 success, 1 a run failed, 2 bad input (scenario, option, file). Errors print
one line ``ErrorType: message`` on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgeledger.errors import EdgeLedgerError

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing.")
chain_app = typer.Typer(no_args_is_help=True, help="Inspect the chains of a finished run.")
app.add_typer(chain_app, name="chain")
console = Console()

SET_HELP = "Override a scenario key, e.g. --set fl.rounds=5 (repeatable; values parsed as TOML)."


def _demo_text() -> str:
    return resources.files("edgeledger.scenario").joinpath("demo.toml").read_text()


def _run(data: dict[str, Any], out: Optional[Path], seed: Optional[int], sets: list[str], quiet: bool,
         threads: int) -> None:
    import torch

    from edgeledger.scenario.results import results_dir_for, write_results
    from edgeledger.scenario.runner import run_scenario
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    torch.set_num_threads(threads)
    overrides = list(sets) + ([f"seed={seed}"] if seed is not None else [])
    scenario = parse_scenario(apply_overrides(data, overrides))
    if not quiet:
        console.print(f"[bold]edgeledger[/] scenario [cyan]{scenario.name}[/] seed={scenario.seed}: "
                      f"{scenario.topology.edges} edges, {scenario.topology.n_devices} devices, "
                      f"{scenario.topology.n_validators} PBFT validators, {scenario.fl.rounds} rounds of "
                      f"{scenario.fl.aggregator} on {scenario.fl.dataset}")
    columns = [TextColumn("[bold blue]FL rounds"), BarColumn(), MofNCompleteColumn(),
               TextColumn("accuracy {task.fields[accuracy]}"), TextColumn("chain height {task.fields[height]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task("rounds", total=scenario.fl.rounds, accuracy="-", height=0)

        def on_progress(p: dict[str, Any]) -> None:
            bar.update(task, completed=p["round"], accuracy=f"{p['accuracy']:.3f}", height=p["height"])

        result = run_scenario(scenario, progress=on_progress)
    out_dir = write_results(result, Path(out) if out else results_dir_for(scenario.output.dir, scenario.name))
    s = result.summary
    table = Table(title=f"{scenario.name}: summary", show_header=False)
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
         threads: int = typer.Option(1, min=1, help="Torch threads for local training.")) -> None:
    """Run the built-in scenario: 12 devices, 3 edges, a cloud, PBFT, 10 FL rounds on digits, 2 attackers."""
    import tomllib

    text = _demo_text()
    if write_scenario is not None:
        write_scenario.write_text(text)
        console.print(f"wrote {write_scenario}")
        return
    _run(tomllib.loads(text), out, seed, set_, quiet, threads)


@app.command()
def run(scenario: Path = typer.Argument(..., help="Scenario TOML file."),
        out: Optional[Path] = typer.Option(None, help="Results folder (default <output.dir>/<name>-<timestamp>)."),
        seed: Optional[int] = typer.Option(None, help="Override the scenario seed."),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        quiet: bool = typer.Option(False, help="No progress display or table."),
        threads: int = typer.Option(1, min=1, help="Torch threads for local training.")) -> None:
    """Run a scenario file in the simulator and write its results folder."""
    import tomllib

    from edgeledger.errors import ConfigError

    try:
        data = tomllib.loads(scenario.read_text())
    except FileNotFoundError:
        raise ConfigError(f"scenario file {str(scenario)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario file {str(scenario)!r} is not valid TOML: {exc}") from None
    _run(data, out, seed, set_, quiet, threads)


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
        table = Table(title=f"chain {chain['chain_id']} (height {chain['height']})")
        for col in ("block", "hash", "time ms", "proposer", "txs", "kinds", "signers"):
            table.add_column(col)
        for b in chain["blocks"]:
            kinds: dict[str, int] = {}
            for tx in b["transactions"]:
                kinds[tx["kind"]] = kinds.get(tx["kind"], 0) + 1
            table.add_row(str(b["index"]), b["hash"][:16], str(b["timestamp_ms"]), b["proposer"],
                          str(len(b["transactions"])), ", ".join(f"{k}x{v}" for k, v in kinds.items()),
                          str(len(b["commit_certificate"]["votes"])))
        console.print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app, turning our errors into one line and an exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except EdgeLedgerError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


def _host_port(listen: str) -> tuple[str, int]:
    from edgeledger.errors import ConfigError

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8700")
    return host or "127.0.0.1", int(port)


def _serve(coro_factory: Any) -> None:
    """Run an asyncio service until SIGINT/SIGTERM."""
    import asyncio
    import logging
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await coro_factory(stop)

    asyncio.run(main())


@app.command()
def center(listen: str = typer.Option("127.0.0.1:8700", help="HOST:PORT to listen on.")) -> None:
    """Run the communication center: registers nodes and hands out the peer list (never relays payloads)."""
    from aiohttp import web

    from edgeledger.web.center import center_app

    host, port = _host_port(listen)

    async def serve(stop: Any) -> None:
        runner = web.AppRunner(center_app())
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        console.print(f"center listening on http://{host}:{port}")
        await stop.wait()
        await runner.cleanup()

    _serve(serve)


@app.command()
def node(role: str = typer.Option(..., help="cloud | edge | device"),
         center_url: str = typer.Option(..., "--center", help="URL of the communication center."),
         data_dir: Path = typer.Option(..., help="Identity, chain (SQLite) and blobs live here; reuse it to resume."),
         listen: str = typer.Option("127.0.0.1:0", help="HOST:PORT to serve the API, dashboard and protocol on."),
         config: Optional[Path] = typer.Option(None, help="Scenario TOML (topology, consensus, FL); default: the demo."),
         set_: list[str] = typer.Option([], "--set", help=SET_HELP),
         admin_token: Optional[str] = typer.Option(None, envvar="EDGELEDGER_ADMIN_TOKEN",
                                                   help="Token for admin actions (POST /v1/admin/shutdown).")) -> None:
    """Run one node process: registers with the center, builds the genesis, resumes its chain, serves."""
    import tomllib

    from edgeledger.errors import ConfigError
    from edgeledger.scenario.schema import apply_overrides, parse_scenario
    from edgeledger.web.cluster import free_port
    from edgeledger.web.node_process import NodeOptions, run_node

    if role not in ("cloud", "edge", "device"):
        raise ConfigError(f"--role {role!r}: expected cloud, edge or device")
    text = config.read_text() if config is not None else _demo_text()
    scenario = parse_scenario(apply_overrides(tomllib.loads(text), list(set_)))
    host, port = _host_port(listen)
    port = port or free_port()
    opts = NodeOptions(role=role, center=center_url.rstrip("/"), data_dir=data_dir, host=host, port=port,
                       scenario=scenario, admin_token=admin_token)
    _serve(lambda stop: run_node(opts, stop))


@app.command()
def up(scenario_file: Path = typer.Argument(..., help="Scenario TOML to start as local processes."),
       root: Optional[Path] = typer.Option(None, "--dir", help="Where data directories and logs go "
                                                              "(default runs/up-<name>)."),
       detach: bool = typer.Option(False, help="Start and return; stop later with edgeledger down."),
       timeout: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")) -> None:
    """Start a whole scenario as separate processes on 127.0.0.1 (center + every node)."""
    import time

    from rich.live import Live

    from edgeledger.scenario.schema import load_scenario
    from edgeledger.web.cluster import cluster_status, start_cluster, stop_cluster

    scenario = load_scenario(scenario_file)
    root = root or Path(scenario.output.dir) / f"up-{scenario.name}"
    cluster = start_cluster(scenario_file, scenario, root)
    console.print(f"started {len(cluster.processes)} processes; center {cluster.center}; state in {root}")
    if detach:
        console.print(f"stop with: edgeledger down --dir {root}")
        return
    deadline = time.monotonic() + timeout if timeout else None
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while deadline is None or time.monotonic() < deadline:
                live.update(_status_table(cluster_status(cluster)))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_cluster(cluster)
        console.print("all processes stopped")


def _status_table(status: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="edgeledger cluster")
    for col in ("node", "role", "status", "height", "url"):
        table.add_column(col)
    for label, info in status.items():
        table.add_row(label, str(info.get("role", "")), str(info.get("status")), str(info.get("height", "-")),
                      str(info.get("url")))
    return table


@app.command()
def down(root: Path = typer.Option(..., "--dir", help="The folder given to (or printed by) edgeledger up.")) -> None:
    """Stop a cluster started with edgeledger up --detach."""
    from edgeledger.web.cluster import Cluster, stop_cluster

    stop_cluster(Cluster.load(root))
    console.print(f"stopped the cluster in {root}")


@app.command()
def observe(results_dir: Path = typer.Argument(..., help="A results folder written by run or demo."),
            listen: str = typer.Option("127.0.0.1:8780", help="HOST:PORT for the dashboard."),
            duration: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")) -> None:
    """Serve the /observe dashboard over a finished simulation run (the same page nodes serve live)."""
    from aiohttp import web

    from edgeledger.web.observe import install_observe
    from edgeledger.web.observe_sources import RunSource

    source = RunSource(results_dir)
    host, port = _host_port(listen)

    async def serve(stop: Any) -> None:
        import asyncio

        application = web.Application()
        install_observe(application, source)

        async def root(request: web.Request) -> web.Response:
            raise web.HTTPFound("/observe/")

        application.router.add_get("/", root)
        runner = web.AppRunner(application)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        console.print(f"dashboard of {results_dir}: http://{host}:{port}/observe/")
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration or None)
        except asyncio.TimeoutError:
            pass
        await runner.cleanup()

    _serve(serve)
