"""Shared pieces of the ``edgeledger`` command line: the typer app, the console, common help."""

from __future__ import annotations

from importlib import resources

import typer
from rich.console import Console

__all__ = ["app", "console", "SET_HELP", "demo_text"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing.")
console = Console()


def _show_version(value: bool) -> None:
    if value:
        from edgeledger import __version__

        console.print(f"edgeledger {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                       help="Print the version and exit."),
          debug: bool = typer.Option(False, "--debug", help="On an error, print the traceback too "
                                     "(accepted anywhere on the command line).")) -> None:
    """edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing."""

SET_HELP = "Override a scenario key, e.g. --set fl.rounds=5 (repeatable; values parsed as TOML)."


def demo_text() -> str:
    return resources.files("edgeledger.scenario").joinpath("demo.toml").read_text()


