"""The FL round's cores as node services (the adapter between ``fl.round`` and ``node``).

:class:`AggregatorService` is the aggregator core's driver: it writes the blobs the core names
(``StoreBlob``) to the node's blob store, scores the models it names (``EvaluateModel``) with
the cloud's learner, inline in simulation or as a ``Compute`` job off the event loop in
deployment, and reads back what a restarted core needs (``ResumeInputs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from edgeledger.codec import decode
from edgeledger.effects import Compute, Effect, Metric, Rejected, Send
from edgeledger.fl.learner import Learner, LocalResult
from edgeledger.fl.round.collusion import COLLUSION_TIMER
from edgeledger.fl.round.core import (AGGREGATOR_STATE, DEADLINE_TIMER, AggregatorCore, AggregatorRecord, DeviceCore,
                                      EdgeRelay, TrainJob)
from edgeledger.fl.round.driver_effects import EvaluateModel, ReexecuteClaim, ResumeInputs, StoreBlob
from edgeledger.fl.round.events import (MAX_RELAY_HOPS, FetchModel, ModelAnnouncement, RelayAnnouncement, RelayUpload,
                                        UpdateUpload)
from edgeledger.fl.round.winner import WINNER_DEADLINE_TIMER, WinnerCore
from edgeledger.ledger.blobs import BlobStore
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt
from edgeledger.node.service import Service

__all__ = ["AggregatorService", "DeviceService", "EdgeService", "WinnerService"]


class AggregatorService(Service):
    message_types = (UpdateUpload, FetchModel, RelayUpload)
    timer_prefix = DEADLINE_TIMER
    state_key = AGGREGATOR_STATE  # the open round survives a restart of the cloud

    def __init__(self, core: AggregatorCore, learner: Learner, blobs: BlobStore, deferred: bool = False,
                 reexecute: Callable[[np.ndarray], float] | None = None) -> None:
        """``learner`` scores the global models, ``blobs`` keeps every model named on chain;
        ``deferred``: evaluate as a ``Compute`` job (a real-time node runs it off its event loop);
        ``reexecute``: ``params -> loss`` on the public validation set, for proof-of-learning claims."""
        self.core, self.learner, self.blobs, self.deferred = core, learner, blobs, deferred
        self.reexecute = reexecute

    def _drive(self, effects: list[Effect], now: float) -> list[Effect]:
        """Carry out the core's storage and evaluation effects in order; pass the rest to the node."""
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, StoreBlob):  # before the SaveState or transaction that names it
                self.blobs.put(effect.data)
            elif isinstance(effect, (EvaluateModel, ReexecuteClaim)):
                if self.deferred:
                    out.append(Compute("fl.evaluate" if isinstance(effect, EvaluateModel) else "fl.reexecute", effect))
                else:
                    out += self.on_computed(effect, self.execute(effect), now)
            else:
                out.append(effect)
        return out

    def execute(self, job: EvaluateModel | ReexecuteClaim) -> Any:
        """Score a model (its scores), or re-execute a claim (the loss; None without a validation set)."""
        if isinstance(job, ReexecuteClaim):
            return float(self.reexecute(job.params)) if self.reexecute is not None else None
        return self.learner.evaluate(job.params)

    def on_computed(self, job: EvaluateModel | ReexecuteClaim, result: Any, now: float) -> list[Effect]:
        if isinstance(job, ReexecuteClaim):
            return self._drive(self.core.on_reexecuted(job.round, job.device, result, now), now)
        return self._drive(self.core.on_evaluated(job.round, result, now), now)

    def start(self, now: float) -> list[Effect]:
        return self._drive(self.core.start(now), now)

    def resume(self, saved: bytes, ledger: Any, now: float) -> list[Effect]:
        record = decode(saved, AggregatorRecord)
        close_at = ledger.locate_transaction(record.close_tx.tx_id) if record.close_tx is not None else None
        open_at = ledger.locate_transaction(record.open_tx.tx_id) if record.open_tx is not None else None
        inputs = ResumeInputs(blobs={d: self.blobs.get(d) for d in self.core.blobs_to_resume(record)},
                              close_committed=close_at is not None,
                              open_committed=(ledger.block(open_at[0]), open_at[1]) if open_at is not None else None)
        return self._drive(self.core.resume(record, inputs, now), now)

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, FetchModel):
            return self._drive(self.core.on_fetch(sender, message, now), now)
        if isinstance(message, RelayUpload):  # a device's upload that detoured through edges
            return self._drive(self.core.on_upload(sender, message.upload, now), now)
        return self._drive(self.core.on_upload(sender, message, now), now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self._drive(self.core.timer(name, now), now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        return self._drive(self.core.on_block(block, receipts, now), now)

    def on_undeliverable(self, to: str, message: Any, now: float) -> list[Effect]:
        """An edge is cut off from us: send its announcement through the next edge."""
        if not isinstance(message, ModelAnnouncement) or to not in self.core.edges:
            return []
        via = _next_edge(self.core.edges, to, {to, self.core.node_id})
        return [Send(via, RelayAnnouncement(to=to, announcement=message, hops=1, via=[self.core.node_id]))] \
            if via else [_undeliverable("fl.relay-announce", to, "no edge left to detour through")]


def _next_edge(edges: list[str], after: str, seen: set[str]) -> str | None:
    """The first edge after ``after`` in id order (cyclic) that the message has not visited: a
    deterministic detour that never comes back to an edge."""
    others = sorted(e for e in edges if e not in seen)
    return next((e for e in others if e > after), others[0] if others else None)


def _undeliverable(what: str, to: str, why: str) -> Effect:
    return Rejected(to, what, f"undeliverable: {why}")


def _detour(me: str, edges: list[str], relay: RelayUpload | RelayAnnouncement, target: str) -> list[Effect]:
    """Carry ``relay`` one edge further, unless it passed MAX_RELAY_HOPS edges or every edge saw it."""
    what = "fl.relay-upload" if isinstance(relay, RelayUpload) else "fl.relay-announce"
    seen = set(relay.via) | {me, target}
    nxt = _next_edge(edges, me, seen)
    if relay.hops >= MAX_RELAY_HOPS or nxt is None:
        why = f"{relay.hops} hops via {relay.via + [me]}, " + ("hop limit" if nxt else "no unvisited edge left")
        return [Metric("fl.relay_undeliverable", 1.0), _undeliverable(what, target, why)]
    return [Send(nxt, msgspec.structs.replace(relay, hops=relay.hops + 1, via=relay.via + [me]))]


class DeviceService(Service):
    """A device: accepts announcements from its edge (and, with a download fallback, from the
    aggregator it asked directly); trains with its learner.

    With a ``trainer`` (the simulator's training pool: ``submit(learner, params, round, seed)``
    returning a handle with ``result()``), :meth:`execute` only queues the job and the result
    is collected when the job's timer fires, so a round's devices train in one batch.
    """

    message_types: tuple[type, ...] = (ModelAnnouncement,)
    timer_prefix = COLLUSION_TIMER  # a colluding device waiting for its round's crafted update

    def __init__(self, core: DeviceCore, learner: Learner, trainer: Any = None) -> None:
        self.core = core
        self.learner = learner
        self.trainer = trainer

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if sender != self.core.edge and (self.core.fallback is None or sender != self.core.fallback):
            return [Rejected(sender, "fl.announce", f"{sender!r} is not the edge of {self.core.node_id!r}")]
        return self.core.on_announcement(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.on_timer(name, now)

    def execute(self, job: TrainJob) -> Any:
        if self.trainer is not None:
            return self.trainer.submit(self.learner, job.global_params, job.round, job.seed)
        return self.learner.train(job.global_params, job.round, job.seed)

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        if not isinstance(result, LocalResult):  # a pending handle from the trainer
            result = result.result()
        return self.core.on_trained(job, result, now)


class EdgeService(Service):
    """An edge: relays announcements from the aggregator down and uploads from its devices up.

    When the aggregator is unreachable, uploads detour through another edge (ChainFL's relay);
    an edge also carries detoured traffic for its peers. Devices verify every model against
    the chain and the aggregator every upload's signature, so a detour adds no trust.
    """

    message_types = (ModelAnnouncement, UpdateUpload, RelayUpload, RelayAnnouncement)

    def __init__(self, relay: EdgeRelay, edges: list[str] | None = None,
                 on_model: Callable[[ModelAnnouncement], None] | None = None,
                 aggregate: Callable[[str, UpdateUpload, float], list[Effect]] | None = None) -> None:
        self.relay = relay
        self.edges = list(edges or [])
        # an edge that also aggregates (consensus winner) keeps each global model and takes the uploads
        # relayed to it (its own devices' uploads it relays first, to itself among the validators)
        self.on_model, self.aggregate = on_model, aggregate

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ModelAnnouncement):
            if sender not in self.relay.aggregators:
                return [Rejected(sender, "fl.announce", f"{sender!r} is not the aggregator")]
            if self.on_model is not None:
                self.on_model(message)
            return self.relay.on_announcement(sender, message, now)
        if isinstance(message, RelayUpload):
            if sender not in self.edges:
                return [Rejected(sender, "fl.relay-upload", f"{sender!r} is not an edge")]
            return [Send(self.relay.aggregator, message)]  # kept wrapped: a failure continues the detour
        if isinstance(message, RelayAnnouncement):
            if sender not in self.edges and sender != self.relay.aggregator:
                return [Rejected(sender, "fl.relay-announce", f"{sender!r} is not an edge or the aggregator")]
            if message.to == self.relay.node_id:
                return self.relay.on_announcement(sender, message.announcement, now)
            return [Send(message.to, message)]
        if self.aggregate is not None and not self.relay.serves(sender):
            return self.aggregate(sender, message, now)
        return self.relay.on_upload(sender, message, now)

    def on_undeliverable(self, to: str, message: Any, now: float) -> list[Effect]:
        """The aggregator (or, for a detoured announcement, its edge) is unreachable from here: carry
        the message on through an edge it has not visited, within the hop limit."""
        me = self.relay.node_id
        if to == self.relay.aggregator and isinstance(message, UpdateUpload):
            message = RelayUpload(upload=message)
        if to == self.relay.aggregator and isinstance(message, RelayUpload):
            return _detour(me, self.edges, message, to)
        if isinstance(message, RelayAnnouncement) and to == message.to:
            return _detour(me, self.edges, message, to)
        return []


class WinnerService(Service):
    """A validator's consensus-winner aggregation (:class:`~edgeledger.fl.round.winner.WinnerCore`):
    uploads in, round transactions into the blocks it proposes. ``uploads`` / ``announcements``:
    whether this service takes uploads and the winners' model announcements itself (a validator
    without an edge role does; on an edge the relay or trainer service hands them over)."""

    timer_prefix = WINNER_DEADLINE_TIMER

    def __init__(self, core: WinnerCore, uploads: bool = True, announcements: bool = True) -> None:
        self.core = core
        self.message_types = (((UpdateUpload,) if uploads else ()) + ((ModelAnnouncement,) if announcements else ()))

    def start(self, now: float) -> list[Effect]:
        return self.core.proposal_signal()

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ModelAnnouncement):
            self.core.learn_model(message)
            return []
        return self.core.on_upload(sender, message, now)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.timer(name, now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        return self.core.on_block(block, receipts, now)

    def prepare_proposal(self, height: int, chosen: list[Any], pending: list[Any], now: float) -> list[Any]:
        return self.core.prepare_proposal(height, chosen, pending, now)
