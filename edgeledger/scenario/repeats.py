"""Repeated runs of one setting: derived seeds, mean and standard deviation, error bands.

An experiment that declares ``repeats = N`` runs each setting N times. Run 0 keeps the
setting's own seed (so a single run is what it always was); run ``i > 0`` takes
``derive_seed(seed, "repeat", i)`` reduced to 31 bits, so every stream of the scenario (keys,
data split, client choice, training, losses) changes with it and the runs are independent
draws of the same setting. Figures are reported as mean ± sample standard deviation
(``ddof = 1``; 0 for a single run) with the number of runs beside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgeledger.crypto.hashing import derive_seed
from edgeledger.errors import ConfigError

__all__ = ["repeat_seeds", "mean_std", "format_pm", "curve_band", "plot_band", "MAX_REPEATS"]

MAX_REPEATS = 100


def repeat_seeds(base: int, repeats: int) -> list[int]:
    """The seeds of ``repeats`` runs of a setting whose own seed is ``base`` (run 0 keeps it)."""
    if not 1 <= int(repeats) <= MAX_REPEATS:
        raise ConfigError(f"repeats: got {repeats!r}; expected an integer in [1, {MAX_REPEATS}]")
    return [int(base)] + [derive_seed(int(base), "repeat", i) % 2**31 for i in range(1, int(repeats))]


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, sample standard deviation, n) over the finite values; (None, None, 0) without any."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return None, None, 0
    mean = sum(xs) / len(xs)
    if len(xs) == 1:
        return mean, 0.0, 1
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)), len(xs)


def format_pm(values: Iterable[float | None], digits: int = 4) -> str:
    """``"0.9859 ± 0.0012"`` over the runs (just the value for one run, ``"—"`` for none)."""
    mean, std, n = mean_std(values)
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def curve_band(curves: Sequence[Mapping[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """Per round present in every curve: (rounds, mean, standard deviation) across the curves."""
    if not curves:
        return [], [], []
    common = sorted(set.intersection(*(set(c) for c in curves)))
    rounds, means, stds = [], [], []
    for r in common:
        mean, std, n = mean_std(c[r] for c in curves)
        if n:
            rounds.append(r)
            means.append(float(mean))  # type: ignore[arg-type]
            stds.append(float(std))  # type: ignore[arg-type]
    return rounds, means, stds


def plot_band(ax: Any, curves: Sequence[Mapping[int, float]], label: str, **style: Any) -> None:
    """The mean curve of ``curves`` with a shaded ±1 standard deviation band (none for one run)."""
    rounds, means, stds = curve_band(curves)
    if not rounds:
        return
    n = len(curves)
    (line,) = ax.plot(rounds, means, label=label if n == 1 else f"{label} (n={n})", **style)
    if n > 1:
        lo = [m - s for m, s in zip(means, stds)]
        hi = [m + s for m, s in zip(means, stds)]
        ax.fill_between(rounds, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
