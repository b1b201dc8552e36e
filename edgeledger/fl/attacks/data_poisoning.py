"""Untargeted data poisoning: random labels and/or Gaussian noise on the inputs.

The "data poisoning" attack of FBFL's evaluation in its two simple forms: a malicious
device replaces the labels of a fraction of its samples by uniformly random classes (the
random-label setting of Zhang et al., "Understanding Deep Learning Requires Rethinking
Generalization", ICLR 2017, used as an attack e.g. by Fang et al., USENIX Security 2020,
section 5) and/or adds N(0, sigma^2) noise to their inputs.
    mode="labels" | "noise" | "both"; fraction of samples poisoned, chosen by ``rng``.
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import DataAttack, data_attacks
from edgeledger.fl.datasets import Dataset

__all__ = ["DataPoisoning"]

_MODES = ("labels", "noise", "both")


@data_attacks.register("data_poisoning")
class DataPoisoning(DataAttack):
    """Random labels (``labels``), noisy inputs (``noise``) or both on ``fraction`` of the samples."""

    name = "data_poisoning"

    def __init__(self, mode: str = "labels", fraction: float = 1.0, sigma: float = 1.0) -> None:
        if mode not in _MODES:
            raise ConfigError(f"data_poisoning mode must be one of {list(_MODES)}, got {mode!r}")
        if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
            raise ConfigError(f"data_poisoning fraction must lie in (0, 1], got {fraction}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"data_poisoning sigma must be a finite number > 0, got {sigma}")
        self.mode, self.fraction, self.sigma = mode, float(fraction), float(sigma)

    def poison_data(self, data: Dataset, rng: np.random.Generator) -> Dataset:
        n = len(data)
        chosen = rng.choice(n, size=int(round(self.fraction * n)), replace=False)  # (k,)
        x, y = data.x.copy(), data.y.copy()
        if self.mode in ("labels", "both"):
            y[chosen] = rng.integers(0, data.n_classes, size=chosen.shape[0])
        if self.mode in ("noise", "both"):
            noise = rng.standard_normal((chosen.shape[0], *x.shape[1:]))  # (k, *sample)
            x[chosen] += (self.sigma * noise).astype(np.float32)
        return Dataset(x=x, y=y, n_classes=data.n_classes, name=data.name)
