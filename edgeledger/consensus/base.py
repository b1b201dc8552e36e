"""The consensus interface every protocol implements, and its registry.

Like CometBFT's split of consensus from the application, a consensus core orders
transactions into blocks and emits :class:`CommitBlock`; executing a committed block is the
node's job. Cores are sans-IO: they consume inputs with the current time ``now`` and return
effects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from edgeledger.effects import Effect
from edgeledger.ledger.block import Block
from edgeledger.ledger.transaction import Transaction
from edgeledger.registry import Registry

__all__ = ["Consensus", "CommitBlock", "consensus_protocols"]


@dataclass(frozen=True, slots=True)
class CommitBlock(Effect):
    """``block`` (with its certificate) is final: store it durably, then execute it."""

    block: Block


class Consensus(ABC):
    """One replica (or miner) of a consensus protocol."""

    #: the wire message types this protocol sends, for the node's decoder
    message_types: tuple[type, ...] = ()
    #: the prefix of every timer name this protocol sets (the node routes those timers here)
    timer_prefix: str = "consensus."

    def start(self, now: float) -> list[Effect]:
        """The node started (a miner begins mining); most protocols only react to inputs."""
        return []

    @abstractmethod
    def submit(self, tx: Transaction, now: float) -> list[Effect]:
        """A transaction arrives from a local client or the mempool of a peer."""

    @abstractmethod
    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        """A consensus message from ``sender`` (already decoded into a typed record)."""

    @abstractmethod
    def timer(self, name: str, now: float) -> list[Effect]:
        """Timer ``name`` set earlier through ``SetTimer`` fired."""

    def validators_changed(self, committed_in: int, now: float) -> list[Effect]:
        """The node updated the membership's validator schedule after executing block
        ``committed_in``; a protocol with a validator set reacts (see PBFT's activation rule)."""
        return []


consensus_protocols: Registry[type[Consensus]] = Registry("consensus protocol")
