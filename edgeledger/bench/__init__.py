"""``edgeledger bench``: Caliper-style benchmarks of a running chain (the layer above scenario).

A benchmark file names a network and rounds (workload, length, workers, rate controller);
the tool reports Caliper's metrics per round and resources per node as HTML and JSON.
"""

from edgeledger.bench.metrics import RoundMetrics, TxRecord, compute_metrics, percentile
from edgeledger.bench.rate import LoadView, RateController, controllers, schedule
from edgeledger.bench.runner import run_bench
from edgeledger.bench.schema import BenchConfig, load_bench, parse_bench
from edgeledger.bench.workloads import ReadOp, TxOp, Workload, WorkloadContext, workloads

__all__ = ["RoundMetrics", "TxRecord", "compute_metrics", "percentile", "LoadView", "RateController", "controllers",
           "schedule", "run_bench", "BenchConfig", "load_bench", "parse_bench", "ReadOp", "TxOp", "Workload",
           "WorkloadContext", "workloads"]
