"""A node: ledger + consensus + the services of its role (cloud, edge, device, center).

The node is the one place that executes committed blocks: its consensus core emits
``CommitBlock``; the node validates the certificate, appends the block durably to its
store *before* anything else sees it, applies it to the state machine and then tells its
services. Everything else passes through as effects for the driver (simulator or HTTP).
Bad input from a peer becomes a ``Rejected`` effect and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from edgeledger.codec import decode
from edgeledger.consensus.base import CommitBlock, Consensus
from edgeledger.consensus.pbft.events import PBFT_MESSAGES, ForwardRequest
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Compute, Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.errors import ChainValidationError, EdgeLedgerError
from edgeledger.fl.learner import Learner
from edgeledger.fl.round.core import AggregatorCore, DeviceCore, EdgeRelay, TrainJob
from edgeledger.fl.round.events import FL_MESSAGES, ModelAnnouncement, UpdateUpload
from edgeledger.ledger.block import Block
from edgeledger.ledger.blobs import BlobStore, MemoryBlobStore
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.state import LedgerState
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.validation import validate_certificate
from edgeledger.node.center import CENTER_MESSAGES, AddressBook, PeerList, Register, make_registration

__all__ = ["Node", "WireMessage", "decode_wire"]

WireMessage = Union[tuple(PBFT_MESSAGES + FL_MESSAGES + CENTER_MESSAGES)]  # type: ignore[valid-type]


def decode_wire(data: bytes) -> Any:
    """Decode any node-to-node message; raises DecodeError for anything else."""
    return decode(data, WireMessage)


@dataclass
class Node:
    node_id: str
    role: str
    key: PrivateKey
    membership: Membership
    store: ChainStore
    blobs: BlobStore = field(default_factory=MemoryBlobStore)
    consensus: Consensus | None = None
    validator: str | None = None  # where a non-validator forwards transactions
    center: str | None = None
    address: str = ""
    aggregator: AggregatorCore | None = None
    device: DeviceCore | None = None
    edge: EdgeRelay | None = None
    address_book: AddressBook | None = None
    learner: Learner | None = None
    compute_time: Callable[[str, Any, Any], float] = lambda name, job, result: 0.0
    state: LedgerState = field(init=False)
    peers: dict[str, Any] = field(default_factory=dict)
    _pending: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = LedgerState(self.membership)
        for block in self.store.blocks():  # resume from durable storage
            self.state.apply_block(block)

    # -- driver interface --------------------------------------------------------------------
    def decode_message(self, data: bytes) -> Any:
        return decode_wire(data)

    def start(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self.center is not None and self.role != "center":
            effects.append(Send(self.center, make_registration(self.key, self.node_id, self.role, self.address)))
        if self.aggregator is not None:
            effects += self.aggregator.start(now)
        return self._resolve(effects, now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        try:
            return self._resolve(self._dispatch(sender, message, now), now)
        except EdgeLedgerError as exc:  # bad input never takes a node down
            return [Rejected(sender, type(message).__name__, str(exc))]

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name.startswith("compute:"):
            job, result = self._pending.pop(name)
            assert self.device is not None
            return self._resolve(self.device.on_trained(job, result, now), now)
        if name.startswith("pbft.") and self.consensus is not None:
            return self._resolve(self.consensus.timer(name, now), now)
        if name.startswith("fl.") and self.aggregator is not None:
            return self._resolve(self.aggregator.timer(name, now), now)
        return []

    # -- routing -----------------------------------------------------------------------------
    def _dispatch(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, PBFT_MESSAGES):
            if self.consensus is None:
                return [Rejected(sender, type(message).__name__, f"{self.node_id} is not a validator")]
            return self.consensus.receive(sender, message, now)
        if isinstance(message, ModelAnnouncement):
            if self.edge is not None and sender == self.edge.aggregator:
                return self.edge.on_announcement(sender, message, now)
            if self.device is not None and sender == self.device.edge:
                return self.device.on_announcement(sender, message, now)
        elif isinstance(message, UpdateUpload):
            if self.edge is not None:
                return self.edge.on_upload(sender, message, now)
            if self.aggregator is not None:
                return self.aggregator.on_upload(sender, message, now)
        elif isinstance(message, Register) and self.address_book is not None:
            return self.address_book.on_register(sender, message, now)
        elif isinstance(message, PeerList):
            if sender == self.center:
                self.peers = {p.node_id: p for p in message.peers}
            return []
        return [Rejected(sender, type(message).__name__, f"{self.role} {self.node_id} does not accept it")]

    def _resolve(self, effects: list[Effect], now: float) -> list[Effect]:
        """Handle node-internal effects (commits, submissions, compute); pass the rest on."""
        out: list[Effect] = []
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            if isinstance(effect, CommitBlock):
                queue[0:0] = self._commit(effect.block, now)
            elif isinstance(effect, SubmitTransaction):
                if self.consensus is not None:
                    queue[0:0] = self.consensus.submit(effect.tx, now)
                elif self.validator is not None:
                    out.append(Send(self.validator, ForwardRequest(tx=effect.tx)))
            elif isinstance(effect, Compute):
                out.append(self._compute(effect))
            else:
                out.append(effect)
        return out

    def _compute(self, effect: Compute) -> Effect:
        job: TrainJob = effect.job
        assert self.learner is not None
        result = self.learner.train(job.global_params, job.round, job.seed)
        name = f"compute:{effect.name}:{job.round}"
        self._pending[name] = (job, result)
        return SetTimer(name, self.compute_time(effect.name, job, result))

    def _commit(self, block: Block, now: float) -> list[Effect]:
        if block.height != self.store.height + 1:
            raise ChainValidationError(f"{self.node_id}: commit of height {block.height} after {self.store.height}")
        validate_certificate(block.header, block.certificate, self.membership)
        self.store.append(block)  # durable before anyone is told
        receipts = self.state.apply_block(block)
        effects: list[Effect] = [Metric("chain.height", float(block.height)),
                                 Metric("chain.block_txs", float(len(block.transactions)))]
        effects += [Rejected(self.node_id, "transaction", r.reason) for r in receipts if not r.ok]
        if self.aggregator is not None:
            effects += self.aggregator.on_block(block, receipts, now)
        return effects
