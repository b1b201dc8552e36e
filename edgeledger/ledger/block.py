"""Blocks, their headers and commit certificates.

A block's hash covers its header only; the header commits to the transactions through
their Merkle root (RFC 6962 tree), so a light client can check one transaction with an
inclusion proof. The commit certificate is 2f+1 validator signatures over the *commit
statement* ``(chain, view, height, block hash)`` — the same bytes a PBFT replica signs in
its COMMIT message (Castro & Liskov 1999, section 4.2) — so a certificate can be checked
by anyone who knows the validator keys.
"""

from __future__ import annotations

from functools import lru_cache

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.merkle import merkle_root
from edgeledger.ledger.transaction import Transaction

__all__ = [
    "BlockHeader",
    "CommitVote",
    "CommitCertificate",
    "Block",
    "SealedHeader",
    "block_hash",
    "commit_statement",
    "transactions_root",
    "GENESIS_PREV_HASH",
]

GENESIS_PREV_HASH = bytes(32)


class BlockHeader(Record):
    chain_id: str
    height: int
    prev_hash: bytes
    tx_root: bytes
    tx_count: int
    proposer: str
    timestamp_ms: int  # from the driver's clock: simulated or wall time


class CommitVote(Record):
    replica: str
    signature: bytes


class CommitCertificate(Record):
    view: int
    height: int
    block_hash: bytes
    votes: list[CommitVote]


class Block(Record):
    header: BlockHeader
    transactions: list[Transaction]
    certificate: CommitCertificate | None = None  # PBFT: 2f+1 commit signatures
    seal: bytes | None = None  # PoW: the encoded proof-of-work header (outside the hash, like the certificate)

    @property
    def hash(self) -> bytes:
        return block_hash(self.header)

    @property
    def height(self) -> int:
        return self.header.height

    def sealed_header(self) -> SealedHeader:
        return SealedHeader(header=self.header, certificate=self.certificate, seal=self.seal)


class SealedHeader(Record):
    """A header with its finality proof, without the body: what a light client keeps."""

    header: BlockHeader
    certificate: CommitCertificate | None = None
    seal: bytes | None = None

    @property
    def hash(self) -> bytes:
        return block_hash(self.header)

    @property
    def height(self) -> int:
        return self.header.height


@lru_cache(maxsize=8192)
def block_hash(header: BlockHeader) -> bytes:
    """sha256 of the canonical header (memoised: a header is frozen, and replicas ask for a block's
    hash many times while it is proposed, voted on, committed and served)."""
    return sha256(encode(header))


def transactions_root(transactions: list[Transaction]) -> bytes:
    return merkle_root([encode(tx) for tx in transactions])


def commit_statement(chain_id: str, view: int, height: int, digest: bytes) -> bytes:
    """The bytes a validator signs to commit ``digest`` at ``height`` in ``view``."""
    return encode(("edgeledger-commit", chain_id, view, height, digest))
