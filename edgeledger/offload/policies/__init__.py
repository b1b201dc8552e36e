"""Offloading policies: the :class:`OffloadPolicy` interface, the ``policies`` registry and
the built-in baselines, the exact optimum and the DQN (importing this package registers them all)."""

from edgeledger.offload.policies.all_cloud import AllCloud
from edgeledger.offload.policies.all_edge import AllEdge
from edgeledger.offload.policies.all_local import AllLocal
from edgeledger.offload.policies.base import OffloadPolicy, make_policy, policies
from edgeledger.offload.policies.coordinate_descent import CoordinateDescent
from edgeledger.offload.policies.dqn import DqnPolicy
from edgeledger.offload.policies.greedy import SequentialGreedy
from edgeledger.offload.policies.optimum import ExactOptimum
from edgeledger.offload.policies.uniform_random import UniformRandom

__all__ = [
    "OffloadPolicy",
    "policies",
    "make_policy",
    "AllLocal",
    "AllEdge",
    "AllCloud",
    "UniformRandom",
    "SequentialGreedy",
    "CoordinateDescent",
    "ExactOptimum",
    "DqnPolicy",
]
