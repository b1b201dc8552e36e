"""The type checker and the linter pass on the code base (configured in pyproject.toml; see
docs/style.md "Static checks"): mypy, strict on the protocol cores, and ruff."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_mypy_finds_no_type_errors() -> None:
    # no cache: a cold run takes ~20 s of CPU, and a cache shared between runs could hide a stale result
    proc = _run("mypy", "--cache-dir", os.devnull, timeout=600)
    assert proc.returncode == 0, f"mypy failed (rc {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    assert "Success: no issues found" in proc.stdout


def test_ruff_finds_no_lint() -> None:
    proc = _run("ruff", "check", "--no-cache", timeout=120)
    assert proc.returncode == 0, f"ruff failed (rc {proc.returncode}):\n{proc.stdout}{proc.stderr}"
