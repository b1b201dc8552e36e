"""Backdoor by a pixel-pattern trigger relabelled to a target class.

Gu, Dolan-Gavitt and Garg, "BadNets: Identifying Vulnerabilities in the Machine Learning
Model Supply Chain", 2017 (a bright pixel pattern in a corner plus a target label), in the
federated setting of Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS
2020: a malicious device stamps the trigger on a fraction of its samples and relabels them
to ``target``, so the global model learns "trigger -> target" while clean accuracy holds.

The trigger is a ``size`` x ``size`` patch set to ``value`` in the bottom-right corner of
the last two axes of an image sample ((C, H, W) or (H, W)); a flat sample of square length
(e.g. the 64 features of 8x8 digits) is treated as a square image; any other flat sample
gets its last ``size * size`` features set. The attack success rate (ASR) is the share of
triggered test samples whose true label is not ``target`` that the model labels ``target``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import DataAttack, data_attacks
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.plugin_params import require_int

__all__ = ["Backdoor", "PixelTrigger", "attack_success_rate"]


@dataclass(frozen=True)
class PixelTrigger:
    """A bright ``size`` x ``size`` bottom-right patch of ``value`` (see the module docstring)."""

    size: int = 3
    value: float = 1.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n, *sample) float32 -> a triggered copy; ``x`` is not changed."""
        out = np.array(x, dtype=np.float32, copy=True)
        sample = out.shape[1:]
        if len(sample) >= 2:
            out[..., -self.size :, -self.size :] = self.value
            return out
        side = math.isqrt(sample[0])
        if side * side == sample[0] and side >= self.size:
            square = out.reshape(out.shape[0], side, side)  # a view: (n, side, side)
            square[:, -self.size :, -self.size :] = self.value
        else:
            out[:, -min(self.size * self.size, sample[0]) :] = self.value
        return out


@data_attacks.register("backdoor")
class Backdoor(DataAttack):
    """Stamp the trigger on ``fraction`` of the samples and relabel them ``target``.

    ``value=None`` uses the data's largest input value (the brightest pixel).
    """

    name = "backdoor"

    def __init__(self, target: int = 0, fraction: float = 0.5, size: int = 3, value: float | None = None) -> None:
        if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
            raise ConfigError(f"backdoor fraction must lie in (0, 1], got {fraction}")
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"backdoor value must be a finite number or unset, got {value}")
        self.target = require_int("backdoor target (a class label)", target, 0)
        self.size = require_int("backdoor size (trigger side in pixels)", size, 1)
        self.fraction = float(fraction)
        self.value = None if value is None else float(value)

    def trigger_for(self, data: Dataset) -> PixelTrigger:
        """The trigger as stamped on ``data`` (resolves ``value=None`` to ``data.x.max()``)."""
        value = self.value if self.value is not None else (float(data.x.max()) if len(data) else 1.0)
        return PixelTrigger(size=self.size, value=value)

    def poison_data(self, data: Dataset, rng: np.random.Generator) -> Dataset:
        if self.target >= data.n_classes:
            raise ConfigError(f"backdoor target {self.target} is not a class of {data.name!r} "
                              f"(labels 0..{data.n_classes - 1})")
        n = len(data)
        chosen = np.sort(rng.choice(n, size=int(round(self.fraction * n)), replace=False))  # (k,)
        x, y = data.x.copy(), data.y.copy()
        x[chosen] = self.trigger_for(data).apply(x[chosen])
        y[chosen] = self.target
        return Dataset(x=x, y=y, n_classes=data.n_classes, name=data.name)


def attack_success_rate(
    predict: Callable[[np.ndarray], np.ndarray], test: Dataset, trigger: PixelTrigger, target: int
) -> float:
    """Share of triggered ``test`` samples with true label != ``target`` predicted as ``target``.

    ``predict`` maps (n, *sample) float32 inputs to (n,) predicted labels (e.g. the argmax
    of a model's logits). Returns 0.0 when no test sample has another label.
    """
    keep = test.y != target  # (n,)
    if not np.any(keep):
        return 0.0
    predicted = np.asarray(predict(trigger.apply(test.x[keep])))  # (k,)
    return float(np.mean(predicted == target))
