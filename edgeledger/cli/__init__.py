"""The ``edgeledger`` command line (typer + rich), one module per command group.

Exit codes: 0 success, 1 a run failed, 2 bad input (scenario, option, file). Errors print
one line ``ErrorType: message`` on stderr, never a traceback; ``--debug`` (anywhere on the
command line) or ``EDGELEDGER_DEBUG=1`` shows the traceback as well.
"""

from __future__ import annotations

import os
import sys
import traceback

# importing a group registers its commands; this order is the order of `edgeledger --help`
from edgeledger.cli import simulate  # noqa: F401,I001
from edgeledger.cli import data, experiment  # noqa: F401
from edgeledger.cli import deploy, bench, market  # noqa: F401,I001
from edgeledger.cli import oracle  # noqa: F401
from edgeledger.cli import twin  # noqa: F401
from edgeledger.cli import consensus  # noqa: F401
from edgeledger.cli.base import app
from edgeledger.cli.errors import report

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app; every error becomes one line and an exit code (``sys.exit``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGELEDGER_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, standalone_mode=False, prog_name="edgeledger")
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place that turns failures into a line
        if debug:
            traceback.print_exc()
        sys.exit(report(exc))
    if isinstance(code, int) and code:  # a command's typer.Exit(n); success returns normally
        sys.exit(code)
