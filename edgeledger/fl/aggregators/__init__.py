"""Aggregation rules for FL: one module per paper, all registered in :data:`aggregators`."""

from edgeledger.fl.aggregators.base import Aggregator, aggregators, build_aggregator, check_updates
from edgeledger.fl.aggregators.bulyan import Bulyan
from edgeledger.fl.aggregators.fedavg import FedAvg
from edgeledger.fl.aggregators.fedprox import FedProx
from edgeledger.fl.aggregators.krum import Krum, MultiKrum
from edgeledger.fl.aggregators.median import Median
from edgeledger.fl.aggregators.norm_bounded import NormBounded
from edgeledger.fl.aggregators.pedal import Pedal
from edgeledger.fl.aggregators.proof_of_learning import ProofOfLearning
from edgeledger.fl.aggregators.random_select import RandomSelect
from edgeledger.fl.aggregators.trimmed_mean import TrimmedMean

__all__ = [
    "Aggregator",
    "aggregators",
    "build_aggregator",
    "check_updates",
    "FedAvg",
    "Median",
    "TrimmedMean",
    "Krum",
    "MultiKrum",
    "Bulyan",
    "NormBounded",
    "RandomSelect",
    "FedProx",
    "Pedal",
    "ProofOfLearning",
]
