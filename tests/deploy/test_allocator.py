"""The allocator tuning every deployed process applies (issue 18's soak): glibc only, can be turned off."""

from __future__ import annotations

import asyncio
import platform

import pytest

from edgeledger.deploy import allocator


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(allocator, "_libc", None)


def test_on_glibc_the_settings_apply_and_trimming_returns_pages_elsewhere_nothing_is_tried():
    if platform.libc_ver()[0] != "glibc":  # musl, macOS: no mallopt/malloc_trim, so nothing is tuned
        assert allocator.tune_allocator() is False and allocator.trim() is False
        return
    assert allocator.tune_allocator() is True
    chunks = [bytearray(60_000) for _ in range(1_000)]  # 60 MB in the heap (under the 128 KiB mmap threshold)
    kept = chunks[::4]  # every fourth stays: the freed runs between them are whole pages in the heap's middle,
    del chunks  # which free() cannot hand back (not at the top) and malloc_trim can
    assert allocator.trim() is True
    assert len(kept) == 250


def test_turned_off_by_the_environment_nothing_is_called(monkeypatch):
    monkeypatch.setenv("EDGELEDGER_MALLOC_TUNING", "0")
    assert allocator.tune_allocator() is False and allocator.trim() is False
    asyncio.run(asyncio.wait_for(allocator.trim_periodically(0.01), 1.0))  # returns at once: no loop to cancel
