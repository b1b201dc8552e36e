"""Inner-product manipulation (IPM).

Xie, Koyejo and Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
Manipulation", UAI 2019 (PMLR 115, 2020), section 4: Byzantine workers send -epsilon times
the mean of the honest gradients, so that the aggregate's inner product with the true
gradient turns negative while each poisoned vector stays small enough to pass robust rules
(small epsilon against Krum, large against median). The attacker estimates the honest mean
update by its own delta:
    w' = w_global - epsilon * (w_local - w_global).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks, check_models

__all__ = ["Ipm"]


@attacks.register("ipm")
class Ipm(ModelAttack):
    """Return ``global - epsilon * (local - global)``; deterministic (``rng`` unused)."""

    name = "ipm"

    def __init__(self, epsilon: float = 0.5) -> None:
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise ConfigError(f"ipm epsilon must be a finite number > 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, global_params = check_models(self.name, local, global_params)  # (d,), (d,)
        return (global_params - np.float32(self.epsilon) * (local - global_params)).astype(np.float32)
