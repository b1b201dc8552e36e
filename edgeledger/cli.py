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
data_app = typer.Typer(no_args_is_help=True, help="Data sets: download them and inspect federated partitions.")
app.add_typer(data_app, name="data")
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
    from edgeledger.scenario.schema import read_scenario_file

    _run(read_scenario_file(scenario), out, seed, set_, quiet, threads)


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


@data_app.command("partition-stats")
def data_partition_stats(
        dataset: str = typer.Option("digits", help="Registered data set: digits, mnist, fashion_mnist, kmnist, cifar10, ..."),
        clients: int = typer.Option(10, min=1, help="Number of clients to split the training set among."),
        partition: str = typer.Option("iid", help="iid | dirichlet | shards | quantity"),
        alpha: float = typer.Option(0.5, help="Dirichlet concentration (dirichlet and quantity only); smaller is more skewed."),
        shards_per_client: int = typer.Option(2, min=1, help="Shards dealt to each client (shards only; McMahan et al.: 2)."),
        seed: int = typer.Option(0, help="Seed of the partition's random generator."),
        plot: Optional[Path] = typer.Option(None, help="Write a PNG (stacked bars + heatmap) of the histogram here."),
        data_root: Optional[Path] = typer.Option(None, help="Folder holding one sub-folder per data set (default $EDGELEDGER_DATA)."),
        download: bool = typer.Option(False, help="Fetch missing files from the official location first."),
        as_json: bool = typer.Option(False, "--json", help="Print the histogram and summary as JSON instead of a table.")) -> None:
    """Print the per-client label histogram of a partition of a data set's training split."""
    import numpy as np

    from edgeledger.fl import load_dataset
    from edgeledger.fl import partition as split
    from edgeledger.fl.partition_stats import histogram_summary, label_histogram, plot_label_histogram

    train, _ = load_dataset(dataset, data_root, download=download)
    params: dict[str, Any] = {}
    if partition in ("dirichlet", "quantity"):
        params["alpha"] = alpha
    elif partition == "shards":
        params["shards_per_client"] = shards_per_client
    parts = split(partition, train.y, clients, np.random.default_rng(seed), **params)
    hist = label_histogram(train.y, parts, train.n_classes)  # [K, C]
    summary = histogram_summary(hist)
    described = f"{dataset} / {clients} clients / {partition}" + "".join(f" {k}={v}" for k, v in params.items())
    if as_json:
        print(json.dumps({"setting": described, "seed": seed, "histogram": hist.tolist(), "summary": summary}))
    else:
        table = Table(title=f"{described} (seed {seed}): labels per client")
        for col in ("client", "samples", *(str(c) for c in range(train.n_classes))):
            table.add_column(col, justify="right")
        for k, row in enumerate(hist):
            table.add_row(str(k), str(int(row.sum())), *(str(int(v)) if v else "[dim]0[/]" for v in row))
        console.print(table)
        console.print(f"sizes {summary['min_size']:.0f}..{summary['max_size']:.0f}, "
                      f"{summary['mean_classes_per_client']:.2f} classes per client, "
                      f"mean total-variation distance to the global label mix {summary['mean_tv_distance']:.3f}")
    if plot is not None:
        plot_label_histogram(hist, plot, title=f"{described} (seed {seed})")
        if not as_json:
            console.print(f"plot: {plot}")


@data_app.command("download")
def data_download(dataset: str = typer.Argument(..., help="mnist | fashion_mnist | kmnist | cifar10"),
                  data_root: Optional[Path] = typer.Option(None, help="Destination root (default $EDGELEDGER_DATA)."),
                  quiet: bool = typer.Option(False, help="No progress bars.")) -> None:
    """Fetch a data set's files from the official location and check their SHA-256 sums."""
    import os

    from edgeledger.errors import ConfigError
    from edgeledger.fl.download import download_dataset

    root = data_root or (Path(os.environ["EDGELEDGER_DATA"]) if os.environ.get("EDGELEDGER_DATA") else None)
    if root is None:
        raise ConfigError("data download needs --data-root or EDGELEDGER_DATA set to a folder")
    folder = download_dataset(dataset, root, show_progress=not quiet, console=console)
    console.print(f"{dataset}: files verified in {folder}")


