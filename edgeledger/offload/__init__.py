"""MEC task offloading (docs/offloading.md): the three-tier environment, its cost model,
Gymnasium wrappers, the policy plug-ins with baselines and the exact optimum, and an
evaluation harness, and the federated DQN learner (:class:`DqnLearner`, the FL round's
learner interface; scenarios use it with ``fl.task = "offloading"``). The Gymnasium wrappers live in :mod:`edgeledger.offload.gym` and the
policy registry is ``edgeledger.offload.policies.policies`` (the package keeps its name).
"""

from edgeledger.offload.config import DqnConfig, OffloadConfig
from edgeledger.offload.cost import CostBreakdown, SlotModel
from edgeledger.offload.env import OffloadEnv, SlotCounts, SlotOutcome, SlotState
from edgeledger.offload.evaluate import PolicyReport, SlotReport, evaluate_policies, evaluate_policy
from edgeledger.offload.learner import DqnLearner
from edgeledger.offload.policies import OffloadPolicy, make_policy
from edgeledger.offload.tasks import TaskBatch, TraceWorkload, read_trace

__all__ = [
    "OffloadConfig",
    "DqnConfig",
    "OffloadEnv",
    "SlotState",
    "SlotOutcome",
    "SlotCounts",
    "SlotModel",
    "CostBreakdown",
    "TaskBatch",
    "TraceWorkload",
    "read_trace",
    "OffloadPolicy",
    "make_policy",
    "evaluate_policies",
    "evaluate_policy",
    "PolicyReport",
    "SlotReport",
    "DqnLearner",
]
