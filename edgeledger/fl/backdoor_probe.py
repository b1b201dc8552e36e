"""Measure a backdoor while evaluating: a learner wrapper that adds the attack success rate.

Wraps the evaluating learner of the aggregator (the cloud) so that every round's metrics
carry ``backdoor_asr`` next to accuracy and loss: the share of triggered test samples of
another class that the global model labels with the backdoor's target (see
:func:`edgeledger.fl.attacks.backdoor.attack_success_rate`).
"""

from __future__ import annotations

import numpy as np
import torch

from edgeledger.fl.attacks.backdoor import PixelTrigger, attack_success_rate
from edgeledger.fl.learner import Learner, LocalResult, SupervisedLearner
from edgeledger.fl.params import set_flat_params

__all__ = ["BackdoorProbe"]


class BackdoorProbe(Learner):
    """Delegate to ``inner``; ``evaluate`` also reports ``backdoor_asr`` on ``inner.test_data``."""

    def __init__(self, inner: SupervisedLearner, trigger: PixelTrigger, target: int) -> None:
        self.inner, self.trigger, self.target = inner, trigger, int(target)

    def initial_params(self) -> np.ndarray:
        return self.inner.initial_params()

    def train(self, global_params: np.ndarray, round_: int, seed: int) -> LocalResult:
        return self.inner.train(global_params, round_, seed)

    def evaluate(self, params: np.ndarray) -> dict[str, float]:
        scores = self.inner.evaluate(params)
        test = self.inner.test_data
        if test is None:
            return scores
        model = self.inner.model
        set_flat_params(model, params)
        was_training = model.training
        model.eval()

        def predict(x: np.ndarray) -> np.ndarray:  # (n, *sample) -> (n,) labels
            with torch.no_grad():
                return np.concatenate([model(torch.from_numpy(x[i : i + 1024])).argmax(dim=1).numpy()
                                       for i in range(0, len(x), 1024)])

        asr = attack_success_rate(predict, test, self.trigger, self.target)
        model.train(was_training)
        return {**scores, "backdoor_asr": asr}
