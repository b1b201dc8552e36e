"""The learner interface the FL round drives: supervised models today, RL agents later.

The round protocol never touches torch: it asks a learner for initial parameters, to train
from global parameters, and to evaluate. A DQN offloading agent plugs in behind the same
three methods (ChainFL's federated DQN), so there is one round protocol for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from edgeledger.fl.datasets import Dataset
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params, set_flat_params
from edgeledger.fl.training import evaluate, train_local

__all__ = ["Learner", "LocalResult", "SupervisedLearner", "TrainingSettings"]


@dataclass(frozen=True)
class LocalResult:
    params: np.ndarray  # (n_params,) float32
    weight: int  # samples (or transitions) behind the update: FedAvg's weight
    loss: float
    claimed_loss: float | None = None  # loss on public validation data (proof-of-learning's claim)


class Learner(ABC):
    @abstractmethod
    def initial_params(self) -> np.ndarray:
        """The round-0 global parameters (deterministic from the learner's seed)."""

    @abstractmethod
    def train(self, global_params: np.ndarray, round_: int, seed: int) -> LocalResult:
        """Train from ``global_params`` on local data; ``seed`` fixes shuffling."""

    @abstractmethod
    def evaluate(self, params: np.ndarray) -> dict[str, float]:
        """Metrics of ``params`` on this learner's evaluation data (e.g. accuracy, loss)."""


@dataclass(frozen=True)
class TrainingSettings:
    model: str
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.0
    proximal_mu: float = 0.0


class SupervisedLearner(Learner):
    """Classification with a registered torch model; one instance per device (or evaluator).

    ``model``: a module to train in place of a fresh one (devices of one simulation share one:
    :meth:`train` and :meth:`evaluate` load their parameters first, so the result is the same
    bit for bit, and 100,000 devices do not hold 100,000 models)."""

    def __init__(
        self,
        settings: TrainingSettings,
        input_shape: tuple[int, ...],
        n_classes: int,
        train_data: Dataset | None,
        test_data: Dataset | None,
        model_seed: int,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.settings = settings
        self.train_data = train_data
        self.test_data = test_data
        self.model = model if model is not None else build_model(settings.model, input_shape, n_classes,
                                                                 seed=model_seed)

    def initial_params(self) -> np.ndarray:
        return get_flat_params(self.model).copy()

    def train(self, global_params: np.ndarray, round_: int, seed: int) -> LocalResult:
        if self.train_data is None or len(self.train_data) == 0:
            return LocalResult(params=global_params.copy(), weight=0, loss=float("nan"))
        set_flat_params(self.model, global_params)
        s = self.settings
        result = train_local(
            self.model,
            self.train_data,
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=seed,
            momentum=s.momentum,
            proximal_mu=s.proximal_mu,
            global_params=global_params if s.proximal_mu else None,
        )
        params = get_flat_params(self.model).copy()
        claimed = self.evaluate(params)["loss"] if self.test_data is not None else None
        return LocalResult(params=params, weight=result.n_samples, loss=float(result.mean_loss), claimed_loss=claimed)

    def evaluate(self, params: np.ndarray) -> dict[str, float]:
        if self.test_data is None:
            return {}
        set_flat_params(self.model, params)
        with torch.no_grad():
            accuracy, loss = evaluate(self.model, self.test_data)
        return {"accuracy": float(accuracy), "loss": float(loss)}