# -- market: the edge resource market (issue 8) ---------------------------------------------
market_app = typer.Typer(no_args_is_help=True, help="The edge resource market: ENs, matches, channels, balances, "
                                                     "audit, task sharing.")
app.add_typer(market_app, name="market")
MARKET_DIR_HELP = "A market chain saved by `market demo --out DIR` (default: run a fresh demo in memory)."
MARKET_SEED_HELP = "Seed of the in-memory demo consortium (ignored with --dir)."


def _market_state(folder: Optional[Path], seed: int) -> Any:
    """The market's LedgerState: loaded from ``folder`` or from a fresh demo."""
    from edgeledger.codec import decode
    from edgeledger.errors import ConfigError
    from edgeledger.ledger.identity import Genesis
    from edgeledger.ledger.store import ChainStore
    from edgeledger.market.demo import MarketChain, run_market_demo

    if folder is None:
        return run_market_demo(seed=seed).state
    if not (folder / "genesis.bin").exists() or not (folder / "chain.sqlite").exists():
        raise ConfigError(f"{str(folder)!r} holds no market chain; create one with "
                          f"`edgeledger market demo --out {folder}`")
    return MarketChain(decode((folder / "genesis.bin").read_bytes(), Genesis),
                       store=ChainStore(folder / "chain.sqlite")).state


def _rows_table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> Table:
    table = Table(title=title)
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in cols))
    return table


def _market_tables(state: Any, which: tuple[str, ...]) -> None:
    from edgeledger.market import view

    tables = {
        "contracts": lambda: _rows_table("contracts", view.contracts(state),
                                         ["name", "code", "version", "owner", "height"]),
        "ens": lambda: _rows_table("edge nodes", view.edge_nodes(state),
                                   ["en_id", "company", "x", "y", "capacity", "free", "price"]),
        "matches": lambda: _rows_table("matches (nearest EN with capacity)", view.matches(state),
                                       ["seq", "height", "device", "x", "y", "need", "en_id", "company"]),
        "channels": lambda: _rows_table("payment channels", view.channels(state),
                                        ["id", "sender", "receiver", "deposit", "amount", "state", "expiry",
                                         "settle_at"]),
        "balances": lambda: _rows_table("token balances", view.balances(state), ["account", "role", "balance"]),
    }
    for name in which:
        console.print(tables[name]())


def _print_audit(state: Any) -> int:
    from edgeledger.market import view

    report = view.audit(state)
    if not report["findings"]:
        console.print(f"audit: all {report['matches']} matches follow the nearest-node rule")
        return 0
    console.print(_rows_table("matches against the nearest-node rule", report["findings"],
                              ["seq", "height", "device", "chosen", "chosen_company", "expected",
                               "expected_company"]))
    console.print("favoured companies: " + ", ".join(f"{c} x{n}" for c, n in report["favoured"].items()))
    return 1


