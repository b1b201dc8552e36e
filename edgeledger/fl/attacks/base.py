"""The model-poisoning attack plug-in interface.

An attack rewrites a malicious client's trained model before upload. It is a pure
function of the honest local model, the round's global model and an injected
``numpy.random.Generator`` (for randomised attacks); it does no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgeledger.fl.plugin_params import bind_params
from edgeledger.registry import Registry

__all__ = ["ModelAttack", "attacks", "build_attack"]


class ModelAttack(ABC):
    """Turn an honest local model into a poisoned one; register subclasses in :data:`attacks`."""

    name: str = ""

    @abstractmethod
    def poison(self, local: np.ndarray, global_params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n_params,) honest local model and (n_params,) global model -> (n_params,) poisoned model."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


attacks: Registry[type[ModelAttack]] = Registry("attack")


def build_attack(name: str, **params: Any) -> ModelAttack:
    """Instantiate the attack registered as ``name`` with keyword ``params``."""
    cls = attacks.get(name)
    bind_params(cls, f"attack {name!r}", params)
    return cls(**params)
