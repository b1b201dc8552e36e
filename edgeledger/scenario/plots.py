"""The plots of a run: accuracy and loss per round, traffic by node role and message type.

Drawn by :mod:`edgeledger.scenario.figures` at paper size; ``output.formats`` adds vector
files (``svg``, ``pdf``) beside the PNGs.
"""

from __future__ import annotations

from pathlib import Path

from edgeledger.scenario.figures import run_figures
from edgeledger.scenario.runner import RunResult

__all__ = ["write_plots"]


def write_plots(result: RunResult, out: Path) -> list[Path]:
    """``out/accuracy.<fmt>`` and ``out/traffic.<fmt>`` for every format of ``output.formats``."""
    return run_figures(result, out, result.scenario.output.formats)
