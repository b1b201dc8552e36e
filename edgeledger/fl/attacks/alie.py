""""A Little Is Enough" (ALIE): shift every coordinate by z standard deviations.

Baruch, Baruch and Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
Learning", NeurIPS 2019, Algorithm 3. With n clients of which m collude, the attackers need
s = floor(n/2 + 1) - m honest clients to sit farther from the mean than the poisoned
value, which gives z_max = Phi^-1((n - s) / n); each attacker then sends mu_j - z sigma_j per
coordinate j, where mu and sigma are the mean and standard deviation of honest updates.

Approximation (documented because a device here sees only its own model): mu is estimated
by the attacker's own delta d = w_local - w_global, and sigma by one scalar, the standard
deviation of d across coordinates. The shift goes against the sign of d per coordinate, so
it opposes the benign direction as in the paper:
    w' = w_global + d - z * std(d) * sign(d).
Pass ``z`` to override z_max.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ModelAttack, attacks, check_models
from edgeledger.fl.plugin_params import require_int

__all__ = ["Alie", "alie_z_max"]


def alie_z_max(n_clients: int, n_malicious: int) -> float:
    """Baruch et al.'s z_max = Phi^-1((n - s) / n) with s = floor(n/2 + 1) - m."""
    if n_clients < 2 or not 0 <= n_malicious < n_clients:
        raise ConfigError(f"alie needs n_clients >= 2 and 0 <= n_malicious < n_clients, "
                          f"got n_clients={n_clients}, n_malicious={n_malicious}")
    s = math.floor(n_clients / 2 + 1) - n_malicious
    if s < 1:
        raise ConfigError(f"alie needs s = floor(n/2 + 1) - m >= 1, got s={s} with n={n_clients}, m={n_malicious} "
                          "(the attackers are already a majority: no z_max)")
    return NormalDist().inv_cdf((n_clients - s) / n_clients)


@attacks.register("alie")
class Alie(ModelAttack):
    """Send ``global + d - z * std(d) * sign(d)``, ``d = local - global``; deterministic."""

    name = "alie"

    def __init__(self, n_clients: int = 10, n_malicious: int = 2, z: float | None = None) -> None:
        if z is not None and not (math.isfinite(z) and z > 0):
            raise ConfigError(f"alie z must be a finite number > 0 or unset, got {z}")
        self.n_clients = require_int("alie n_clients", n_clients, 2)
        self.n_malicious = require_int("alie n_malicious", n_malicious, 0)
        self.z = alie_z_max(self.n_clients, self.n_malicious) if z is None else float(z)

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, global_params = check_models(self.name, local, global_params)  # (d,), (d,)
        delta = (local - global_params).astype(np.float64)  # (d,) estimate of mu
        sigma = float(delta.std())  # scalar estimate of sigma_j
        poisoned = global_params + delta - self.z * sigma * np.sign(delta)  # (d,)
        return poisoned.astype(np.float32)
