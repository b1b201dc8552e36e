"""The FL round's cores as node services (the adapter between ``fl.round`` and ``node``)."""

from __future__ import annotations

from typing import Any

from edgeledger.effects import Effect, Rejected
from edgeledger.fl.learner import Learner, LocalResult
from edgeledger.fl.round.core import DEADLINE_TIMER, AggregatorCore, DeviceCore, EdgeRelay, TrainJob
from edgeledger.fl.round.events import ModelAnnouncement, UpdateUpload
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.node.service import Service

__all__ = ["AggregatorService", "DeviceService", "EdgeService"]


class AggregatorService(Service):
    message_types = (UpdateUpload,)
    timer_prefix = DEADLINE_TIMER

    def __init__(self, core: AggregatorCore) -> None:
        self.core = core

    def start(self, now: float) -> list[Effect]:
        return self.core.start(now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return self.core.on_upload(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.timer(name, now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        return self.core.on_block(block, receipts, now)


class DeviceService(Service):
    """A device: accepts announcements from its edge only; trains with its learner."""

    message_types = (ModelAnnouncement,)

    def __init__(self, core: DeviceCore, learner: Learner) -> None:
        self.core = core
        self.learner = learner

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if sender != self.core.edge:
            return [Rejected(sender, "fl.announce", f"{sender!r} is not the edge of {self.core.node_id!r}")]
        return self.core.on_announcement(sender, message, now)

    def execute(self, job: TrainJob) -> LocalResult:
        return self.learner.train(job.global_params, job.round, job.seed)

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        return self.core.on_trained(job, result, now)


class EdgeService(Service):
    """An edge: relays announcements from the aggregator down and uploads from its devices up."""

    message_types = (ModelAnnouncement, UpdateUpload)

    def __init__(self, relay: EdgeRelay) -> None:
        self.relay = relay

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ModelAnnouncement):
            if sender != self.relay.aggregator:
                    return [Rejected(sender, "fl.announce", f"{sender!r} is not the aggregator")]
            return self.relay.on_announcement(sender, message, now)
        return self.relay.on_upload(sender, message, now)
