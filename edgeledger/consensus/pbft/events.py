"""PBFT wire messages (Castro & Liskov, OSDI 1999, sections 4.2-4.4; TOCS 2002 section 4).

Each consensus message is signed by the replica named in it. A PRE-PREPARE carries the
proposed block (the "request batch"); PREPARE and COMMIT carry only its digest. A COMMIT's
signature is over :func:`edgeledger.ledger.block.commit_statement`, so the COMMITs a
replica collected are directly the block's commit certificate. CHECKPOINT, VIEW-CHANGE and
NEW-VIEW are the recovery messages of section 4.3/4.4; FETCH-BLOCKS / BLOCKS carry state
transfer (blocks travel with their commit certificates, so they need no signature).
"""

from __future__ import annotations

from typing import TypeVar

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.ledger.block import Block, commit_statement
from edgeledger.ledger.transaction import Transaction

__all__ = ["PrePrepare", "Prepare", "Commit", "ForwardRequest", "Checkpoint", "PreparedCertificate", "ViewChange",
           "NewView", "FetchBlocks", "BlockBatch", "PBFT_MESSAGES", "SIGNED_MESSAGES", "prepare_statement", "SignedMessage",
           "Vote"]


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
    """A client transaction relayed to the validators (paper section 4.1)."""

    tx: Transaction


class Checkpoint(Record, tag="pbft.checkpoint"):
    """``replica`` committed ``height`` whose block hash (the state digest) is ``digest``."""

    height: int
    digest: bytes
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        return prepare_statement("checkpoint", chain_id, 0, self.height, self.digest)


class PreparedCertificate(Record):
    """A PRE-PREPARE plus 2f matching PREPAREs from distinct other replicas (the P set entry)."""

    pre_prepare: PrePrepare
    prepares: list[Prepare]


class ViewChange(Record, tag="pbft.view-change"):
    """Vote to move to ``new_view``: the sender's stable checkpoint with its proof, and every
    request prepared above it (section 4.4)."""

    new_view: int
    checkpoint_height: int
    checkpoint_digest: bytes
    checkpoint_proof: list[Checkpoint]
    prepared: list[PreparedCertificate]
    committed_height: int
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        body = (self.new_view, self.checkpoint_height, self.checkpoint_digest, self.checkpoint_proof,
                self.prepared, self.committed_height, self.replica)
        return prepare_statement("view-change", chain_id, self.new_view, self.checkpoint_height, sha256(encode(body)))


class NewView(Record, tag="pbft.new-view"):
    """The new primary's proof (2f+1 VIEW-CHANGEs) and its re-proposals (the O set)."""

    view: int
    view_changes: list[ViewChange]
    pre_prepares: list[PrePrepare]
    replica: str
    signature: bytes = b""

    def signing_bytes(self, chain_id: str) -> bytes:
        body = ([vc.signature for vc in self.view_changes], [p.signature for p in self.pre_prepares], self.replica)
        return prepare_statement("new-view", chain_id, self.view, 0, sha256(encode(body)))


class FetchBlocks(Record, tag="pbft.fetch-blocks"):
    """State transfer request: committed blocks from ``from_height`` on (at most ``limit``)."""

    from_height: int
    limit: int
    replica: str


class BlockBatch(Record, tag="pbft.blocks"):
    """State transfer reply: committed blocks with certificates, and the sender's chain tip."""

    blocks: list[Block]
    tip_height: int
    replica: str


def prepare_statement(phase: str, chain_id: str, view: int, height: int, digest: bytes) -> bytes:
    return encode(("edgeledger-pbft", phase, chain_id, view, height, digest))


PBFT_MESSAGES = (PrePrepare, Prepare, Commit, ForwardRequest, Checkpoint, ViewChange, NewView, FetchBlocks, BlockBatch)
SIGNED_MESSAGES = (PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView)

#: a message the replica signs (``PbftReplica._sign`` returns the same type it was given)
SignedMessage = TypeVar("SignedMessage", PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView)
#: a normal-case vote (``PbftReplica._cast``)
Vote = TypeVar("Vote", PrePrepare, Prepare, Commit)
