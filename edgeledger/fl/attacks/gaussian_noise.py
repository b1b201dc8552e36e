"""Gaussian-noise model poisoning: upload the honest model plus isotropic Gaussian noise.

The "Gaussian" Byzantine behaviour of Blanchard et al., "Machine Learning with Adversaries:
Byzantine Tolerant Gradient Descent", NeurIPS 2017, section 5 (workers sending vectors drawn
from a Gaussian), in the model-poisoning form FL studies use (e.g. Fang et al., USENIX
Security 2020): w' = w_local + N(0, sigma^2 I).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks, check_models

__all__ = ["GaussianNoise"]


@attacks.register("gaussian_noise")
class GaussianNoise(ModelAttack):
    """Return ``local + sigma * N(0, I)`` drawn from the injected ``rng``."""

    name = "gaussian_noise"

    def __init__(self, sigma: float = 1.0) -> None:
        if not math.isfinite(sigma) or sigma <= 0:
            raise ConfigError(f"gaussian_noise sigma must be a finite number > 0, got {sigma}")
        self.sigma = float(sigma)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, _ = check_models(self.name, local, global_params)  # (d,)
        noise = rng.standard_normal(local.shape[0])  # (d,)
        return (local + self.sigma * noise).astype(np.float32)
