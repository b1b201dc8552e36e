"""The files a trusted dealer writes: a public plan every process reads, private files only one may.

A plan is pretty-printed JSON of a frozen ``msgspec.Struct`` (readable, diffable); a private
file (a key share, a seed) is written with mode 0600 into its owner's data directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import msgspec

from edgeledger.errors import ConfigError

__all__ = ["write_plan", "read_plan", "write_private", "private_seed", "private_store"]

P = TypeVar("P", bound=msgspec.Struct)


def write_plan(path: Path, plan: msgspec.Struct) -> None:
    """Write ``plan`` as pretty JSON (every process of the network reads it)."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(plan)))


def read_plan(path: Path, kind: type[P], what: str) -> P:
    """The ``kind`` plan at ``path``; a :class:`ConfigError` naming ``what`` and the file when it cannot be read."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {exc}") from None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only (mode 0600), making the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)


def private_seed(path: Path) -> bytes:
    """32 random bytes kept at ``path``: made once (mode 0600), then read back on every start."""
    if not path.exists():
        write_private(path, os.urandom(32))
    return path.read_bytes()


def private_store(path: Path) -> Path:
    """``path`` for a SQLite store that holds secrets (a key generation's shares): made, or narrowed,
    to mode 0600 before the store opens it (SQLite gives its -wal and -shm files the same mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    return path
