"""A consensus plug-in for tests: one sequencer signs every block alone (n = 1, quorum 1).

Registered as ``solo``; a scenario selects it with ``consensus.protocol = "solo"`` and
``plugins = ["tests.scenario.solo_consensus"]``. Built by the scenario layer as
``SoloSequencer(node_id, key, membership, genesis_hash, **consensus.params)``.
"""

from __future__ import annotations

from typing import Any

from edgeledger.consensus import CommitBlock, Consensus, consensus_protocols
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Effect, Rejected, SetTimer
from edgeledger.errors import SignatureError
from edgeledger.ledger.block import Block, BlockHeader, CommitCertificate, CommitVote, commit_statement, transactions_root
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, verify_transaction


@consensus_protocols.register("solo")
class SoloSequencer(Consensus):
    timer_prefix = "solo."

    def __init__(self, node_id: str, key: PrivateKey, membership: Membership, genesis_hash: bytes,
                 batch_s: float = 0.01) -> None:
        self.node_id, self.key, self.membership = node_id, key, membership
        self.prev, self.height, self.batch_s = genesis_hash, 0, batch_s
        self.pending: list[Transaction] = []
        self.seen: set[bytes] = set()

    def submit(self, tx: Transaction, now: float) -> list[Effect]:
        if tx.tx_id in self.seen:
            return []
        try:
            verify_transaction(tx, self.membership)
        except SignatureError as exc:
            return [Rejected(tx.sender, "transaction", str(exc))]
        self.seen.add(tx.tx_id)
        self.pending.append(tx)
        return [SetTimer("solo.batch", self.batch_s)] if len(self.pending) == 1 else []

    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def timer(self, name: str, now: float) -> list[Effect]:
        if not self.pending:
            return []
        txs, self.pending = self.pending, []
        self.height += 1
        header = BlockHeader(chain_id=self.membership.chain_id, height=self.height, prev_hash=self.prev,
                             tx_root=transactions_root(txs), tx_count=len(txs), proposer=self.node_id,
                             timestamp_ms=int(now * 1000))
        block = Block(header=header, transactions=txs)
        vote = CommitVote(replica=self.node_id,
                          signature=self.key.sign(commit_statement(header.chain_id, 0, self.height, block.hash)))
        block = Block(header=header, transactions=txs,
                      certificate=CommitCertificate(view=0, height=self.height, block_hash=block.hash, votes=[vote]))
        self.prev = block.hash
        return [CommitBlock(block)]
