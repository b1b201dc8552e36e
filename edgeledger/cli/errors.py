"""Turn any failure of a command into one line ``ErrorType: message`` and an exit code.

A person who mistypes a command line should read what to change, not a traceback:
usage mistakes (no command, an unknown option, a value of the wrong type), file-system
mistakes (a folder given for a file, a file that is not UTF-8, a path that cannot be
written) and our own :class:`~edgeledger.errors.EdgeLedgerError`\\ s all print one line on
stderr and exit 2 (1 for a run that failed). Anything else is a bug: one line saying so,
exit 1, and ``--debug`` (or ``EDGELEDGER_DEBUG=1``) shows the traceback.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

from edgeledger.errors import EdgeLedgerError

__all__ = ["describe", "click_exception_types", "EXIT_USAGE", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXTRAS"]

#: third-party module -> the extra that installs it (``pip install edgeledger`` is a chain node only)
EXTRAS = {"torch": "fl", "sklearn": "fl", "gymnasium": "offload", "matplotlib": "plots", "ray": "ray",
          "pandas": "analysis"}

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def click_exception_types() -> tuple[type[BaseException], ...]:
    """Click's exception base classes: the real package's and the copy newer typer vendors."""
    found: list[type[BaseException]] = []
    try:
        import click

        found.append(click.ClickException)
    except ImportError:  # pragma: no cover - typer depends on one of the two
        pass
    try:
        from typer._click import exceptions as vendored  # typer >= 0.20 ships its own click

        found.append(vendored.ClickException)
    except ImportError:
        pass
    return tuple(found)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage(exc: Any) -> str:
    """A click usage error as one line that names the fix."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "edgeledger"
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group called without its sub-command
        names = ctx.command.list_commands(ctx) if ctx is not None and hasattr(ctx.command, "list_commands") else []
        return (f"UsageError: {path} needs a command; expected one of: {', '.join(names)} "
                f"(`{path} --help` describes each{'; start with `edgeledger demo`' if path == 'edgeledger' else ''})")
    message = _one_line(exc.format_message())
    kind = type(exc).__name__
    if kind == "ClickException":
        kind = "UsageError"
    return f"{kind}: {message} (see `{path} --help`)"


def _os_error(exc: OSError) -> tuple[str, int]:
    name = exc.filename if exc.filename is not None else "a path"
    target = f"{str(name)!r}"
    if isinstance(exc, IsADirectoryError):
        return f"IsADirectoryError: {target} is a folder; expected a file", EXIT_USAGE
    if isinstance(exc, NotADirectoryError):
        return f"NotADirectoryError: {target} goes through a file; expected a folder there", EXIT_USAGE
    if isinstance(exc, FileNotFoundError):
        return f"FileNotFoundError: {target} does not exist; check the path", EXIT_USAGE
    if isinstance(exc, FileExistsError):
        return f"FileExistsError: {target} already exists; choose another path", EXIT_USAGE
    if isinstance(exc, PermissionError):
        return (f"PermissionError: {target}: permission denied; choose a path you may read and write "
                "(e.g. a folder under your home)"), EXIT_USAGE
    if exc.errno in (errno.ENOSPC, errno.EROFS):
        return f"{type(exc).__name__}: {target}: {exc.strerror}; choose another folder", EXIT_USAGE
    if exc.errno == errno.EADDRINUSE:
        return f"OSError: {exc.strerror}; choose another --listen port", EXIT_USAGE
    return f"{type(exc).__name__}: {_one_line(str(exc))}", EXIT_FAILED


def describe(exc: BaseException) -> tuple[str, int]:
    """``(one line, exit code)`` for any exception a command may raise."""
    if isinstance(exc, EdgeLedgerError):
        return f"{type(exc).__name__}: {_one_line(str(exc))}", exc.exit_code
    if type(exc).__name__ == "Abort":  # click's Abort is no ClickException (Ctrl-C at a prompt)
        return "Aborted", EXIT_INTERRUPTED
    if isinstance(exc, click_exception_types()):
        code = getattr(exc, "exit_code", EXIT_USAGE)
        return _usage(exc), code if code not in (0, 1) else EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted", EXIT_INTERRUPTED
    extra = EXTRAS.get((getattr(exc, "name", None) or "").split(".")[0]) if isinstance(exc, ImportError) else None
    if extra is not None:  # a command that needs an optional extra
        return (f"MissingExtra: this command needs {exc.name}, which the base install leaves out: "  # type: ignore[attr-defined]
                f"pip install 'edgeledger[{extra}]'"), EXIT_USAGE
    if isinstance(exc, UnicodeDecodeError):
        return (f"UnicodeDecodeError: a file is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "expected a UTF-8 text file"), EXIT_USAGE
    if isinstance(exc, OSError):
        return _os_error(exc)
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno}"
    return (f"InternalError: {type(exc).__name__}: {_one_line(str(exc)) or 'no message'}{where}; this is a bug "
            "in edgeledger: run again with --debug for the traceback and report it"), EXIT_FAILED


def report(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; returns the exit code."""
    line, code = describe(exc)
    print(line, file=sys.stderr)
    return code
