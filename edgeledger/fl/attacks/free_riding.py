"""Free-riding: upload no real work, either random parameters or the stale global model.

The "random results" malicious nodes of Pedal (SewingChain), which upload random parameters
instead of trained ones; the stale variant is the plain free-rider of Lin, Du and Liu,
"Free-riders in Federated Learning: Attacks and Defenses", 2019 (arXiv:1911.12560), who
returns the received global model unchanged.
    mode="random": w' ~ N(0, sigma^2 I), sigma = std(w_global) unless given;
    mode="stale":  w' = w_global.
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks, check_models

__all__ = ["FreeRiding"]

_MODES = ("random", "stale")


@attacks.register("free_riding")
class FreeRiding(ModelAttack):
    """Ignore the local model: random Gaussian parameters (``mode="random"``) or the global model."""

    name = "free_riding"

    def __init__(self, mode: str = "random", sigma: float | None = None) -> None:
        if mode not in _MODES:
            raise ConfigError(f"free_riding mode must be one of {list(_MODES)}, got {mode!r}")
        if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"free_riding sigma must be a finite number > 0 or unset, got {sigma}")
        self.mode = mode
        self.sigma = None if sigma is None else float(sigma)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _, global_params = check_models(self.name, local, global_params)  # (d,)
        if self.mode == "stale":
            return global_params.copy()
        sigma = self.sigma if self.sigma is not None else float(global_params.std()) or 1.0
        return np.asarray(sigma * rng.standard_normal(global_params.shape[0]), dtype=np.float32)
