"""Edge servers train (``fl.trainers = "edge"``, FBFL): devices send raw data, edges train on it.

In FBFL the IoT devices upload their raw data to their MEC server, which trains the model on
all of it. A device sends its samples once, at start, as a :class:`DataUpload` over its
simulated link (the bytes cross the device-edge link like any message); its edge keeps what
each of its devices sent and trains on the union, in device order, whenever a round names
it as a participant. The round itself is the devices' protocol with the edge as trainer: the
edge checks the announced model against the chain, trains through a ``Compute`` effect, signs
``fl.update`` and uploads straight to its aggregators (the cloud, or every validator under
consensus-winner aggregation). An announcement that arrives before every device's data is
held until the data is complete or ``hold_s`` passed, then trained on what arrived.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgeledger.effects import Effect, Rejected, Send, SetTimer
from edgeledger.errors import DecodeError
from edgeledger.fl.datasets import Dataset
from edgeledger.fl.learner import SupervisedLearner
from edgeledger.fl.round.collusion import COLLUSION_TIMER
from edgeledger.fl.round.core import DeviceCore
from edgeledger.fl.round.events import DataUpload, ModelAnnouncement
from edgeledger.fl.round.services import DeviceService
from edgeledger.node.service import Service

__all__ = ["EdgeTrainerService", "DataOwnerService", "data_upload", "read_data_upload", "HOLD_TIMER"]

HOLD_TIMER = "fl.edge_hold"


def data_upload(data: Dataset) -> DataUpload:
    """A device's samples as the message it sends its edge (float32 x, int64 labels)."""
    return DataUpload(shape=list(data.input_shape), n_classes=int(data.n_classes),
                      x=np.ascontiguousarray(data.x, dtype=np.float32).tobytes(),
                      y=np.ascontiguousarray(data.y, dtype=np.int64).tobytes())


def read_data_upload(msg: DataUpload, input_shape: tuple[int, ...], n_classes: int, name: str) -> Dataset:
    """The samples of ``msg``, refused (``DecodeError``) unless they fit the task's shape and classes."""
    if tuple(msg.shape) != tuple(input_shape) or msg.n_classes != n_classes:
        raise DecodeError(f"data of shape {msg.shape} with {msg.n_classes} classes; expected {list(input_shape)} "
                          f"with {n_classes}")
    per_sample = 4 * math.prod(input_shape)
    n = len(msg.y) // 8
    if len(msg.y) % 8 or len(msg.x) != n * per_sample:
        raise DecodeError(f"data of {len(msg.x)} sample bytes and {len(msg.y)} label bytes do not make whole samples "
                          f"of {per_sample} bytes with one int64 label each")
    y = np.frombuffer(msg.y, dtype=np.int64).copy()
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise DecodeError(f"labels in [{y.min()}, {y.max()}]; expected [0, {n_classes})")
    x = np.frombuffer(msg.x, dtype=np.float32).reshape(n, *input_shape).copy()
    return Dataset(x=x, y=y, n_classes=n_classes, name=name)


class EdgeTrainerService(DeviceService):
    """An edge server that trains on its devices' raw data (see the module docstring).

    ``devices``: the devices attached to this edge (only they may send data); ``aggregators``:
    whose announcements count; ``on_model``: told of every announced global model (an edge
    that also aggregates as a consensus winner keeps them)."""

    message_types: tuple[type, ...] = (ModelAnnouncement, DataUpload)
    timer_prefix = (COLLUSION_TIMER, HOLD_TIMER)  # type: ignore[assignment]  # str.startswith takes a tuple

    def __init__(self, core: DeviceCore, learner: SupervisedLearner, devices: Sequence[str],
                 aggregators: Sequence[str], input_shape: tuple[int, ...], n_classes: int, trainer: Any = None,
                 hold_s: float = 30.0, on_model: Callable[[ModelAnnouncement], None] | None = None) -> None:
        super().__init__(core, learner, trainer)
        self.devices, self.aggregators, self.hold_s, self.on_model = list(devices), set(aggregators), hold_s, on_model
        self.input_shape, self.n_classes = tuple(input_shape), int(n_classes)
        self.data: dict[str, Dataset] = {}
        self.held: tuple[str, ModelAnnouncement] | None = None

    @property
    def complete(self) -> bool:
        return len(self.data) == len(self.devices)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, DataUpload):
            return self._on_data(sender, message, now)
        if sender not in self.aggregators:
            return [Rejected(sender, "fl.announce", f"{sender!r} is not an aggregator")]
        if self.on_model is not None:
            self.on_model(message)
        if self.complete:
            return self.core.on_announcement(sender, message, now)
        first = self.held is None
        self.held = (sender, message)  # the newest announcement waits for the data
        return [SetTimer(HOLD_TIMER, self.hold_s)] if first else []

    def _on_data(self, sender: str, msg: DataUpload, now: float) -> list[Effect]:
        if sender not in self.devices:
            return [Rejected(sender, "fl.data", f"{sender!r} is not a device of edge {self.core.node_id!r}")]
        if sender in self.data:
            return [Rejected(sender, "fl.data", f"{sender!r} already sent its data")]
        try:
            self.data[sender] = read_data_upload(msg, self.input_shape, self.n_classes, f"{self.core.node_id}-data")
        except DecodeError as exc:
            return [Rejected(sender, "fl.data", str(exc))]
        self._refresh()
        if self.complete and self.held is not None:
            return self._release(now)
        return []

    def _refresh(self) -> None:
        """Train on every sample received so far, in device order."""
        parts = [self.data[d] for d in self.devices if d in self.data]
        learner = self.learner
        assert isinstance(learner, SupervisedLearner)
        learner.train_data = Dataset(x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]),
                                     n_classes=parts[0].n_classes, name=f"{self.core.node_id}-data")

    def _release(self, now: float) -> list[Effect]:
        assert self.held is not None
        sender, message = self.held
        self.held = None
        return self.core.on_announcement(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name == HOLD_TIMER:
            return self._release(now) if self.held is not None and self.data else []
        return super().on_timer(name, now)



class DataOwnerService(Service):
    """A device whose edge trains (``fl.trainers = "edge"``): at start it sends its raw data to
    its edge, then has no part in the rounds."""

    def __init__(self, edge: str, upload: Callable[[], DataUpload]) -> None:
        self.edge, self.upload = edge, upload

    def start(self, now: float) -> list[Effect]:
        return [Send(self.edge, self.upload())]

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []
