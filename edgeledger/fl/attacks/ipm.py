"""Inner-product manipulation (IPM): every colluder sends -epsilon times the benign mean.

Xie, Koyejo and Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
Manipulation", UAI 2019 (PMLR 115, 2020), section 4: all Byzantine workers send
    u = -epsilon * (1 / |benign|) * sum_{benign i} v_i,
the negated, scaled mean of the honest vectors, so that the aggregate's inner product with
the true gradient turns negative while each poisoned vector stays small enough to pass
robust rules (small epsilon against Krum, large against the median).

``ipm`` is that attack in its omniscient, colluding form: once per round, from the round's
benign models (:class:`~edgeledger.fl.attacks.base.RoundView`), on updates relative to the
global model: w' = w_global - epsilon * (mean_benign(w_i) - w_global). Without any benign
update seen, the colluders use the mean of their own honestly trained models.

``ipm_local`` is the weaker form this code base used to call IPM: each malicious client
alone, the benign mean estimated by its own update: w' = w_global - epsilon * (w_local - w_global).
"""

from __future__ import annotations

import math

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ColludingAttack, ModelAttack, RoundView, attacks, check_models

__all__ = ["Ipm", "IpmLocal"]


def _check_epsilon(name: str, epsilon: float) -> float:
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ConfigError(f"{name} epsilon must be a finite number > 0, got {epsilon}")
    return float(epsilon)


@attacks.register("ipm")
class Ipm(ColludingAttack):
    """Omniscient, colluding IPM: ``global - epsilon * (mean(benign) - global)``."""

    name = "ipm"

    def __init__(self, epsilon: float = 0.5) -> None:
        self.epsilon = _check_epsilon("ipm", epsilon)

    def craft(self, view: RoundView, rng: np.random.Generator) -> np.ndarray:
        ref = np.asarray(view.reference, dtype=np.float64)  # (k, d)
        g = np.asarray(view.global_params, dtype=np.float64)  # (d,)
        if ref.ndim != 2 or ref.shape[0] < 1 or ref.shape[1] != g.shape[0]:
            raise ConfigError(f"ipm needs >= 1 reference model of shape (d,) = {g.shape}, got {ref.shape}")
        mean_update = ref.mean(axis=0) - g  # (d,) the benign clients' mean update
        return (g - self.epsilon * mean_update).astype(np.float32)


@attacks.register("ipm_local")
class IpmLocal(ModelAttack):
    """Each client alone: ``global - epsilon * (local - global)``; deterministic (``rng`` unused)."""

    name = "ipm_local"

    def __init__(self, epsilon: float = 0.5) -> None:
        self.epsilon = _check_epsilon("ipm_local", epsilon)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, global_params = check_models(self.name, local, global_params)  # (d,), (d,)
        return (global_params - np.float32(self.epsilon) * (local - global_params)).astype(np.float32)
