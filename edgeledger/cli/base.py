"""Shared pieces of the ``edgeledger`` command line: the typer app, the console, common help."""

from __future__ import annotations

from importlib import resources

import typer
from rich.console import Console

__all__ = ["app", "console", "SET_HELP", "demo_text"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing.")
console = Console()

SET_HELP = "Override a scenario key, e.g. --set fl.rounds=5 (repeatable; values parsed as TOML)."


def demo_text() -> str:
    return resources.files("edgeledger.scenario").joinpath("demo.toml").read_text()


