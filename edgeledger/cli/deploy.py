"""Deployment commands: ``center``, ``node``, ``up``, ``down``, ``certs``, ``observe``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from edgeledger.cli.base import app, console, demo_text, new_table, rich_console, SET_HELP

if TYPE_CHECKING:
    from rich.table import Table


@app.command()
def center(listen: str = typer.Option("127.0.0.1:8700", help="HOST:PORT to listen on."),
           tls_dir: Optional[Path] = typer.Option(None, help="Serve HTTPS with a certificate from edgeledger certs."),
           tls_name: str = typer.Option("local", help="Certificate name inside --tls-dir.")) -> None:
    """Run the communication center: registers nodes and hands out the peer list (never relays payloads)."""
    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal, serve_app
    from edgeledger.deploy.tls import server_context
    from edgeledger.web.center import center_app

    host, port = parse_listen(listen)
    ssl_context = server_context(tls_dir, tls_name) if tls_dir is not None else None
    run_until_signal(lambda stop: serve_app(center_app(), host, port, stop, ssl_context,
                                            started=lambda url: console.print(f"center listening on {url}", soft_wrap=True)))


@app.command()
def node(role: str = typer.Option(..., help="cloud | edge | device | proxy | company (EdgeToll's sealers, or a "
                                                "standby sealer)"),
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

    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal
    from edgeledger.deploy.node_process import NodeOptions, run_node
    from edgeledger.errors import ConfigError
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    if role not in ("cloud", "edge", "device", "proxy", "company"):
        raise ConfigError(f"--role {role!r}: expected cloud, edge, device, proxy or company (EdgeToll's sealers, "
                          "consortium.standby_sealers)")
    text = config.read_text() if config is not None else demo_text()
    scenario = parse_scenario(apply_overrides(tomllib.loads(text), list(set_)))
    host, port = parse_listen(listen)
    opts = NodeOptions(role=role, center=center_url.rstrip("/"), data_dir=data_dir, host=host, port=port,
                       scenario=scenario, admin_token=admin_token, tls_dir=tls_dir, tls_name=tls_name)
    run_until_signal(lambda stop: run_node(opts, stop))


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
    from edgeledger.deploy.cluster import cluster_status, start_cluster, stop_cluster

    scenario = load_scenario(scenario_file)
    root = root or Path(scenario.output.dir) / f"up-{scenario.name}"
    cluster = start_cluster(scenario_file, scenario, root, tls=tls)
    console.print(f"started {len(cluster.processes)} processes; center {cluster.center}; state in {root}")
    if detach:
        console.print(f"stop with: edgeledger down --dir {root}")
        return
    deadline = time.monotonic() + timeout if timeout else None
    try:
        with Live(console=rich_console(), refresh_per_second=2) as live:
            while deadline is None or time.monotonic() < deadline:
                live.update(_status_table(cluster_status(cluster)))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_cluster(cluster)
        console.print("all processes stopped")


def _status_table(status: dict[str, dict[str, Any]]) -> Table:
    table = new_table(title="edgeledger cluster")
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
    from edgeledger.deploy.tls import issue_certificate, make_ca

    console.print(f"cluster CA: {make_ca(directory)}")
    if name is not None:
        console.print(f"certificate {name!r} for {', '.join(host)}: {issue_certificate(directory, name, host)}")


@app.command()
def down(root: Path = typer.Option(..., "--dir", help="The folder given to (or printed by) edgeledger up.")) -> None:
    """Stop a cluster started with edgeledger up --detach."""
    from edgeledger.deploy.cluster import Cluster, stop_cluster

    stop_cluster(Cluster.load(root))
    console.print(f"stopped the cluster in {root}")


@app.command()
def observe(results_dir: Path = typer.Argument(..., help="A results folder written by run or demo."),
            listen: str = typer.Option("127.0.0.1:8780", help="HOST:PORT for the dashboard."),
            duration: float = typer.Option(0.0, help="Stop by itself after this many seconds (0: until Ctrl-C).")) -> None:
    """Serve the /observe dashboard over a finished simulation run (the same page nodes serve live)."""
    from aiohttp import web

    from edgeledger.deploy.bootstrap import parse_listen, run_until_signal, serve_app
    from edgeledger.web.observe import install_observe
    from edgeledger.web.observe_sources import RunSource

    application = web.Application()
    install_observe(application, RunSource(results_dir))
    host, port = parse_listen(listen)
    run_until_signal(lambda stop: serve_app(application, host, port, stop, duration_s=duration, started=lambda url: (
        console.print(f"dashboard of {results_dir}: {url}/observe/", soft_wrap=True))))
