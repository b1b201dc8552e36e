"""A peer's private data: Fabric's private data collections, side database and transient store.

Fabric (Androulaki et al. 2018; Fabric 1.2+ private data): a call writes private data with
``put_private``; the chain and every peer get only sha256 of key and value (the hashed
write set, validated and versioned like any key); the plaintext stays with the members of
the collection. Here a collection is an *implicit* one (``_implicit_org_<id>``, Fabric 2.x),
held by one identity: a write to it needs that member's endorsement, so the member's peer
simulated the call, saw the plaintext and kept it in its transient store. When the block
commits the transaction as valid, the member moves the plaintext into its side database --
only if it matches the hash on chain. Everything else is dropped.
"""

from __future__ import annotations

from collections import OrderedDict

from edgeledger.codec import decode
from edgeledger.crypto.hashing import sha256
from edgeledger.ledger.block import Block
from edgeledger.ledger.contracts.records import ContractCall
from edgeledger.ledger.contracts.runtime import collection_owner, private_hash_key
from edgeledger.ledger.state import Receipt
from edgeledger.errors import EdgeLedgerError

__all__ = ["PrivateStore", "MAX_TRANSIENT"]

#: proposals whose private writes a peer keeps while their transactions are ordered
MAX_TRANSIENT = 4096


class PrivateStore:
    """The private data ``node_id`` holds, and what it keeps for transactions not yet committed."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.data: dict[tuple[str, str, str], bytes | None] = {}  # (contract, collection, key) -> value bytes
        self.transient: OrderedDict[tuple[str, int], tuple[str, dict[tuple[str, str], bytes | None]]] = OrderedDict()

    def holds(self, collection: str) -> bool:
        return collection_owner(collection) == self.node_id

    def view(self, contract: str, collection: str, key: str) -> bytes | None:
        """The plaintext of a private key this peer holds (the contract runtime's private view)."""
        return self.data.get((contract, collection, key)) if self.holds(collection) else None

    def keep(self, contract: str, sender: str, nonce: int, writes: dict[tuple[str, str], bytes | None]) -> None:
        """Keep the plaintext of the collections we hold from an endorsed proposal until it commits."""
        mine = {ck: v for ck, v in writes.items() if self.holds(ck[0])}
        if not mine:
            return
        self.transient[(sender, nonce)] = (contract, mine)
        while len(self.transient) > MAX_TRANSIENT:
            self.transient.popitem(last=False)

    def on_block(self, block: Block, receipts: list[Receipt]) -> int:
        """Move the private data of valid committed calls into the side database; returns how many
        values were stored."""
        stored = 0
        for tx, receipt in zip(block.transactions, receipts):
            kept = self.transient.pop((tx.sender, tx.nonce), None)
            if kept is None or not receipt.ok or tx.kind != "contract.call":
                continue
            contract, writes = kept
            try:
                call = decode(tx.payload, ContractCall)
            except EdgeLedgerError:
                continue
            if call.endorsement is None or call.contract != contract:
                continue
            hashes = {w.key: w.value for w in call.endorsement.write_set}
            for (collection, key), value in writes.items():
                on_chain = hashes.get(private_hash_key(collection, key))
                if value is not None and on_chain is not None and decode(on_chain, bytes) == sha256(value):
                    self.data[(contract, collection, key)] = value
                    stored += 1
        return stored