@market_app.command("demo")
def market_demo(out: Optional[Path] = typer.Option(None, help="Save the market chain here (an empty folder) "
                                                              "for the other market commands' --dir."),
                seed: int = typer.Option(1, help="Seed for EN locations, capacities, prices and device positions."),
                ens: int = typer.Option(6, min=1, help="Edge nodes the companies register."),
                devices: int = typer.Option(8, min=1, help="Devices matched to ENs."),
                payments: int = typer.Option(5, min=1, help="Off-chain payments per device."),
                as_json: bool = typer.Option(False, "--json", help="Print the market snapshot as JSON.")) -> None:
    """Run a small EdgeToll consortium in-process: register ENs, match devices, pay over channels, settle."""
    from edgeledger.codec import encode, to_builtins
    from edgeledger.errors import ConfigError
    from edgeledger.ledger.store import ChainStore
    from edgeledger.market.demo import run_market_demo
    from edgeledger.market.view import market_snapshot

    chain = run_market_demo(seed=seed, n_ens=ens, n_devices=devices, payments=payments)
    if out is not None:
        if (out / "chain.sqlite").exists():
            raise ConfigError(f"--out {str(out)!r} already holds a market chain; choose an empty folder")
        out.mkdir(parents=True, exist_ok=True)
        (out / "genesis.bin").write_bytes(encode(chain.genesis))
        disk = ChainStore(out / "chain.sqlite")
        for block in chain.store.blocks():
            disk.append(block)
        disk.close()
    if as_json:
        console.print_json(json.dumps(to_builtins(market_snapshot(chain.state))))
    else:
        console.print(f"[bold]market demo[/] seed={seed}: {ens} ENs of 3 companies, {devices} devices, "
                      f"{payments} payments each; chain height {chain.state.height}")
        _market_tables(chain.state, ("contracts", "ens", "matches", "channels", "balances"))
        _print_audit(chain.state)
    if out is not None:
        console.print(f"saved: {out}")


def _market_view(name: str, doc: str) -> None:
    def command(folder: Optional[Path] = typer.Option(None, "--dir", help=MARKET_DIR_HELP),
                seed: int = typer.Option(1, help=MARKET_SEED_HELP)) -> None:
        _market_tables(_market_state(folder, seed), (name,))

    command.__doc__ = doc
    market_app.command(name)(command)


_market_view("contracts", "List the deployed contract instances (name, code, version, owner).")
_market_view("ens", "List the registered edge nodes: company, location, capacity, free capacity, price.")
_market_view("matches", "List the device -> EN matches recorded on chain.")
_market_view("channels", "List the payment channels and their states (open, closing, settled).")
_market_view("balances", "List token balances, including the channel escrow.")


@market_app.command("audit")
def market_audit(folder: Optional[Path] = typer.Option(None, "--dir", help=MARKET_DIR_HELP),
                 seed: int = typer.Option(1, help=MARKET_SEED_HELP)) -> None:
    """Replay every match against the nearest-node rule; exit 1 if any company's ENs were favoured."""
    if _print_audit(_market_state(folder, seed)):
        raise typer.Exit(1)


@market_app.command("sharing")
def market_sharing(edges: str = typer.Option("4,8,16", help="Comma-separated numbers of edge servers to run."),
                   tasks: int = typer.Option(3, min=1, help="Tasks per run (the latency is their mean)."),
                   seed: int = typer.Option(1, help="Seed of loads, load drift and payloads."),
                   payload_mb: float = typer.Option(2.0, min=0.001, help="Task payload size in MB."),
                   wan_ms: float = typer.Option(40.0, min=0.0, help="One-way edge-cloud latency in ms."),
                   as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON.")) -> None:
    """Simulate the Fabric task-sharing workflow: request-to-result latency vs edge servers and vs the cloud."""
    from edgeledger.errors import ConfigError
    from edgeledger.market.sharing import latency_table

    try:
        counts = [int(x) for x in edges.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--edges {edges!r}: expected comma-separated integers, e.g. 4,8,16") from None
    rows = latency_table(counts, seed=seed, tasks=tasks, payload_bytes=int(payload_mb * 1e6), wan_latency_ms=wan_ms)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"task sharing (seed {seed}, {payload_mb} MB, WAN {wan_ms} ms): mean simulated seconds")
    for col in ("edges", "request->result", "->settled", "cloud instead", "blocks", "declined"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["n_edges"]), f"{r['sharing_latency_s']:.4f}", f"{r['settled_latency_s']:.4f}",
                      f"{r['cloud_latency_s']:.4f}", str(r["blocks"]), str(r["declined"]))
    console.print(table)


experiment_app = typer.Typer(no_args_is_help=True, help="The paper experiments (experiments/*/*.toml): list and run.")
app.add_typer(experiment_app, name="experiment")
EXPERIMENTS_DIR_HELP = "Folder of experiment sets (default $EDGELEDGER_EXPERIMENTS or ./experiments)."


