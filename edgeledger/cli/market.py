"""``edgeledger market``: the edge resource market's contracts, ENs, matches, channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from edgeledger.cli.base import app, console, new_table

if TYPE_CHECKING:
    from rich.table import Table

market_app = typer.Typer(no_args_is_help=True, help="The edge resource market: ENs, matches, channels, balances, "
                                                     "audit, task sharing.")
app.add_typer(market_app, name="market")
MARKET_DIR_HELP = "A market chain saved by `market demo --out DIR` (default: run a fresh demo in memory)."
MARKET_SEED_HELP = "Seed of the in-memory demo consortium (ignored with --dir)."


def _market_state(folder: Optional[Path], seed: int) -> Any:
    """The market's LedgerState: loaded (and verified, certificates and all) from ``folder``, or a fresh demo."""
    from edgeledger.scenario.market_demo import load_market_chain, run_market_demo

    if folder is None:
        return run_market_demo(seed=seed).state
    return load_market_chain(folder)


def _rows_table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> Table:
    table = new_table(title=title)
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
        "channels": lambda: _rows_table("payment channels (times: ms of chain time)", view.channels(state),
                                        ["id", "sender", "receiver", "deposit", "amount", "state", "expiry_ms",
                                         "settle_at_ms"]),
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
                challenge_window: float = typer.Option(30.0, min=0.001, help="Challenge window of the payment "
                                                       "channels, in seconds of chain time."),
                heartbeat: float = typer.Option(5.0, min=0.001, help="Seconds of quiet after which the sealers "
                                                "commit a clock tick (the chain's time moves while it idles)."),
                as_json: bool = typer.Option(False, "--json", help="Print the market snapshot as JSON.")) -> None:
    """Run EdgeToll's market on its consortium chain (simulated): the proxy and 3 companies seal by PBFT, ENs
    and devices observe; ENs registered, devices matched, paid through the proxy over channels, settled."""
    from edgeledger.codec import to_builtins
    from edgeledger.market.view import market_snapshot
    from edgeledger.scenario.market_demo import run_market_demo, save_market_chain

    run = run_market_demo(seed=seed, n_ens=ens, n_devices=devices, payments=payments,
                          challenge_window_s=challenge_window, heartbeat_s=heartbeat)
    if out is not None:
        save_market_chain(run, out)
    if as_json:
        console.print_json(json.dumps(to_builtins({**market_snapshot(run.state), "run": run.figures()})))
    else:
        fig = run.figures()
        sealers = ", ".join(run.network.membership.validators)
        console.print(f"[bold]market demo[/] seed={seed}: PBFT sealers {sealers}; {ens} ENs and {devices} devices "
                      f"observe; {payments} payments each")
        settled = (f"{fig['settled_channels']} channels settled {fig['close_to_settle_s_min']}-"
                   f"{fig['close_to_settle_s_max']} s after closing" if fig["settled_channels"]
                   else "no channel was paid, closed and settled (the last device never pays)")
        console.print(f"chain height {fig['blocks']} (every block certified by the sealers; {fig['heartbeat_blocks']} "
                      f"heartbeat blocks), chain time {fig['chain_time_ms'] / 1000:.1f} s; challenge window "
                      f"{fig['challenge_window_s']:g} s: {settled}")
        _market_tables(run.state, ("contracts", "ens", "matches", "channels", "balances"))
        _print_audit(run.state)
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
    table = new_table(title=f"task sharing (seed {seed}, {payload_mb} MB, WAN {wan_ms} ms): mean simulated seconds")
    for col in ("edges", "request->result", "->settled", "cloud instead", "blocks", "declined"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["n_edges"]), f"{r['sharing_latency_s']:.4f}", f"{r['settled_latency_s']:.4f}",
                      f"{r['cloud_latency_s']:.4f}", str(r["blocks"]), str(r["declined"]))
    console.print(table)


