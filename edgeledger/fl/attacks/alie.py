""""A Little Is Enough" (ALIE): every colluder sends the benign mean shifted by z standard deviations.

Baruch, Baruch and Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
Learning", NeurIPS 2019, section 4 (Algorithm 3). With n clients of which m collude, the
attackers need s = floor(n/2 + 1) - m benign "supporters" farther from the mean than the
crafted value, which gives
    z_max = max_z ( Phi(z) < (n - s) / n ),  i.e.  z_max = Phi^-1((n - s) / n);
all m colluders then send the same vector, coordinate by coordinate
    p_j = mu_j - z_max * sigma_j,
mu_j and sigma_j being the mean and standard deviation of the benign updates of the round.

``alie`` is that attack in its omniscient, colluding form: one crafted model per round from
the round's benign models (:class:`~edgeledger.fl.attacks.base.RoundView`), with n and m the
round's participants and the colluders among them. (Applied to models rather than gradients
the sign is a convention: the shift is a fixed z sigma_j per coordinate against the mean.)
``estimate="colluders"`` is the paper's own non-omniscient estimate: mu and sigma over the m
colluders' honestly trained models; the omniscient form falls back to it in a round where the
colluders saw no benign update.

``alie_local`` is the weaker form this code base used to call ALIE: each malicious client
alone, mu estimated by its own update d = w_local - w_global, sigma by one scalar std(d),
n and m fixed parameters:  w' = w_global + d - z * std(d) * sign(d).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import ColludingAttack, ModelAttack, RoundView, attacks, check_models
from edgeledger.fl.plugin_params import require_int

__all__ = ["Alie", "AlieLocal", "alie_z_max"]


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


def _check_z(z: float | None) -> float | None:
    if z is not None and not (math.isfinite(z) and z > 0):
        raise ConfigError(f"alie z must be a finite number > 0 or unset, got {z}")
    return None if z is None else float(z)


@attacks.register("alie")
class Alie(ColludingAttack):
    """Omniscient, colluding ALIE: ``mean - z * std`` of the round's benign models, per coordinate.

    ``z`` overrides z_max; unset, z_max comes from the round's real n and m. A round in which
    the colluders are already a majority (s < 1) has no z_max: then s = 1 is used, the
    largest shift the formula allows.
    """

    name = "alie"

    def __init__(self, z: float | None = None, estimate: str = "benign") -> None:
        if estimate not in ("benign", "colluders"):
            raise ConfigError(f"alie estimate must be 'benign' (omniscient) or 'colluders' (their own honest models), "
                              f"got {estimate!r}")
        self.z = _check_z(z)
        self.estimate = estimate

    def z_for(self, n_clients: int, n_malicious: int) -> float:
        """The z of a round with ``n_clients`` participants of which ``n_malicious`` collude."""
        if self.z is not None:
            return self.z
        n = max(n_clients, 2)
        m = min(max(n_malicious, 0), math.floor(n / 2 + 1) - 1)  # s = floor(n/2 + 1) - m >= 1
        return alie_z_max(n, m)

    def craft(self, view: RoundView, rng: np.random.Generator) -> np.ndarray:
        ref = np.asarray(view.own if self.estimate == "colluders" and len(view.own) else view.reference,
                         dtype=np.float64)  # (k, d)
        if ref.ndim != 2 or ref.shape[0] < 1 or ref.shape[1] != view.global_params.shape[0]:
            raise ConfigError(f"alie needs >= 1 reference model of shape (d,) = {view.global_params.shape}, "
                              f"got {ref.shape}")
        mu = ref.mean(axis=0)  # (d,)
        sigma = ref.std(axis=0)  # (d,) population std, as the paper's sigma_j
        return (mu - self.z_for(view.n_clients, view.n_malicious) * sigma).astype(np.float32)


@attacks.register("alie_local")
class AlieLocal(ModelAttack):
    """Each client alone: ``global + d - z * std(d) * sign(d)``, ``d = local - global``; deterministic."""

    name = "alie_local"

    def __init__(self, n_clients: int = 10, n_malicious: int = 2, z: float | None = None) -> None:
        z = _check_z(z)
        self.n_clients = require_int("alie_local n_clients", n_clients, 2)
        self.n_malicious = require_int("alie_local n_malicious", n_malicious, 0)
        self.z = alie_z_max(self.n_clients, self.n_malicious) if z is None else z

    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local, global_params = check_models(self.name, local, global_params)  # (d,), (d,)
        delta = (local - global_params).astype(np.float64)  # (d,) estimate of mu
        sigma = float(delta.std())  # scalar estimate of sigma_j
        poisoned = global_params + delta - self.z * sigma * np.sign(delta)  # (d,)
        return poisoned.astype(np.float32)
