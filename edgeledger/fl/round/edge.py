"""An edge server's FL duty in the round (sans-IO): relay models down to the round's devices and
updates up to the aggregator; a compromised edge tampers with blobs in transit (ChainFL's
download and upload attacks), which the devices and the aggregator detect by their digests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from edgeledger.codec import decode
from edgeledger.crypto.hashing import derive_seed
from edgeledger.effects import Broadcast, Effect, Rejected, Send
from edgeledger.errors import EdgeLedgerError
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.fl.round.events import ModelAnnouncement, RoundOpen, UpdateUpload
from edgeledger.node.ids import NumberedIds

__all__ = ["EdgeRelay"]


class EdgeRelay:
    """An edge server's FL duty: forward models down and updates up (or tamper, if compromised).

    ``tamper_downloads`` / ``tamper_uploads`` model ChainFL's download and upload attacks by a
    compromised edge: the blob is perturbed in transit while the signed metadata is kept.
    """

    def __init__(
        self,
        node_id: str,
        aggregator: str,
        devices: Sequence[str],
        seed: int,
        tamper_downloads: bool = False,
        tamper_uploads: bool = False,
        aggregators: tuple[str, ...] = (),
    ) -> None:
        self.node_id, self.aggregator = node_id, aggregator
        # where uploads go and whose announcements count: the aggregator, or every validator
        # under consensus-winner aggregation
        self.aggregators = aggregators or (aggregator,)
        self.devices = devices if isinstance(devices, NumberedIds) else list(devices)
        # a device's position among ours: O(1) arithmetic for numbered ids, one small dict otherwise
        self._position: Callable[[str], int | None] = (
            self.devices.position if isinstance(self.devices, NumberedIds)
            else {d: i for i, d in enumerate(self.devices)}.get)
        self.tamper_downloads, self.tamper_uploads = tamper_downloads, tamper_uploads
        self.rng = np.random.default_rng(derive_seed(seed, node_id, "tamper"))

    def _tamper(self, blob: bytes) -> bytes:
        try:
            params = params_from_bytes(blob)
        except EdgeLedgerError:  # an end-to-end sealed blob: all a compromised edge can do is flip bits
            return bytes([blob[0] ^ 0xFF]) + blob[1:] if blob else blob
        noise = self.rng.normal(0.0, 1.0, size=params.shape).astype(np.float32)
        return params_to_bytes(params + noise)

    def serves(self, node_id: str) -> bool:
        """Is ``node_id`` one of this edge's devices?"""
        return self._position(node_id) is not None

    def recipients(self, msg: ModelAnnouncement) -> tuple[str, ...]:
        """Our devices among the round's participants, in our device order: the model goes to the
        devices that train on it, not to every device of the edge (an edge of 25,000 devices
        would send 25,000 copies a round). Raises :class:`EdgeLedgerError` on a payload that is
        not a ``RoundOpen`` (the devices would refuse such an announcement anyway)."""
        participants = decode(msg.open_tx.payload, RoundOpen).participants
        ours = {p: k for p in participants if (k := self._position(p)) is not None}
        return tuple(sorted(ours, key=ours.__getitem__))

    def on_announcement(self, sender: str, msg: ModelAnnouncement, now: float) -> list[Effect]:
        try:
            to = self.recipients(msg)
        except EdgeLedgerError as exc:
            return [Rejected(sender, "fl.announce", f"announcement names no round: {exc}")]
        if self.tamper_downloads:
            msg = msgspec.structs.replace(msg, model=self._tamper(msg.model))
        return [Broadcast(to, msg)] if to else []

    def on_upload(self, sender: str, msg: UpdateUpload, now: float) -> list[Effect]:
        if sender not in self.devices:
            return [Rejected(sender, "fl.upload", f"{sender!r} is not a device of edge {self.node_id!r}")]
        if self.tamper_uploads:
            msg = msgspec.structs.replace(msg, update=self._tamper(msg.update))
        if len(self.aggregators) > 1:
            return [Broadcast(self.aggregators, msg)]
        return [Send(self.aggregator, msg)]
