"""Federated learning: data sets, partitions, models, local training, aggregators, attacks.

Imports are eager on purpose: several registries share their module's name
(``datasets``, ``models``, ``partition``, ``aggregators``, ``attacks``), and only binding them
here, after the submodules load, makes ``edgeledger.fl.models`` the registry every time.
"""

from __future__ import annotations

from edgeledger.fl import cifar as _cifar  # noqa: F401  (registers the cifar10 loader)
from edgeledger.fl import mnist_family as _mnist_family  # noqa: F401  (fashion_mnist, kmnist)
from edgeledger.fl.aggregators import (
    Aggregator,
    FedAvg,
    FedProx,
    Median,
    Pedal,
    ProofOfLearning,
    TrimmedMean,
    aggregators,
    build_aggregator,
)
from edgeledger.fl.attacks import (
    DataAttack,
    ModelAttack,
    SignFlip,
    attacks,
    build_attack,
    build_data_attack,
    data_attacks,
)
from edgeledger.fl.datasets import Dataset, datasets, load_dataset, make_synthetic
from edgeledger.fl.models import build_model, models
from edgeledger.fl.params import get_flat_params, params_from_bytes, params_to_bytes, set_flat_params
from edgeledger.fl.partition import (
    partition,
    partition_dirichlet,
    partition_iid,
    partition_quantity_skew,
    partition_shards,
    partitions,
)
from edgeledger.fl.training import TrainResult, evaluate, train_local

__all__ = [
    # datasets
    "Dataset",
    "datasets",
    "load_dataset",
    "make_synthetic",
    # partition
    "partitions",
    "partition",
    "partition_iid",
    "partition_dirichlet",
    "partition_shards",
    "partition_quantity_skew",
    # models
    "models",
    "build_model",
    # params
    "get_flat_params",
    "set_flat_params",
    "params_to_bytes",
    "params_from_bytes",
    # training
    "TrainResult",
    "train_local",
    "evaluate",
    # aggregators
    "Aggregator",
    "aggregators",
    "build_aggregator",
    "FedAvg",
    "FedProx",
    "Pedal",
    "ProofOfLearning",
    "Median",
    "TrimmedMean",
    # attacks
    "ModelAttack",
    "attacks",
    "build_attack",
    "SignFlip",
    "DataAttack",
    "data_attacks",
    "build_data_attack",
]
