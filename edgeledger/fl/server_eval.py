"""What a scenario builder injects into aggregators that judge updates on held-out data.

Pedal ranks updates by validation accuracy and Proof-of-learning re-executes claimed
losses; both take the judging function as a constructor argument (``evaluate`` /
``evaluate_loss``) so that the aggregator modules stay free of torch and I/O. This module
builds those arguments from a :class:`~edgeledger.fl.learner.Learner` that evaluates on the
validation data (for Pedal, the held-out third of the test set:
:func:`edgeledger.fl.aggregators.pedal.holdout_split`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from edgeledger.fl.aggregators.base import aggregators
from edgeledger.fl.learner import Learner

__all__ = ["aggregator_injections", "needs_validation", "injected_parameters"]

_HOOKS: dict[str, str] = {"evaluate": "accuracy", "evaluate_loss": "loss"}


def injected_parameters(aggregator: str) -> list[str]:
    """The constructor parameters of ``aggregator`` that the scenario builder supplies (not the user)."""
    return [hook for hook in _HOOKS if hook in inspect.signature(aggregators.get(aggregator)).parameters]


def needs_validation(aggregator: str) -> bool:
    """Whether the aggregator registered as ``aggregator`` takes an injected evaluator."""
    return bool(set(inspect.signature(aggregators.get(aggregator)).parameters) & set(_HOOKS))


def aggregator_injections(aggregator: str, validation: Learner) -> dict[str, Callable[[np.ndarray], float]]:
    """Keyword arguments for ``build_aggregator(aggregator, ...)``: for each evaluator hook
    the aggregator's constructor takes, ``params -> validation.evaluate(params)[metric]``.
    Empty for aggregators that judge nothing (FedAvg, Krum, ...)."""
    parameters = inspect.signature(aggregators.get(aggregator)).parameters
    out: dict[str, Callable[[np.ndarray], float]] = {}
    for hook, metric in _HOOKS.items():
        if hook in parameters:
            out[hook] = _metric(validation, metric)
    return out


def _metric(learner: Learner, metric: str) -> Callable[[np.ndarray], float]:
    def judge(params: np.ndarray) -> float:
        scores: dict[str, Any] = learner.evaluate(params)
        return float(scores[metric])

    judge.__name__ = f"validation_{metric}"
    return judge
