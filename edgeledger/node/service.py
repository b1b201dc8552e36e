"""What a role plugs into a node: a service (FL aggregator, device, edge relay, oracle, ...).

A node knows nothing of federated learning or markets; packages above it (docs/design.md's layer
order ``node <- fl, offload, oracle, market``) adapt their sans-IO cores to this interface.
A service names the wire messages it accepts and the timer prefix it owns; the node routes
to it and resolves its effects. ``Compute`` effects a service emits are executed through
the same service (``execute``), and their result comes back through ``on_computed`` after
the job's duration: modelled in simulation, measured in deployment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from edgeledger.effects import Effect
from edgeledger.errors import LocalProtocolError
from edgeledger.ledger.block import Block
from edgeledger.ledger.state import Receipt

__all__ = ["Service"]


class Service(ABC):
    #: wire message types this service accepts (the node decodes them)
    message_types: tuple[type, ...] = ()
    #: timers whose name starts with this prefix are routed here
    timer_prefix: str = ""

    #: with a key, the node keeps this service's ``SaveState`` records and resumes it from the last one
    state_key: str = ""

    def start(self, now: float) -> list[Effect]:
        """Effects to run when the node starts."""
        return []

    def resume(self, saved: bytes, ledger: Any, now: float) -> list[Effect]:
        """Instead of :meth:`start` after a restart: continue from the last saved record (encoded),
        with read-only access to the node's committed chain (``ledger``: blocks, transaction ids)."""
        return self.start(now)

    @abstractmethod
    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        """A decoded message of one of :attr:`message_types` from ``sender``."""

    def on_timer(self, name: str, now: float) -> list[Effect]:
        return []

    def on_block(self, block: Block, receipts: list[Receipt], now: float) -> list[Effect]:
        """A block was committed, stored durably and executed (with its receipts)."""
        return []

    def on_undeliverable(self, to: str, message: Any, now: float) -> list[Effect]:
        """The driver gave up delivering ``message`` to ``to`` (peer down or link cut)."""
        return []

    def prepare_proposal(self, height: int, chosen: list[Any], pending: list[Any], now: float) -> list[Any]:
        """Transactions of this service for a block the node proposes at ``height`` (ABCI++
        PrepareProposal; see :data:`edgeledger.consensus.base.ProposalHook`); none by default."""
        return []

    def execute(self, job: Any) -> Any:
        """Run the local work of a ``Compute`` effect this service emitted (e.g. training)."""
        raise LocalProtocolError(f"{type(self).__name__} emitted Compute but defines no execute()")

    def on_computed(self, job: Any, result: Any, now: float) -> list[Effect]:
        """The result of :meth:`execute`, delivered after the job's duration."""
        return []
