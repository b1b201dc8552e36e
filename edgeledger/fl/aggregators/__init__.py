"""Aggregation rules for FL: one module per paper, all registered in :data:`aggregators`."""

from edgeledger.fl.aggregators.base import Aggregator, aggregators, build_aggregator, check_updates
from edgeledger.fl.aggregators.fedavg import FedAvg
from edgeledger.fl.aggregators.median import Median
from edgeledger.fl.aggregators.trimmed_mean import TrimmedMean

__all__ = [
    "Aggregator",
    "aggregators",
    "build_aggregator",
    "check_updates",
    "FedAvg",
    "Median",
    "TrimmedMean",
]
