"""FedProx: FedAvg on the server, a proximal term on the clients.

Li, Sahu, Zaheer, Sanjabi, Talwalkar and Smith, "Federated Optimization in Heterogeneous
Networks", MLSys 2020, Algorithm 2. Each client minimises
    h_k(w; w^t) = F_k(w) + mu/2 * ||w - w^t||^2
from the global model w^t, and the server averages the returned models like FedAvg
(sample-weighted here, as in our FedAvg). The server rule therefore *is* FedAvg; what this
plug-in adds is ``mu``, which it exposes as :attr:`FedProx.proximal_mu` for the scenario
builder to copy into the devices' :class:`~edgeledger.fl.learner.TrainingSettings`
(``train_local(proximal_mu=...)`` applies the term). ``mu = 0`` is exactly FedAvg.
"""

from __future__ import annotations

import math

from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators.base import aggregators
from edgeledger.fl.aggregators.fedavg import FedAvg

__all__ = ["FedProx"]


@aggregators.register("fedprox")
class FedProx(FedAvg):
    """Sample-weighted mean of client models; carries the clients' proximal ``mu`` (>= 0)."""

    name = "fedprox"

    def __init__(self, mu: float = 0.01) -> None:
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu) or mu < 0:
            raise ConfigError(f"fedprox mu (proximal coefficient) must be a finite number >= 0, got {mu!r}")
        self.mu = float(mu)

    @property
    def proximal_mu(self) -> float:
        """The ``proximal_mu`` every client must train with (read by the scenario builder)."""
        return self.mu