@experiment_app.command("list")
def experiment_list(root: Optional[Path] = typer.Option(None, "--dir", help=EXPERIMENTS_DIR_HELP)) -> None:
    """Print every experiment: name, settings (pending ones waiting for a plug-in) and description."""
    from edgeledger.scenario.experiments import discover

    table = Table(title="experiments")
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
                   only: Optional[str] = typer.Option(None, help="Run only settings whose label contains this."),
                   threads: int = typer.Option(1, min=1, help="Torch threads for local training.")) -> None:
    """Run every setting of an experiment; write per-setting runs, rounds.csv, summary and plots."""
    import torch

    from edgeledger.scenario.experiment_run import run_experiment
    from edgeledger.scenario.experiments import find_experiment
    from edgeledger.scenario.results import results_dir_for

    torch.set_num_threads(threads)
    exp = find_experiment(name, root)
    out_dir = out or results_dir_for("runs", exp.name + ("-quick" if quick else ""))
    console.print(f"[bold]experiment[/] [cyan]{exp.name}[/] ({'quick' if quick else 'full'}): {exp.description}")

    def on_setting(i: int, n: int, r: Any) -> None:
        acc = f"{r.final_accuracy:.4f}" if r.final_accuracy is not None else "-"
        note = f"accuracy {acc} in {r.wall_s:.1f} s" if r.status == "done" else f"{r.status}: {r.reason}"
        console.print(f"  [{i}/{n}] {r.label}: {note}")

    def on_round(p: dict[str, Any]) -> None:
        if not quick:
            console.print(f"    round {p['round']}/{p['rounds']}: accuracy {p['accuracy']:.4f}")

    result = run_experiment(exp, out_dir, quick=quick, progress=on_setting, only=only, on_round=on_round)
    table = Table(title=f"{exp.name} ({'quick' if quick else 'full'}): final accuracy per setting")
    columns = ["setting", "final accuracy", "final loss", "rounds", "rejected updates"]
    columns += ["rounds to target"] if exp.target_accuracy is not None else []
    for col in columns:
        table.add_column(col)
    for r in result.settings:
        if r.status != "done":
            table.add_row(r.label, r.status, "-", "-", "-", *(["-"] if exp.target_accuracy is not None else []))
            continue
        row = [r.label, f"{r.final_accuracy:.4f}", f"{r.final_loss:.4f}", str(len(r.rounds)), str(r.updates_rejected)]
        if exp.target_accuracy is not None:
            row.append(str(r.rounds_to_target) if r.rounds_to_target is not None else f"not in {len(r.rounds)}")
        table.add_row(*row)
    console.print(table)
    console.print(f"results: {out_dir} ({result.wall_s:.1f} s)")
    failed = [r for r in result.settings if r.status == "failed"]
    if failed:
        raise EdgeLedgerError(f"{len(failed)} setting(s) failed: " + "; ".join(f"{r.label}: {r.reason}" for r in failed))


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
def center(listen: str = typer.Option("127.0.0.1:8700", help="HOST:PORT to listen on."),
           tls_dir: Optional[Path] = typer.Option(None, help="Serve HTTPS with a certificate from edgeledger certs."),
           tls_name: str = typer.Option("local", help="Certificate name inside --tls-dir.")) -> None:
    """Run the communication center: registers nodes and hands out the peer list (never relays payloads)."""
    from aiohttp import web

    from edgeledger.web.center import center_app
    from edgeledger.web.tls import server_context

    host, port = _host_port(listen)
    ssl_context = server_context(tls_dir, tls_name) if tls_dir is not None else None

    async def serve(stop: Any) -> None:
        runner = web.AppRunner(center_app())
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        console.print(f"center listening on {'https' if ssl_context else 'http'}://{host}:{port}")
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
                                                   help="Token for admin actions (POST /v1/admin/shutdown)."),
         tls_dir: Optional[Path] = typer.Option(None, help="Serve HTTPS and trust only this cluster CA "
                                                           "(edgeledger certs)."),
         tls_name: str = typer.Option("local", help="Certificate name inside --tls-dir.")) -> None:
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
                       scenario=scenario, admin_token=admin_token, tls_dir=tls_dir, tls_name=tls_name)
    _serve(lambda stop: run_node(opts, stop))


