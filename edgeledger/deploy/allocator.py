"""The C allocator of a process that runs for weeks (issue 18's soak).

A node allocates and frees many short-lived buffers (message batches, encoded blocks, SQLite
pages). glibc's malloc keeps freed memory inside its heaps and arenas, so resident memory
creeps up long after the live data stopped growing. Two standard remedies, applied to every
deployed process on glibc (elsewhere they are skipped):

* ``mallopt``: at most two arenas (``M_ARENA_MAX``; the event loop and its worker threads
  share them instead of each holding a 64 MiB region), and a fixed mmap threshold
  (``M_MMAP_THRESHOLD`` = 128 KiB) so large buffers are mapped and returned to the system
  when freed, instead of the dynamic threshold moving them into the heap after the first free;
* ``malloc_trim(0)`` every ``TRIM_INTERVAL_S`` seconds, which hands free pages in the middle
  of the heaps back to the kernel.

``EDGELEDGER_MALLOC_TUNING=0`` turns both off (to compare, or on an allocator that does not
want it).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os

__all__ = ["tune_allocator", "trim", "trim_periodically", "TRIM_INTERVAL_S"]

log = logging.getLogger("edgeledger.deploy")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
TRIM_INTERVAL_S = 30.0
START_TRIM_S = 5.0
_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and os.environ.get("EDGELEDGER_MALLOC_TUNING", "1") != "0":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim, libc.mallopt  # noqa: B018  (glibc only: musl and macOS have neither)
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def tune_allocator() -> bool:
    """Set the arena count and mmap threshold (before threads start); False where not glibc or turned off."""
    libc = _glibc()
    if libc is None:
        return False
    ok = all(libc.mallopt(option, value) == 1 for option, value in (
        (M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 128 * 1024), (M_TRIM_THRESHOLD, 1024 * 1024)))
    if not ok:
        log.warning("mallopt refused a setting; the allocator keeps its defaults")
    return ok


def trim() -> bool:
    """Return free heap pages to the kernel now; True when glibc released any."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


async def trim_periodically(interval_s: float = TRIM_INTERVAL_S) -> None:
    """Trim every ``interval_s`` seconds until cancelled (a few milliseconds each on a node's heap); the
    first time after ``START_TRIM_S``, when start-up (imports, genesis, the node's set-up) has left its garbage."""
    if _glibc() is None:
        return
    await asyncio.sleep(min(START_TRIM_S, interval_s))
    while True:
        trim()
        await asyncio.sleep(interval_s)
