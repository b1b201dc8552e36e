"""Light-client checks a device runs before it trusts a global model (ChainFL's download defense).

A device keeps no chain; it trusts the validator keys of the genesis. A model is accepted
only when (1) the header carries a valid finality proof (a commit certificate of 2f+1
validators; on a PoW chain its seal, see ``WorkFinality``), (2) the
``fl.round_open`` transaction is included in that header by Merkle proof, (3) it is signed
by an aggregator (or, for ``fl.winner_open``, by the validator that proposed that very block:
the consensus winner), and (4) the model bytes hash to the digest the transaction names.
"""

from __future__ import annotations

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.merkle import verify_merkle_proof
from edgeledger.errors import ChainValidationError, IntegrityError, SignatureError
from edgeledger.fl.round.chain import AGGREGATOR_ROLES
from edgeledger.fl.round.events import KIND_OPEN, KIND_WINNER_OPEN, ModelAnnouncement, RoundOpen
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import verify_transaction
from edgeledger.ledger.block import SealedHeader
from edgeledger.ledger.validation import CERTIFICATE_FINALITY, Finality

__all__ = ["verify_announcement"]


def verify_announcement(
    msg: ModelAnnouncement, membership: Membership, check_digest: bool = True,
    finality: Finality = CERTIFICATE_FINALITY,
) -> RoundOpen:
    """Return the committed ``RoundOpen`` or raise naming the check that failed."""
    finality.verify(SealedHeader(header=msg.header, certificate=msg.certificate, seal=msg.seal), None, membership)
    if not verify_merkle_proof(encode(msg.open_tx), msg.proof, msg.header.tx_root):
        raise ChainValidationError(
            f"round_open is not included in block {msg.header.height} (Merkle proof fails)"
        )
    tx = msg.open_tx
    by_aggregator = tx.kind == KIND_OPEN and membership.role(tx.sender) in AGGREGATOR_ROLES
    by_winner = (tx.kind == KIND_WINNER_OPEN and tx.sender == msg.header.proposer
                 and membership.is_validator_at(tx.sender, msg.header.height))
    if not (by_aggregator or by_winner):
        raise SignatureError(
            f"{tx.kind} from {tx.sender!r} is not an aggregator's round_open nor the block winner's winner_open"
        )
    verify_transaction(msg.open_tx, membership)
    body = decode(msg.open_tx.payload, RoundOpen)
    if check_digest:
        digest = sha256(msg.model)
        if digest != body.global_digest:
            raise IntegrityError(
                f"global model of round {body.round} hashes to {digest.hex()[:16]}, "
                f"but the chain names {body.global_digest.hex()[:16]}"
            )
    return body
