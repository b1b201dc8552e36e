"""The ``edgeledger`` command line (typer + rich), one module per command group.

Exit codes: 0 success, 1 a run failed, 2 bad input (scenario, option, file). Errors print
one line ``ErrorType: message`` on stderr, never a traceback.
"""

from __future__ import annotations

import sys

import typer

# importing a group registers its commands; this order is the order of `edgeledger --help`
from edgeledger.cli import simulate  # noqa: F401,I001
from edgeledger.cli import data, experiment  # noqa: F401
from edgeledger.cli import deploy, bench, market  # noqa: F401,I001
from edgeledger.cli import oracle  # noqa: F401
from edgeledger.cli import twin  # noqa: F401
from edgeledger.cli import consensus  # noqa: F401
from edgeledger.cli.base import app
from edgeledger.errors import EdgeLedgerError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app, turning our errors into one line and an exit code."""
    try:
        code = app(args=argv, standalone_mode=False)  # a command's typer.Exit(n) comes back as n here
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
    if isinstance(code, int) and code:
        sys.exit(code)


