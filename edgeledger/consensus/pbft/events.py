"""PBFT wire messages (Castro & Liskov, OSDI 1999, section 4.2).

Each is signed by the replica named in it. A PRE-PREPARE carries the proposed block (the
"request batch"); PREPARE and COMMIT carry only its digest. A COMMIT's signature is over
:func:`edgeledger.ledger.block.commit_statement`, so the COMMITs a replica collected are
directly the block's commit certificate.
"""

from __future__ import annotations

from edgeledger.codec import Record, encode
from edgeledger.ledger.block import Block, commit_statement
from edgeledger.ledger.transaction import Transaction

__all__ = ["PrePrepare", "Prepare", "Commit", "ForwardRequest", "PBFT_MESSAGES", "prepare_statement"]


class PrePrepare(Record, tag="pbft.pre-prepare"):
    view: int
    height: int
    block: Block
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        return prepare_statement("pre-prepare", chain_id, self.view, self.height, self.block.hash)


class Prepare(Record, tag="pbft.prepare"):
    view: int
    height: int
    digest: bytes
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        return prepare_statement("prepare", chain_id, self.view, self.height, self.digest)


class Commit(Record, tag="pbft.commit"):
    view: int
    height: int
    digest: bytes
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        return commit_statement(chain_id, self.view, self.height, self.digest)


class ForwardRequest(Record, tag="pbft.request"):
    """A client transaction relayed by a backup to the primary (paper section 4.1)."""

    tx: Transaction


def prepare_statement(phase: str, chain_id: str, view: int, height: int, digest: bytes) -> bytes:
    return encode(("edgeledger-pbft", phase, chain_id, view, height, digest))


PBFT_MESSAGES = (PrePrepare, Prepare, Commit, ForwardRequest)
