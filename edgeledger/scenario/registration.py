"""One decorator per plug-in kind (docs/design.md rule 4), for the top-level Python API.

Each decorator files its target in the kind's registry under ``name``, so a scenario can say
``fl.aggregator = "my_mean"``, ``kind = "my_attack"``, ``fl.model = "my_net"`` or deploy a
contract by ``"<name>@<version>"``::

    import edgeledger as el

    @el.register_aggregator("coordinate_mean")
    class CoordinateMean(el.Aggregator):
        def aggregate(self, updates, weights):
            return updates.mean(axis=0)

In node processes the module holding the decorators must be listed in the scenario's
``plugins`` so that every process registers the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["register_aggregator", "register_attack", "register_model", "register_contract", "register_consensus"]

T = TypeVar("T")


def register_aggregator(name: str) -> Callable[[T], T]:
    """Register an :class:`~edgeledger.fl.aggregators.Aggregator` subclass as ``fl.aggregator = name``."""
    from edgeledger.fl.aggregators import aggregators

    return aggregators.register(name)  # type: ignore[return-value]


def register_attack(name: str) -> Callable[[T], T]:
    """Register an attack as ``[[attacks]] kind = name``: a ``ModelAttack`` or ``ColludingAttack``
    (rewrites updates) or a ``DataAttack`` (poisons a device's data before round 1), told apart by
    its base class."""
    from edgeledger.errors import RegistryError
    from edgeledger.fl.attacks import ColludingAttack, DataAttack, ModelAttack, attacks, data_attacks

    def decorate(cls: Any) -> Any:
        if isinstance(cls, type) and issubclass(cls, DataAttack):
            return data_attacks.register(name)(cls)
        if isinstance(cls, type) and issubclass(cls, (ModelAttack, ColludingAttack)):
            return attacks.register(name)(cls)
        raise RegistryError(f"attack {name!r}: {cls!r} must subclass ModelAttack, ColludingAttack or DataAttack")

    return decorate


def register_model(name: str) -> Callable[[T], T]:
    """Register a builder ``(input_shape, n_classes) -> torch.nn.Module`` as ``fl.model = name``."""
    from edgeledger.fl.models import models

    return models.register(name)  # type: ignore[return-value]


def register_contract(cls: T) -> T:
    """Register a :class:`~edgeledger.ledger.contracts.Contract` subclass as ``"<name>@<version>"``."""
    from edgeledger.ledger.contracts.runtime import register_contract as register

    return register(cls)  # type: ignore[type-var, no-any-return]


def register_consensus(name: str) -> Callable[[T], T]:
    """Register a :class:`~edgeledger.consensus.Consensus` implementation as ``consensus.protocol = name``."""
    from edgeledger.consensus import consensus_protocols

    return consensus_protocols.register(name)  # type: ignore[return-value]
