"""The client side of PBFT (Castro & Liskov 1999, §4.1): submit, retransmit, accept on f+1 replies.

A client signs each transaction with the next nonce of its sender (nonces strictly increase,
so a replayed or duplicated request is refused by the chain state), sends it to every
validator, and re-sends on a timer until it holds a result. Each validator answers a
committed transaction with a signed :class:`CommitReply` naming the height and block hash
where it committed. Up to f validators may lie, so the client accepts a result only when
f+1 *distinct* validators signed the *same* (height, block hash): at least one of them is
honest, and honest validators never disagree on a committed block. Validators and f are
those in force at the reply's height in the client's :class:`Membership` schedule (whoever
runs the client keeps it current, e.g. from a full node). Sans-IO: the driver delivers
replies and timers; the client returns effects and records results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import Record, encode
from edgeledger.consensus.pbft.events import ForwardRequest
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, CancelTimer, Effect, Rejected, SetTimer
from edgeledger.errors import ConfigError
from edgeledger.ledger.block import Block
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, make_transaction

__all__ = ["CommitReply", "CommitResult", "PbftClient", "make_replies", "reply_statement", "RETRY_TIMER"]

RETRY_TIMER = "client.retry:"  # + the transaction id in hex


class CommitReply(Record, tag="client.reply"):
    """Validator ``replica`` says ``tx_id`` committed at ``height`` in block ``block_hash``."""

    replica: str
    tx_id: bytes
    height: int
    block_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class CommitResult:
    """A transaction's commit as f+1 validators vouched for it."""

    tx_id: bytes
    height: int
    block_hash: bytes
    replicas: tuple[str, ...]


def reply_statement(chain_id: str, tx_id: bytes, height: int, block_hash: bytes) -> bytes:
    """The bytes a validator signs in a :class:`CommitReply`."""
    return encode(("edgeledger-reply", chain_id, tx_id, height, block_hash))


def make_replies(block: Block, replica: str, key: PrivateKey, senders: set[str] | None = None) -> list[CommitReply]:
    """A validator's signed replies for the transactions of its committed ``block`` (those of ``senders``)."""
    out = []
    for tx in block.transactions:
        if senders is None or tx.sender in senders:
            tx_id = tx.tx_id
            signature = key.sign(reply_statement(block.header.chain_id, tx_id, block.height, block.hash))
            out.append(CommitReply(replica=replica, tx_id=tx_id, height=block.height, block_hash=block.hash,
                                   signature=signature))
    return out


@dataclass
class _Pending:
    tx: Transaction
    votes: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # replica -> its first (height, hash)


class PbftClient:
    """One sender's client: nonces, submission to all validators, retransmission, the f+1 reply rule."""

    def __init__(self, sender: str, key: PrivateKey, membership: Membership, retry_s: float = 2.0,
                 last_nonce: int = 0) -> None:
        if membership.role(sender) is None:
            raise ConfigError(f"client sender {sender!r} has no identity in the genesis")
        self.sender, self.key, self.membership, self.retry_s = sender, key, membership, retry_s
        self.last_nonce = last_nonce  # the highest nonce this sender has used (from the chain state on start)
        self.pending: dict[bytes, _Pending] = {}
        self.results: dict[bytes, CommitResult] = {}

    def next_nonce(self) -> int:
        self.last_nonce += 1
        return self.last_nonce

    def sync_nonce(self, committed_nonce: int) -> None:
        """Never reuse a nonce the chain already holds (after a restart, or from another device)."""
        self.last_nonce = max(self.last_nonce, committed_nonce)

    def submit(self, kind: str, payload: Any, now: float) -> tuple[Transaction, list[Effect]]:
        """Sign ``payload`` with the next nonce and send it to every validator."""
        tx = make_transaction(self.key, self.sender, self.next_nonce(), kind, payload)
        self.pending[tx.tx_id] = _Pending(tx)
        return tx, self._send(tx)

    def _send(self, tx: Transaction) -> list[Effect]:
        every = self.membership.validators_between(1, 2**62)  # any of them may be the current set
        return [Broadcast(every, ForwardRequest(tx=tx)),
                SetTimer(RETRY_TIMER + tx.tx_id.hex(), self.retry_s)]

    def timer(self, name: str, now: float) -> list[Effect]:
        """Re-send a transaction that has no accepted result yet (the primary may be faulty)."""
        if not name.startswith(RETRY_TIMER):
            return []
        pending = self.pending.get(bytes.fromhex(name.removeprefix(RETRY_TIMER)))
        return self._send(pending.tx) if pending is not None else []

    def receive(self, sender: str, reply: CommitReply, now: float) -> list[Effect]:
        """Count a validator's reply; a result is accepted at f+1 matching (height, block hash)."""
        if not isinstance(reply, CommitReply):
            return [Rejected(sender, type(reply).__name__, "a client accepts only client.reply")]
        if reply.replica != sender or not self.membership.is_validator_at(sender, reply.height):
            return [Rejected(sender, "client.reply", "sender is not the validator named in the reply")]
        pending = self.pending.get(reply.tx_id)
        if pending is None:
            return []  # already decided, or not ours
        statement = reply_statement(self.membership.chain_id, reply.tx_id, reply.height, reply.block_hash)
        if not self.membership.verify(sender, statement, reply.signature):
            return [Rejected(sender, "client.reply", "bad signature")]
        pending.votes.setdefault(sender, (reply.height, reply.block_hash))  # a replica's first answer counts
        claim = (reply.height, reply.block_hash)
        backers = tuple(sorted(r for r, v in pending.votes.items() if v == claim))
        if len(backers) < self.membership.f_at(reply.height) + 1:
            return []
        del self.pending[reply.tx_id]
        self.results[reply.tx_id] = CommitResult(reply.tx_id, reply.height, reply.block_hash, backers)
        return [CancelTimer(RETRY_TIMER + reply.tx_id.hex())]
