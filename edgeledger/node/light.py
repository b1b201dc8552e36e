"""Light clients: follow the chain by headers only and check one transaction by Merkle proof.

A light client trusts nothing but the genesis. It keeps each block's :class:`SealedHeader`
(header + finality proof, no transactions) and accepts a header only when it links to the
previous one (height, ``prev_hash``, chain id, proposer a genesis validator) and carries a
valid finality proof (PBFT: 2f+1 commit signatures of the genesis validators; PoW: its seal,
see ``WorkFinality``). A transaction is then proven included by an RFC 6962 audit path to the
header's ``tx_root`` (the SPV check of Nakamoto 2008 §8). Proofs come from a full node: the
read API ``GET /v1/tx/{id}`` (:meth:`InclusionProof.from_api`) or, in simulation, straight
from a node's store (:func:`prove_inclusion`). Sans-IO: the caller fetches, the client checks.
Headers are checked against the validator set in force at their height; a light client keeps
no state, so validator changes reach it only as a schedule its operator sets on its
:class:`Membership` (``set_schedule``), never from the headers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.merkle import MerkleProof, merkle_proof, verify_merkle_proof
from edgeledger.effects import Effect, Rejected
from edgeledger.errors import ChainValidationError, DecodeError
from edgeledger.ledger.block import Block, SealedHeader
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.store import ChainStore
from edgeledger.ledger.transaction import Transaction
from edgeledger.ledger.validation import CERTIFICATE_FINALITY, Finality, validate_header_link
from edgeledger.node.gossip import MAX_WAITING_COPIES, CommittedBlock

__all__ = ["LightClient", "InclusionProof", "prove_inclusion"]


class InclusionProof(Record):
    """Evidence that ``tx`` sits in the block at ``height``: the audit path to its ``tx_root``."""

    height: int
    tx: Transaction
    proof: MerkleProof

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> InclusionProof:
        """Parse the JSON of ``GET /v1/tx/{id}`` (a full node's read API)."""
        try:
            tx = decode(bytes.fromhex(body["transaction"]["encoded"]), Transaction)
            p = body["proof"]
            proof = MerkleProof(index=int(p["index"]), size=int(p["size"]), path=[bytes.fromhex(h) for h in p["path"]])
            return cls(height=int(body["height"]), tx=tx, proof=proof)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"/v1/tx response: {exc!r}; expected height, transaction.encoded and proof") from None


def prove_inclusion(store: ChainStore, tx_id: bytes) -> InclusionProof | None:
    """What a full node answers a light client: the transaction and its audit path (None if absent)."""
    where = store.locate_transaction(tx_id)
    if where is None:
        return None
    block = store.block(where[0])
    assert block is not None
    leaves = [encode(t) for t in block.transactions]
    return InclusionProof(height=where[0], tx=block.transactions[where[1]], proof=merkle_proof(leaves, where[1]))


@dataclass
class LightClient:
    """Headers only, each verified against the genesis validators and the previous header."""

    node_id: str
    membership: Membership
    finality: Finality = CERTIFICATE_FINALITY
    headers: list[SealedHeader] = field(default_factory=list)
    _pending: dict[int, list[SealedHeader]] = field(default_factory=dict)  # height -> distinct copies

    @property
    def height(self) -> int:
        return len(self.headers)

    def accept(self, item: SealedHeader | Block) -> None:
        """Append the next header or raise :class:`ChainValidationError` (nothing changes then)."""
        sealed = item.sealed_header() if isinstance(item, Block) else item
        prev = self.headers[-1] if self.headers else None
        prev_hash = prev.hash if prev is not None else self.membership.genesis_hash
        validate_header_link(sealed.header, prev_hash, self.height + 1, self.membership)
        self.finality.verify(sealed, prev, self.membership)
        self.headers.append(sealed)
        self.finality.observe(sealed)

    def header(self, height: int) -> SealedHeader | None:
        return self.headers[height - 1] if 1 <= height <= self.height else None

    def verify_inclusion(self, evidence: InclusionProof) -> Transaction:
        """Return the transaction once its audit path reaches a verified header's root; else raise."""
        sealed = self.header(evidence.height)
        if sealed is None:
            raise ChainValidationError(f"inclusion proof for height {evidence.height}: this light client has "
                                       f"verified headers up to {self.height} only")
        if not verify_merkle_proof(encode(evidence.tx), evidence.proof, sealed.header.tx_root):
            raise ChainValidationError(f"transaction {evidence.tx.tx_id.hex()[:16]} is not included in block "
                                       f"{evidence.height} (Merkle proof fails against its tx_root)")
        return evidence.tx

    # -- as a node kind: validators push committed blocks to their observers ------------------
    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        """Take a pushed block's header (the body is dropped); out-of-order pushes wait."""
        if not isinstance(message, CommittedBlock):
            return [Rejected(sender, type(message).__name__, "a light client accepts only chain.block pushes")]
        if self.membership.role(sender) is None:
            return [Rejected(sender, "chain.block", f"{sender!r} is not a member of this chain")]
        height = message.block.height
        if self.height < height <= self.height + 1024:
            waiting, sealed = self._pending.setdefault(height, []), message.block.sealed_header()
            if len(waiting) < MAX_WAITING_COPIES and sealed not in waiting:  # a forged copy must not hide the real one
                waiting.append(sealed)
        effects: list[Effect] = []
        while (copies := self._pending.pop(self.height + 1, None)) is not None:
            for nxt in copies:
                try:
                    self.accept(nxt)
                    break
                except ChainValidationError as exc:
                    effects.append(Rejected(sender, "chain.block", str(exc)))
            else:  # no copy verifies: wait for another
                break
        return effects