@app.command()
def up(scenario_file: Path = typer.Argument(..., help="Scenario TOML to start as local processes."),
       root: Optional[Path] = typer.Option(None, "--dir", help="Where data directories and logs go "
                                                              "(default runs/up-<name>)."),
       detach: bool = typer.Option(False, help="Start and return; stop later with edgeledger down."),
       timeout: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C)."),
       tls: bool = typer.Option(False, help="Make a cluster CA and run every process over HTTPS.")) -> None:
    """Start a whole scenario as separate processes on 127.0.0.1 (center + every node)."""
    import time

    from rich.live import Live

    from edgeledger.scenario.schema import load_scenario
    from edgeledger.web.cluster import cluster_status, start_cluster, stop_cluster

    scenario = load_scenario(scenario_file)
    root = root or Path(scenario.output.dir) / f"up-{scenario.name}"
    cluster = start_cluster(scenario_file, scenario, root, tls=tls)
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


@app.command()
def bench(bench_file: Path = typer.Argument(..., help="Benchmark TOML (network and rounds), e.g. benchmarks/caliper/quick.toml."),
          out: Optional[Path] = typer.Option(None, help="Report folder (default runs/bench-<name>-<timestamp>)."),
          check: bool = typer.Option(False, help="Validate the file and exit without running.")) -> None:
    """Run a Caliper-style benchmark: rounds of a workload at a controlled rate; writes report.html and report.json."""
    import time

    from edgeledger.bench import load_bench, run_bench

    cfg = load_bench(bench_file)
    if check:
        console.print(f"{bench_file}: {len(cfg.rounds)} rounds on a {cfg.network.kind} network, valid")
        return
    out = out or Path("runs") / f"bench-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = run_bench(cfg, out, log=console.print)
    table = Table(title=f"{cfg.name}: summary (Caliper metrics)")
    for col in ("round", "succ", "fail", "send tps", "throughput tps", "avg lat s", "p99 lat s", "max CPU %", "max MB"):
        table.add_column(col)
    for r in report["rounds"]:
        res = [v for v in r["resources"].values()]
        cpu = max((v.get("cpu_max_pct") or 0 for v in res), default=0)
        mem = max((v.get("rss_max_mb") or 0 for v in res), default=0)
        table.add_row(r["label"], str(r["succ"]), str(r["fail"]), f"{r['send_rate_tps']:.1f}",
                      f"{r['throughput_tps']:.1f}", f"{r['latency_avg_s']:.3f}" if r["latency_avg_s"] is not None else "-",
                      f"{r['latency_p99_s']:.3f}" if r["latency_p99_s"] is not None else "-", f"{cpu:.1f}", f"{mem:.0f}")
    console.print(table)
    console.print(f"report: {out / 'report.html'}")


def _status_table(status: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="edgeledger cluster")
    for col in ("node", "role", "status", "height", "url"):
        table.add_column(col)
    for label, info in status.items():
        table.add_row(label, str(info.get("role", "")), str(info.get("status")), str(info.get("height", "-")),
                      str(info.get("url")))
    return table


@app.command()
def certs(directory: Path = typer.Option(..., "--dir", help="Where the cluster CA (ca.pem, ca.key) lives."),
          name: Optional[str] = typer.Option(None, help="Also issue a certificate with this name."),
          host: list[str] = typer.Option(["127.0.0.1", "localhost"], help="IP or DNS name the certificate covers "
                                                                         "(repeatable).")) -> None:
    """Create a self-signed cluster CA (once) and issue node certificates for TLS."""
    from edgeledger.web.tls import issue_certificate, make_ca

    console.print(f"cluster CA: {make_ca(directory)}")
    if name is not None:
        console.print(f"certificate {name!r} for {', '.join(host)}: {issue_certificate(directory, name, host)}")


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
