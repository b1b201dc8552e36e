"""Shared pieces of the ``edgeledger`` command line: the typer app, the console, common help."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["app", "console", "rich_console", "SET_HELP", "demo_text", "new_table"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="edgeledger: blockchain-secured federated learning and task offloading for edge/cloud computing.")


_console: Console | None = None


def rich_console() -> Console:
    """The process's rich Console, built on first use: ``edgeledger node`` on a small board never loads rich."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console()
    return _console


class _LazyConsole:
    """Stands in for the console until something prints (see :func:`rich_console`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(rich_console(), name)


console: Console = _LazyConsole()  # type: ignore[assignment]


def new_table(*args: Any, **kwargs: Any) -> Table:
    """A rich Table (imported here, on first use, for the same reason as the console)."""
    from rich.table import Table

    return Table(*args, **kwargs)


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


