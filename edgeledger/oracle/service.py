"""The node adapter of Pedal: routes wire messages, timers and committed blocks to the core.

The service watches committed blocks for the proxy's ``requested`` events and runs each
request's local work (``FetchJob``) through ``work``, a function the scenario supplies
(read a simulated source, train a model, read another chain). ``work`` returns the encoded
observation and the modelled duration; the node delivers the result after that duration.
After each block it also reads the fallback board of every term the core has requests in
and tells the core when the chain has decided a fallback master.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeledger.codec import decode
from edgeledger.effects import Effect, Metric
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import logs_at
from edgeledger.ledger.state import Receipt
from edgeledger.node.service import Service
from edgeledger.oracle.pedal import FetchJob, PedalCore
from edgeledger.oracle.records import ORACLE_MESSAGES, ElectionProof, Observation, ObservationCall, OracleRequest, \
    ResultProposal, ResultShare
from edgeledger.oracle.terms import fallback_view

__all__ = ["OracleService", "WorkResult", "requested_in"]


@dataclass(frozen=True)
class WorkResult:
    value: bytes
    duration_s: float


def requested_in(view: Any, height: int, proxy: str) -> list[tuple[str, Any]]:
    """(event name, attributes) of the proxy's events in block ``height``, in order."""
    return [(ev.name, ev.attributes) for log in logs_at(view, height) for ev in log.events if ev.contract == proxy]


class OracleService(Service):
    message_types = ORACLE_MESSAGES
    timer_prefix = "oracle."

    def __init__(self, core: PedalCore, work: Callable[[FetchJob], WorkResult], state_view: Callable[[], Any]):
        self.core = core
        self.work = work
        self.state_view = state_view
        self.fulfilled_at: dict[str, float] = {}

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, ElectionProof):
            return self.core.on_election_proof(sender, message, now)
        if isinstance(message, Observation):
            return self.core.on_observation(sender, message, now)
        if isinstance(message, ObservationCall):
            return self.core.on_call(sender, message, now)
        if isinstance(message, ResultProposal):
            return self.core.on_proposal(sender, message, now)
        if isinstance(message, ResultShare):
            return self.core.on_share(sender, message, now)
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return self.core.on_timer(name, now)

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        effects: list[Effect] = []
        view = self.state_view()
        for name, attrs in requested_in(view, block.height, self.core.config.proxy):
            if name == "requested":
                effects += self.core.on_request(decode(attrs["request"], OracleRequest), now)
            elif name == "fulfilled":
                self.core.forget(attrs["request_id"])
                self.fulfilled_at[attrs["request_id"]] = now
                effects.append(Metric("oracle.fulfilled", 1.0))
            elif name == "expired":
                self.core.forget(attrs["request_id"])
        core = self.core
        for term in sorted({s.request.term for s in core.requests.values()} - set(core.fallbacks)):
            master, _, _ = fallback_view(view, core.config.proxy, term)
            if master is not None:
                effects += core.on_fallback(term, master, now)
        return effects

    def execute(self, job: Any) -> Any:
        return self.work(job)

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        return self.core.on_fetched(job.request.request_id, result.value, now)
