"""A scenario's FL data: the data set, loaded once, and every device's share of it.

One copy of the data set serves every device: a device's partition is a slice of one shared
index array, and the devices' learners train one shared model. ``fl.samples_per_device``
draws each device's samples with replacement (:mod:`edgeledger.fl.sampling`), so populations
larger than the data set train on real data; a split that cannot be satisfied fails before the
run with the numbers.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgeledger.crypto.hashing import derive_seed
from edgeledger.errors import ConfigError
from edgeledger.fl.aggregators import aggregators, build_aggregator
from edgeledger.fl.aggregators.pedal import holdout_split
from edgeledger.fl.datasets import Dataset, load_dataset
from edgeledger.fl.learner import SupervisedLearner, TrainingSettings
from edgeledger.fl.partition import partition
from edgeledger.fl.sampling import sample_partition
from edgeledger.fl.server_eval import needs_validation
from edgeledger.scenario.schema import Scenario

__all__ = ["FLData", "split_data", "aggregator_params"]


def aggregator_params(scenario: Scenario) -> dict[str, object]:
    """The scenario's aggregator parameters; a randomised rule without a ``seed`` gets one
    derived from the scenario seed, so one seed still decides the whole run."""
    params: dict[str, object] = dict(scenario.fl.aggregator_params)
    cls = aggregators.get(scenario.fl.aggregator)
    if "seed" not in params and "seed" in inspect.signature(cls).parameters:
        params["seed"] = derive_seed(scenario.seed, "aggregator")
    return params



class FLData:
    """The data set, its split across devices and the learner factory (loaded once, lazily).

    One copy of the data set serves every device: a device's partition is a slice of one shared
    index array (``part_index[part_offsets[k]:part_offsets[k + 1]]`` for the k-th device), and
    the devices' learners train one shared model (each training loads the global parameters
    first, so sharing it changes no bit)."""

    def __init__(self, scenario: Scenario, devices: Sequence[str]) -> None:
        fl = scenario.fl
        self.offload: Any = None
        self.validation: Dataset | None = None
        if fl.task == "offloading":  # RL agents bring their own environments: no data set to load
            from edgeledger.offload.federated import OffloadFederation

            self.offload = OffloadFederation(scenario)
            self.train = self.test = None
            self.model_seed = self.offload.model_seed
            self.devices, self.part_index, self.part_offsets = devices, np.zeros(0, np.int64), np.zeros(1, np.int64)
            return
        self.train, self.test = load_dataset(fl.dataset, fl.data_root)
        self.devices = devices
        self.part_index, self.part_offsets = split_data(scenario, len(devices), self.train.y)
        if needs_validation(fl.aggregator):  # Pedal / proof-of-learning judge updates on a held-out third
            val, rest = holdout_split(len(self.test), np.random.default_rng(derive_seed(scenario.seed, "holdout")))
            self.validation, self.test = self.test.subset(val), self.test.subset(rest)
        # FedProx: the server rule is FedAvg; its proximal term mu lives in the devices' local training
        proximal_mu = float(getattr(build_aggregator(fl.aggregator, **aggregator_params(scenario)), "proximal_mu", 0.0))
        self.settings = TrainingSettings(model=fl.model, epochs=fl.local_epochs, batch_size=fl.batch_size, lr=fl.lr,
                                         momentum=fl.momentum, proximal_mu=proximal_mu)
        self.model_seed = derive_seed(scenario.seed, "model")
        self._workbench: Any = None  # the torch model every device learner trains

    def indices(self, node_id: str) -> np.ndarray:
        """The data-set indices of ``node_id``'s samples (a view of the shared index array)."""
        k = self.devices.index(node_id)
        return self.part_index[self.part_offsets[k]:self.part_offsets[k + 1]]

    @property
    def parts(self) -> Mapping[str, np.ndarray]:
        """``device id -> its indices`` (computed on access)."""
        return _Parts(self)

    def learner(self, data: Dataset | None, evaluation: Dataset | None, shared: bool = False) -> SupervisedLearner:
        """A learner over ``data``; ``shared`` (devices) trains the one workbench model of this data."""
        model = None
        if shared:
            if self._workbench is None:
                from edgeledger.fl.models import build_model

                self._workbench = build_model(self.settings.model, tuple(self.train.x.shape[1:]),
                                              self.train.n_classes, seed=self.model_seed)
            model = self._workbench
        return SupervisedLearner(self.settings, tuple(self.train.x.shape[1:]), self.train.n_classes, data,
                                 evaluation, self.model_seed, model=model)


def split_data(scenario: Scenario, n_devices: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The devices' data as one CSR pair ``(index, offsets)`` (device k: ``index[offsets[k]:offsets[k+1]]``).

    ``fl.samples_per_device = 0`` splits the data set itself (:mod:`edgeledger.fl.partition`:
    every sample to exactly one device); ``n > 0`` gives each device n samples drawn with
    replacement (:mod:`edgeledger.fl.sampling`). A split that cannot give every device a sample
    fails here, before the run, with the numbers."""
    fl = scenario.fl
    rng = np.random.default_rng(derive_seed(scenario.seed, "partition"))
    params: dict[str, Any] = {"alpha": fl.alpha} if fl.partition in ("dirichlet", "quantity") else {}
    if fl.samples_per_device:
        index, offsets = sample_partition(fl.partition, labels, n_devices, fl.samples_per_device, rng, **params)
        return _compact(index, labels.size), offsets
    need = {"dirichlet": 10, "shards": 2}.get(fl.partition, 1)  # the schemes' minimum per device
    if n_devices * need > labels.size:
        what = {"dirichlet": "at least 10 samples each (the Dirichlet split's minimum)",
                "shards": "2 shards of at least one sample each"}.get(fl.partition, "at least one sample each")
        raise ConfigError(f"fl.partition={fl.partition!r}: {n_devices} devices need {what}, i.e. "
                          f"{n_devices * need} samples, but data set {fl.dataset!r} has {labels.size}; set "
                          f"fl.samples_per_device (samples drawn with replacement per device) or use fewer devices")
    parts = partition(fl.partition, labels, n_devices, rng, **params)
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    index = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return _compact(index, labels.size), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _compact(index: np.ndarray, n: int) -> np.ndarray:
    """4-byte indices when the data set allows (6 million of them are 24 MB, not 48)."""
    return index.astype(np.int32) if n < 2**31 else index.astype(np.int64)


class _Parts(Mapping[str, np.ndarray]):
    def __init__(self, data: FLData) -> None:
        self.data = data

    def __getitem__(self, node_id: str) -> np.ndarray:
        if node_id not in self.data.devices:
            raise KeyError(node_id)
        return self.data.indices(node_id)

    def __iter__(self) -> Any:
        return iter(self.data.devices) if len(self.data.part_offsets) > 1 else iter(())

    def __len__(self) -> int:
        return len(self.data.part_offsets) - 1
