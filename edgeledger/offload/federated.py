"""A scenario's federated offloading task: the learners of its devices and of the cloud.

Used by :mod:`edgeledger.scenario.assembly` when ``fl.task = "offloading"``: every device
gets a :class:`~edgeledger.offload.learner.DqnLearner` with its own stream (derived from the
scenario seed and its id), the cloud an evaluating one; all start from one global network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeledger.crypto.hashing import derive_seed
from edgeledger.errors import ConfigError
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.learner import DqnLearner

__all__ = ["TUNED_AGENT", "OffloadFederation"]

#: Scenario overrides of the tuned federated agent (``benchmarks/offloading.py`` and
#: ``experiments/offloading/run.py --agent tuned``), beyond docs/offloading.md's defaults, which stay
#: the config defaults: each action's immediate cost and the lookahead summary of the devices
#: still to decide in the state (TDMA and processor sharing make a device's best action depend
#: on them); gamma = 1, because a slot's undiscounted return is exactly ``-sum_i Q_i`` in the
#: sequential formulation (with 0.9 an early device under-weights the contention it causes
#: later ones); a [256, 128] network; double DQN; a training step every 2 decisions.
TUNED_AGENT = [
    "offload.marginal_features=true",
    ("offload.env.dqn={train_every_steps=2, double=true, gamma=1.0, lookahead_features=true, "
     "hidden_layers=[256, 128]}"),
]


class OffloadFederation:
    """Builds the offloading learners of one scenario (``scenario.offload`` and its seed).

    With ``offload.environment = "network"`` each edge server and its devices are one MEC cell
    of the scenario's own network (``n_devices`` = devices per edge, ``n_edges`` = 1; the cells
    share the cloud) and the learners act on the network
    (:class:`~edgeledger.offload.traffic.learner.NetworkDqnLearner`)."""

    def __init__(self, scenario: Any) -> None:
        task = scenario.offload
        self.task = task
        self.network = task.environment == "network"
        cell = {"n_devices": scenario.topology.devices_per_edge, "n_edges": 1} if self.network else {}
        self.config = OffloadConfig.from_mapping(task.env, **cell)
        self.seed = scenario.seed
        self.model_seed = derive_seed(scenario.seed, "offload-model")
        self.initial = None if task.init_params is None else _load_params(task.init_params)

    def _learner(self, seed: int) -> DqnLearner:
        t = self.task
        return DqnLearner(self.config, seed=seed, model_seed=self.model_seed, local_slots=t.local_slots,
                          eval_slots=t.eval_slots, eval_seed=t.eval_seed, marginal_features=t.marginal_features,
                          initial=self.initial)

    def _network_learner(self, seed: int) -> Any:
        from edgeledger.offload.traffic.learner import NetworkDqnLearner

        t = self.task
        return NetworkDqnLearner(self.config, seed=seed, model_seed=self.model_seed, eval_slots=t.eval_slots,
                                 eval_seed=t.eval_seed, initial=self.initial)

    def device_learner(self, node_id: str) -> Any:
        """The agent of ``node_id``: its own environment (or the network), replay buffer and target network."""
        seed = derive_seed(self.seed, node_id, "offload")
        return self._network_learner(seed) if self.network else self._learner(seed)

    def cloud_learner(self) -> Any:
        """The cloud's evaluator (never trains)."""
        return self._network_learner(self.model_seed) if self.network else self._learner(self.model_seed)

    def compute_s(self, transitions: int) -> float:
        """Modelled device time of a round's local training (on the network: its ``local_slots`` slots)."""
        if self.network:
            return self.task.local_slots * self.config.slot_s
        return self.task.compute_s_per_transition * transitions

    def stream_seed(self, node_id: str) -> int:
        """The seed of ``node_id``'s own task and channel stream on the network."""
        return derive_seed(self.seed, node_id, "offload-stream")


def _load_params(path: str) -> np.ndarray:
    """The ``params`` vector of an ``.npz`` checkpoint (``offload.init_params``)."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return np.asarray(data["params"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"offload.init_params={path!r}: {exc}; expected an .npz with a 'params' array") from None
