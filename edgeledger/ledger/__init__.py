"""Ledger: transactions, blocks, validation, durable storage, blobs and the state machine."""

from edgeledger.ledger.blobs import BlobStore, DirectoryBlobStore, MemoryBlobStore, check_blob
from edgeledger.ledger.block import (
    Block, BlockHeader, CommitCertificate, CommitVote, block_hash, commit_statement, transactions_root,
)
from edgeledger.ledger import kv  # noqa: F401  (registers kv.set)
from edgeledger.ledger import clock  # noqa: F401  (registers clock.tick: the chain's BFT time)
from edgeledger.ledger.identity import Genesis, Identity, Membership, genesis_hash
from edgeledger.ledger.state import LedgerState, Receipt, TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import Transaction, make_transaction, verify_transaction
from edgeledger.ledger.validation import validate_block, validate_certificate, validate_chain

__all__ = [
    "BlobStore", "DirectoryBlobStore", "MemoryBlobStore", "check_blob",
    "Block", "BlockHeader", "CommitCertificate", "CommitVote", "block_hash", "commit_statement",
    "transactions_root", "Genesis", "Identity", "Membership", "genesis_hash", "LedgerState", "Receipt",
    "TransactionRejected", "TxContext", "tx_kinds", "ChainStore", "Transaction", "make_transaction",
    "verify_transaction", "validate_block", "validate_certificate", "validate_chain",
]
