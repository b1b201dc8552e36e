"""Fabric's transaction flow between nodes: endorsing peers and the clients that use them.

:class:`EndorserService` makes a node an endorsing peer: it answers an :class:`EndorseRequest`
(a wire message, or ``POST /v1/endorse``) by simulating the call on its committed state and
signing the read/write set (``endorse_proposal``); it keeps the private data of collections
it holds until the transaction commits (:class:`PrivateStore`).

:class:`EndorsementClient` is the client side as a sans-IO helper a service embeds: ``call``
sends the proposal to the endorsers the application chose for the contract's policy,
``on_response`` collects the signed answers and, once all are in and agree, signs the
transaction with the nonce the proposal named and submits it. Endorsers that disagree (a
non-deterministic contract, or one endorser a block behind) are asked again a few times; a
transaction the chain marks ``MVCC_READ_CONFLICT`` is endorsed afresh and resubmitted, as
Fabric applications do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeledger.effects import Effect, Metric, Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.crypto.keys import PrivateKey
from edgeledger.errors import EdgeLedgerError
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts import (
    ContractCall, EndorsementMismatch, EndorseRequest, ProposalResponse, assemble, endorse_proposal,
)
from edgeledger.ledger.contracts.private import PrivateStore
from edgeledger.ledger.state import LedgerState, Receipt
from edgeledger.ledger.transaction import make_transaction
from edgeledger.node.service import Service

__all__ = ["EndorserService", "EndorsementClient", "ENDORSE_TIMER"]

ENDORSE_TIMER = "endorse:"
RETRY_TIMER = "endorse-retry:"


class EndorserService(Service):
    """An endorsing peer: simulate proposals on committed state, sign, keep held private data."""

    message_types = (EndorseRequest,)

    def __init__(self, node_id: str, key: PrivateKey, state: LedgerState) -> None:
        self.node_id, self.key, self.state = node_id, key, state
        self.private = PrivateStore(node_id)
        self.endorsed = 0

    def endorse(self, request: EndorseRequest) -> ProposalResponse:
        """Simulate and sign ``request`` (a local client calls this directly)."""
        response, writes = endorse_proposal(self.state, self.node_id, self.key, request, self.private.view)
        if not response.error:
            self.endorsed += 1
            self.private.keep(request.call.contract, request.sender, request.nonce, writes)
        return response

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        if message.sender != sender:  # the transport authenticated the sender: it must be the proposal's client
            return [Rejected(sender, "contract.endorse", f"proposal for client {message.sender!r} sent by {sender!r}")]
        return [Send(sender, self.endorse(message))]

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        self.private.on_block(block, receipts)
        return []


@dataclass
class _Pending:
    request: EndorseRequest
    endorsers: tuple[str, ...]
    responses: dict[str, ProposalResponse] = field(default_factory=dict)
    tries: int = 1


class EndorsementClient:
    """A node's contract calls under execute-order-validate (sans-IO; embed in a service).

    ``local`` endorses on this node itself (an edge server is its own peer) without a message.
    Timers are named ``<timer_prefix>endorse:<nonce>`` and ``<timer_prefix>endorse-retry:<n>``:
    route both to :meth:`on_timer` (:meth:`owns` tells). A refused or disagreeing endorsement is
    proposed again after ``retry_delay_s`` (an endorser a block behind catches up meanwhile).
    """

    def __init__(self, node_id: str, key: PrivateKey, *, local: Callable[[EndorseRequest], ProposalResponse] | None = None,
                 timeout_s: float = 2.0, retries: int = 3, retry_delay_s: float = 0.05, timer_prefix: str = "") -> None:
        self.node_id, self.key, self.local = node_id, key, local
        self.timeout_s, self.retries, self.retry_delay_s = timeout_s, retries, retry_delay_s
        self.timer, self.retry_timer = timer_prefix + ENDORSE_TIMER, timer_prefix + RETRY_TIMER
        self.waiting: dict[int, _Pending] = {}  # retry number -> a proposal to make again
        self._retry = 0
        self.nonce = 0
        self.pending: dict[int, _Pending] = {}
        self.submitted: dict[bytes, _Pending] = {}  # tx id -> its proposal, to resubmit after an MVCC conflict
        self.mismatches = 0
        self.resubmitted = 0

    def call(self, contract: str, method: str, args: list[Any], endorsers: list[str] | tuple[str, ...],
             transient: dict[str, bytes] | None = None, tries: int = 1) -> list[Effect]:
        """Propose ``contract.method(*args)`` to ``endorsers``; the transaction follows when all endorse."""
        self.nonce += 1
        request = EndorseRequest(sender=self.node_id, call=ContractCall(contract=contract, method=method, args=list(args)),
                                 nonce=self.nonce, transient=dict(transient or {}))
        pending = self.pending[self.nonce] = _Pending(request, tuple(endorsers), tries=tries)
        effects: list[Effect] = [SetTimer(f"{self.timer}{self.nonce}", self.timeout_s)]
        for endorser in pending.endorsers:
            if endorser == self.node_id and self.local is not None:
                effects += self.on_response(endorser, self.local(request))
            else:
                effects.append(Send(endorser, request))
        return effects

    def next_nonce(self) -> int:
        """A nonce for a transaction this client signs without endorsement (e.g. a deployment)."""
        self.nonce += 1
        return self.nonce

    def on_response(self, sender: str, response: ProposalResponse, now: float = 0.0) -> list[Effect]:
        pending = self.pending.get(response.nonce)
        if pending is None or sender not in pending.endorsers or response.endorser != sender:
            return []
        pending.responses[sender] = response
        if len(pending.responses) < len(pending.endorsers):
            return []
        del self.pending[response.nonce]
        try:
            call = assemble(pending.request, pending.responses.values())
        except EndorsementMismatch as exc:
            self.mismatches += 1
            return [Metric("contract.endorsement_mismatch", 1.0)] + self._again(pending, str(exc), self.retry_delay_s)
        except EdgeLedgerError as exc:  # refused, e.g. by a peer that has not seen the deployment yet
            return self._again(pending, str(exc), self.retry_delay_s)
        tx = make_transaction(self.key, self.node_id, pending.request.nonce, "contract.call", call)
        self.submitted[tx.tx_id] = pending
        return [SubmitTransaction(tx)]

    def _again(self, pending: _Pending, reason: str, delay_s: float = 0.0) -> list[Effect]:
        call = pending.request.call
        if pending.tries > self.retries:
            return [Rejected(self.node_id, "contract.endorse", f"gave up after {pending.tries} tries: {reason}")]
        if delay_s > 0:
            self._retry += 1
            self.waiting[self._retry] = pending
            return [SetTimer(f"{self.retry_timer}{self._retry}", delay_s)]
        return self.call(call.contract, call.method, list(call.args), pending.endorsers,
                         dict(pending.request.transient), tries=pending.tries + 1)

    def owns(self, name: str) -> bool:
        return name.startswith(self.timer) or name.startswith(self.retry_timer)

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """A retry is due, or an endorser did not answer in time: propose again (new nonce)."""
        if name.startswith(self.retry_timer):
            pending = self.waiting.pop(int(name.removeprefix(self.retry_timer)), None)
            return [] if pending is None else self._again(pending, "retry")
        nonce = int(name.removeprefix(self.timer))
        pending = self.pending.pop(nonce, None)
        if pending is None:
            return []
        missing = sorted(set(pending.endorsers) - set(pending.responses))
        return self._again(pending, f"no endorsement from {missing} within {self.timeout_s} s")

    def on_block(self, block: Block, receipts: list[Receipt]) -> list[Effect]:
        """Our transactions committed: an MVCC conflict is endorsed again on the newer state."""
        effects: list[Effect] = []
        for tx, receipt in zip(block.transactions, receipts):
            pending = self.submitted.pop(tx.tx_id, None)
            if pending is not None and receipt.code == "MVCC_READ_CONFLICT":
                self.resubmitted += 1
                effects.append(Metric("contract.mvcc_resubmitted", 1.0))
                effects += self._again(pending, receipt.reason)
        return effects
