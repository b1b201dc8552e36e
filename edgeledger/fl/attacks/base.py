"""The attack plug-in interfaces: model poisoning (alone or colluding) and data poisoning.

A :class:`ModelAttack` rewrites a malicious client's trained model before upload. It is a
pure function of the honest local model, the round's global model and an injected
``numpy.random.Generator`` (for randomised attacks); it does no I/O.

A :class:`ColludingAttack` is the omniscient, colluding adversary of the Byzantine-robust
learning papers (ALIE, IPM): once per round it crafts *one* model that every colluding
client of that round uploads, from a :class:`RoundView` of the round -- the benign clients'
updates, the round's real numbers of clients and of colluders, the global model. Which
clients collude and how the view is gathered is the FL round's business
(:mod:`edgeledger.fl.round.collusion`); the attack only does the arithmetic.

A :class:`DataAttack` rewrites a malicious client's local training set once, before any
training (label flipping, random labels, backdoor triggers); the client then trains and
uploads honestly on the poisoned data. It is registered in :data:`data_attacks`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.datasets import Dataset
from edgeledger.registry import Registry

__all__ = [
    "ModelAttack",
    "ColludingAttack",
    "RoundView",
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


@dataclass(frozen=True)
class RoundView:
    """What the colluding adversary knows of one round when it crafts its update.

    ``benign`` holds the (n_benign, d) models the round's benign participants uploaded (the
    omniscient view); ``own`` the (n_own, d) models the colluders trained honestly on their own
    data (the fall-back estimate when no benign update could be seen). ``n_clients`` is the
    round's participants, ``n_malicious`` the colluders among them: the real counts of this
    round, not configured guesses.
    """

    round: int
    global_params: np.ndarray  # (d,)
    benign: np.ndarray  # (n_benign, d)
    own: np.ndarray  # (n_own, d)
    n_clients: int
    n_malicious: int

    @property
    def reference(self) -> np.ndarray:
        """The models the statistics come from: the benign ones, else the colluders' honest ones."""
        return self.benign if len(self.benign) else self.own


class ColludingAttack(ABC):
    """Craft the one model every colluding client uploads this round; register in :data:`attacks`."""

    name: str = ""

    @abstractmethod
    def craft(self, view: RoundView, rng: np.random.Generator) -> np.ndarray:
        """The (d,) model the colluders upload in ``view.round``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


#: model attacks, each client alone (ModelAttack) or all colluders together (ColludingAttack)
attacks: Registry[type[Union[ModelAttack, ColludingAttack]]] = Registry("attack")


def build_attack(name: str, **params: Any) -> ModelAttack | ColludingAttack:
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
