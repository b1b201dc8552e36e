"""Sign-flipping model poisoning with scaling.

The attacker sends w_global - scale * (w_local - w_global): its honest update, reversed
and amplified. Sign flipping as in Li et al., "RSA: Byzantine-Robust Stochastic
Aggregation Methods for Distributed Learning from Heterogeneous Datasets", AAAI 2019;
pushing the global model against its benign direction of change is the goal of Fang et
al., "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning", USENIX
Security 2020 (this is their simplest, knowledge-free form).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks

__all__ = ["SignFlip"]


@attacks.register("sign_flip")
class SignFlip(ModelAttack):
    """Return ``global - scale * (local - global)``; deterministic (``rng`` unused)."""

    name = "sign_flip"

    def __init__(self, scale: float = 4.0) -> None:
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigError(f"sign_flip scale must be a finite number > 0, got {scale}")
        self.scale = float(scale)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local = np.asarray(local, dtype=np.float32)  # (d,)
        global_params = np.asarray(global_params, dtype=np.float32)  # (d,)
        if local.shape != global_params.shape or local.ndim != 1:
            raise ConfigError(
                f"sign_flip needs local and global models of one shape (d,), got {local.shape} "
                f"and {global_params.shape}"
            )
        return (global_params - np.float32(self.scale) * (local - global_params)).astype(np.float32)
