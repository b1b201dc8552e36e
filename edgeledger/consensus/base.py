"""The consensus interface every protocol implements, and its registry.

Like CometBFT's split of consensus from the application, a consensus core orders
transactions into blocks and emits :class:`CommitBlock`; executing a committed block is the
node's job. Cores are sans-IO: they consume inputs with the current time ``now`` and return
effects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edgeledger.effects import Effect
from edgeledger.ledger.block import Block
from edgeledger.ledger.transaction import Transaction
from edgeledger.registry import Registry

__all__ = ["Consensus", "CommitBlock", "Persist", "Forget", "CommittedLedger", "ProposalHook", "consensus_protocols"]


class CommittedLedger(Protocol):
    """Read-only view of the blocks a node has durably committed (its chain store): a core that
    keeps only its window in memory asks it for older blocks and committed transaction ids.
    Reads only; the core never writes through it (writes stay effects)."""

    @property
    def height(self) -> int: ...

    def block(self, height: int) -> Block | None: ...

    def locate_transaction(self, tx_id: bytes) -> tuple[int, int] | None: ...


#: ABCI++'s PrepareProposal, reduced: ``(height, chosen, pending, now) -> extra`` -- the node's
#: application may append transactions of its own (signed by the proposer) to a block this
#: replica proposes at ``height``, given the mempool transactions ``chosen`` for it and the
#: transactions of blocks on its branch that are not final yet (``pending``). Pure: called
#: again whenever a template is rebuilt.
ProposalHook = Callable[[int, list[Transaction], list[Transaction], float], list[Transaction]]


@dataclass(frozen=True, slots=True)
class CommitBlock(Effect):
    """``block`` (with its certificate) is final: store it durably, then execute it."""

    block: Block


@dataclass(frozen=True, slots=True)
class Persist(Effect):
    """Write ``record`` under ``key`` to the node's durable consensus log.

    The driver makes it durable before it carries out any later effect of the same input, so a
    vote never leaves a replica that could forget it in a crash (Castro & Liskov, TOCS 2002,
    section 4: a replica's log must be stable before its messages are sent). ``height`` 0 keeps
    the entry until a newer one with the same key replaces it; ``height`` h >= 1 lets a
    :class:`Forget` through h drop it."""

    key: str
    height: int
    record: Any


@dataclass(frozen=True, slots=True)
class Forget(Effect):
    """Drop durable consensus-log entries of heights 1..``through_height`` (garbage collection)."""

    through_height: int


class Consensus(ABC):
    """One replica (or miner) of a consensus protocol."""

    #: the wire message types this protocol sends, for the node's decoder
    message_types: tuple[type, ...] = ()
    #: the prefix of every timer name this protocol sets (the node routes those timers here)
    timer_prefix: str = "consensus."
    #: the application's PrepareProposal (set by the node); protocols that build blocks call it
    prepare_proposal: ProposalHook | None = None

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

    #: how many of the newest committed blocks :meth:`resume` needs (None: every one)
    resume_depth: int | None = None

    def use_ledger(self, ledger: CommittedLedger) -> None:
        """The node hands its committed chain (read-only) before any input; nothing by default."""

    def resume(self, blocks: list[Block], durable: list[bytes] | None = None) -> None:
        """Restart from the node's committed ``blocks`` and its durable consensus log (the encoded
        records of every :class:`Persist` not yet forgotten, in key order); nothing by default."""

    def proposal_ready(self, now: float) -> list[Effect]:
        """The application has transactions for :attr:`prepare_proposal`: a protocol that proposes
        only when its mempool holds requests (PBFT) proposes soon anyway; miners mine anyway."""
        return []

    @staticmethod
    def with_extras(chosen: list[Transaction], hook: ProposalHook | None, height: int,
                    pending: list[Transaction], now: float, max_txs: int) -> list[Transaction]:
        """``chosen`` plus the application's extra transactions, at most ``max_txs`` in all: mempool
        transactions make room for the extras (which the hook then sees gone)."""
        if hook is None:
            return chosen
        extra = hook(height, chosen, pending, now)
        if not extra:
            return chosen
        if len(chosen) + len(extra) > max_txs:
            chosen = chosen[: max(0, max_txs - len(extra))]
            extra = hook(height, chosen, pending, now)
        seen = {tx.tx_id for tx in chosen}
        return chosen + [tx for tx in extra[:max_txs] if tx.tx_id not in seen]

    def validators_changed(self, committed_in: int, now: float) -> list[Effect]:
        """The node updated the membership's validator schedule after executing block
        ``committed_in``; a protocol with a validator set reacts (see PBFT's activation rule)."""
        return []


consensus_protocols: Registry[type[Consensus]] = Registry("consensus protocol")
