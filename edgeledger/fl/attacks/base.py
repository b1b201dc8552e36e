"""The attack plug-in interfaces: model poisoning and data poisoning.

A :class:`ModelAttack` rewrites a malicious client's trained model before upload. It is a
pure function of the honest local model, the round's global model and an injected
``numpy.random.Generator`` (for randomised attacks); it does no I/O.

A :class:`DataAttack` rewrites a malicious client's local training set once, before any
training (label flipping, random labels, backdoor triggers); the client then trains and
uploads honestly on the poisoned data. It is registered in :data:`data_attacks`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.datasets import Dataset
from edgeledger.registry import Registry

__all__ = [
    "ModelAttack",
    "attacks",
    "build_attack",
    "DataAttack",
    "data_attacks",
    "build_data_attack",
    "check_models",
]


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
    return attacks.build(name, **params)


def check_models(name: str, local: np.ndarray, global_params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both models as float32 (d,) arrays of one shape, else :class:`ConfigError` naming ``name``."""
    local = np.asarray(local, dtype=np.float32)  # (d,)
    global_params = np.asarray(global_params, dtype=np.float32)  # (d,)
    if local.shape != global_params.shape or local.ndim != 1:
        raise ConfigError(
            f"{name} needs local and global models of one shape (d,), got {local.shape} "
            f"and {global_params.shape}"
        )
    return local, global_params


class DataAttack(ABC):
    """Turn a client's honest training set into a poisoned one; register in :data:`data_attacks`."""

    name: str = ""

    @abstractmethod
    def poison_data(self, data: Dataset, rng: np.random.Generator) -> Dataset:
        """The poisoned copy of ``data`` (same length, shape and classes); ``data`` is not changed."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


data_attacks: Registry[type[DataAttack]] = Registry("data attack")


def build_data_attack(name: str, **params: Any) -> DataAttack:
    """Instantiate the data attack registered as ``name`` with keyword ``params``."""
    return data_attacks.build(name, **params)
