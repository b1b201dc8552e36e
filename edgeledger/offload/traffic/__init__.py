"""Task offloading as network traffic (docs/offloading.md, "Offloading on the network").

Devices' decisions become messages over the simulated (or real) network: radio access
grants, task uploads with their bytes, execution on the servers' modelled processors,
result downloads and per-slot resource reports that the agents observe. The analytical
model (:mod:`edgeledger.offload.env`) stays the fast path and the cross-check: with ideal
links and the model's sharing they agree (tests/offload/test_traffic.py).
"""

from edgeledger.offload.traffic.device import OffloadDeviceCore, Outcome, network_observation
from edgeledger.offload.traffic.learner import NetworkDqnLearner
from edgeledger.offload.traffic.messages import (
    OFFLOAD_MESSAGES,
    AccessGrant,
    AccessRequest,
    ResourceReport,
    TaskResult,
    TaskUpload,
)
from edgeledger.offload.traffic.server import OffloadServerCore
from edgeledger.offload.traffic.services import OffloadDeviceService, OffloadServerService
from edgeledger.offload.traffic.stream import DeviceStream, SlotDraw

__all__ = ["OffloadDeviceCore", "Outcome", "network_observation", "NetworkDqnLearner", "OFFLOAD_MESSAGES",
           "AccessGrant", "AccessRequest", "ResourceReport", "TaskResult", "TaskUpload", "OffloadServerCore",
           "OffloadDeviceService", "OffloadServerService", "DeviceStream", "SlotDraw"]
