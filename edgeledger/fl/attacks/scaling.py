"""Explicit boosting (model replacement by scaling the update).

Bhagoji, Chakraborty, Mittal and Calo, "Analyzing Federated Learning through an Adversarial
Lens", ICML 2019, section 3.2 ("explicit boosting"): the attacker scales its update by a
boosting factor (about the number of clients) so that it survives averaging:
    w' = w_global + factor * (w_local - w_global).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks, check_models

__all__ = ["Scaling"]


@attacks.register("scaling")
class Scaling(ModelAttack):
    """Return ``global + factor * (local - global)``; deterministic (``rng`` unused)."""

    name = "scaling"

    def __init__(self, factor: float = 10.0) -> None:
        if not math.isfinite(factor) or factor <= 0:
            raise ConfigError(f"scaling factor (the boosting factor) must be a finite number > 0, got {factor}")
        self.factor = float(factor)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, global_params = check_models(self.name, local, global_params)  # (d,), (d,)
        return (global_params + np.float32(self.factor) * (local - global_params)).astype(np.float32)
