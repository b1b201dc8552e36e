"""Block and chain validation rules (the checks every node, observer or light client runs).

Each rule raises :class:`ChainValidationError` naming the height, the field and what was
expected; nothing is applied until every rule passed. What makes a block *final* depends on
the consensus protocol (a PBFT commit certificate, a PoW seal), so that one check is a
:class:`Finality` rule the caller passes; the default is the commit certificate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container

from edgeledger.errors import ChainValidationError, SignatureError
from edgeledger.ledger.block import (
    Block, BlockHeader, CommitCertificate, SealedHeader, block_hash, commit_statement, transactions_root,
)
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import verify_transaction

__all__ = ["validate_header_link", "validate_body", "validate_certificate", "validate_block", "validate_chain",
           "Finality", "CertificateFinality", "CERTIFICATE_FINALITY"]


def validate_header_link(header: BlockHeader, prev_hash: bytes, height: int, membership: Membership) -> None:
    if header.chain_id != membership.chain_id:
        raise ChainValidationError(f"block {header.height}: chain_id {header.chain_id!r}, expected {membership.chain_id!r}")
    if header.height != height:
        raise ChainValidationError(f"block height {header.height}, expected {height}")
    if header.prev_hash != prev_hash:
        raise ChainValidationError(
            f"block {height}: prev_hash {header.prev_hash.hex()[:16]}, expected {prev_hash.hex()[:16]}")
    if not membership.is_validator_at(header.proposer, header.height):
        raise ChainValidationError(f"block {height}: proposer {header.proposer!r} is not a validator at height {height}")


def validate_body(block: Block, membership: Membership, verified: Container[bytes] = ()) -> None:
    """Count, Merkle root, no duplicates, and every signature — except for transactions whose id is
    in ``verified`` (a replica's mempool: checked once on admission, not again per proposal)."""
    header = block.header
    if header.tx_count != len(block.transactions):
        raise ChainValidationError(f"block {header.height}: tx_count {header.tx_count}, body has {len(block.transactions)}")
    root = transactions_root(block.transactions)
    if root != header.tx_root:
        raise ChainValidationError(
            f"block {header.height}: Merkle root {header.tx_root.hex()[:16]} does not match transactions ({root.hex()[:16]})")
    seen: set[bytes] = set()
    for tx in block.transactions:
        tx_id = tx.tx_id
        if tx_id in seen:
            raise ChainValidationError(f"block {header.height}: transaction {tx_id.hex()[:16]} appears twice")
        seen.add(tx_id)
        if tx_id in verified:
            continue
        try:
            verify_transaction(tx, membership)
        except SignatureError as exc:
            raise ChainValidationError(f"block {header.height}: {exc}") from None


def validate_certificate(header: BlockHeader, cert: CommitCertificate | None, membership: Membership) -> None:
    """2f+1 distinct validators *of the set in force at this height* signed the commit statement
    of this header's hash (votes of replicas outside that set do not count)."""
    if cert is None:
        raise ChainValidationError(f"block {header.height}: no commit certificate")
    digest = block_hash(header)
    if cert.height != header.height or cert.block_hash != digest:
        raise ChainValidationError(f"block {header.height}: certificate is for another block")
    statement = commit_statement(header.chain_id, cert.view, cert.height, digest)
    signers: set[str] = set()
    for vote in cert.votes:
        if vote.replica in signers or not membership.is_validator_at(vote.replica, header.height):
            continue
        if membership.verify(vote.replica, statement, vote.signature):
            signers.add(vote.replica)
    quorum = membership.quorum_at(header.height)
    if len(signers) < quorum:
        raise ChainValidationError(
            f"block {header.height}: certificate has {len(signers)} valid validator signatures of the "
            f"{membership.n_at(header.height)} validators in force, needs a quorum of {quorum}")


class Finality(ABC):
    """The proof that a block is final, checkable by anyone who holds the genesis."""

    #: how many of the newest committed blocks a restarted verifier must :meth:`observe` again
    history_blocks: int = 0

    @abstractmethod
    def verify(self, item: Block | SealedHeader, prev: Block | SealedHeader | None, membership: Membership) -> None:
        """Raise :class:`ChainValidationError` unless ``item`` (whose parent is ``prev``, None at height 1)
        carries a valid proof; the hash link itself is checked by :func:`validate_header_link`."""

    def observe(self, item: Block | SealedHeader) -> None:
        """``item`` was accepted on the verifier's chain (committed, resumed or followed): a proof that
        depends on history (PoW's difficulty retarget) keeps what it needs; nothing by default."""


class CertificateFinality(Finality):
    """PBFT: the block carries 2f+1 commit signatures of the validators in force at its height."""

    def verify(self, item: Block | SealedHeader, prev: Block | SealedHeader | None, membership: Membership) -> None:
        validate_certificate(item.header, item.certificate, membership)


CERTIFICATE_FINALITY = CertificateFinality()


def validate_block(block: Block, prev_hash: bytes, height: int, membership: Membership,
                   finality: Finality = CERTIFICATE_FINALITY, prev: Block | SealedHeader | None = None) -> None:
    validate_header_link(block.header, prev_hash, height, membership)
    validate_body(block, membership)
    finality.verify(block, prev, membership)


def validate_chain(blocks: list[Block], membership: Membership, genesis_hash: bytes,
                   finality: Finality = CERTIFICATE_FINALITY) -> None:
    """Validate a whole chain starting at height 1 on top of ``genesis_hash``; each block against
    the validator set ``membership`` schedules for its height."""
    prev_hash, prev = genesis_hash, None
    for expected, block in enumerate(blocks, start=1):
        validate_block(block, prev_hash, expected, membership, finality, prev)
        prev_hash, prev = block.hash, block
