"""Offloading on the network as node services: a device's and a server's cores behind ``Service``."""

from __future__ import annotations

from typing import Any

from edgeledger.effects import Effect
from edgeledger.node.service import Service
from edgeledger.offload.traffic.device import OffloadDeviceCore
from edgeledger.offload.traffic.messages import AccessGrant, AccessRequest, ResourceReport, TaskResult, TaskUpload
from edgeledger.offload.traffic.server import OffloadServerCore

__all__ = ["OffloadDeviceService", "OffloadServerService"]


class OffloadDeviceService(Service):
    """A device that offloads its tasks over the network (:class:`OffloadDeviceCore`)."""

    message_types = (AccessGrant, TaskResult, ResourceReport)
    timer_prefix = "offload."

    def __init__(self, core: OffloadDeviceCore) -> None:
        self.core = core

    def start(self, now: float) -> list[Effect]:
        return self.core.start(now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, AccessGrant):
            return self.core.on_grant(sender, message, now)
        if isinstance(message, TaskResult):
            return self.core.on_result(sender, message, now)
        return self.core.on_report(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.on_timer(name, now)


class OffloadServerService(Service):
    """An edge (access point and processor) or the cloud serving offloaded tasks."""

    message_types = (AccessRequest, TaskUpload, TaskResult)
    timer_prefix = "offload."

    def __init__(self, core: OffloadServerCore) -> None:
        self.core = core

    def start(self, now: float) -> list[Effect]:
        return self.core.start(now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, AccessRequest):
            return self.core.on_request(sender, message, now)
        if isinstance(message, TaskUpload):
            return self.core.on_task(sender, message, now)
        return self.core.on_result(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.on_timer(name, now)
