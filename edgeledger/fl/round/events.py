"""Messages and transaction payloads of the on-chain FL round (docs/design.md, "A FL round on chain").

On chain (small, integers and digests only): ``RoundOpen`` names the global model digest
and the participants; each device's ``UpdateRecord`` names its update digest; ``RoundClose``
names the aggregated model digest, the contributors and the test accuracy in basis points.
Off chain: the model and update blobs, carried by ``ModelAnnouncement`` and ``UpdateUpload``.
"""

from __future__ import annotations

from edgeledger.codec import Record
from edgeledger.crypto.merkle import MerkleProof
from edgeledger.ledger.block import BlockHeader, CommitCertificate
from edgeledger.ledger.transaction import Transaction

__all__ = [
    "RoundOpen",
    "UpdateRecord",
    "RoundClose",
    "ModelAnnouncement",
    "UpdateUpload",
    "FetchModel",
    "FL_MESSAGES",
    "KIND_OPEN",
    "KIND_UPDATE",
    "KIND_CLOSE",
    "KIND_WINNER_OPEN",
    "KIND_WINNER_CLOSE",
    "OPEN_KINDS",
    "CLOSE_KINDS",
    "DataUpload",
]

KIND_OPEN = "fl.round_open"
KIND_UPDATE = "fl.update"
KIND_CLOSE = "fl.round_close"
# consensus-winner aggregation (FBFL): the block's proposer (PoW miner, PBFT primary) opens and closes
KIND_WINNER_OPEN = "fl.winner_open"
KIND_WINNER_CLOSE = "fl.winner_close"
OPEN_KINDS = (KIND_OPEN, KIND_WINNER_OPEN)
CLOSE_KINDS = (KIND_CLOSE, KIND_WINNER_CLOSE)


class RoundOpen(Record):
    round: int
    global_digest: bytes
    global_size: int
    participants: list[str]


class UpdateRecord(Record):
    round: int
    update_digest: bytes
    update_size: int
    n_samples: int
    claimed_loss_micro: int = -1  # proof-of-learning: claimed validation loss x 1e6; -1 = no claim


class RoundClose(Record):
    round: int
    global_digest: bytes
    contributors: list[str]
    rejected: int
    accuracy_bp: int  # test accuracy in basis points (1/10000): no floats on chain


class ModelAnnouncement(Record, tag="fl.announce"):
    """A committed ``RoundOpen`` with the evidence a device needs to trust it, and the model.

    The device checks the certificate (2f+1 validator signatures over the header), the
    Merkle inclusion of ``open_tx`` in the header, the aggregator's signature on the
    transaction and finally that ``sha256(model)`` is the digest the chain names.
    """

    header: BlockHeader
    certificate: CommitCertificate | None  # PBFT finality; None on a PoW chain
    open_tx: Transaction
    proof: MerkleProof
    model: bytes
    seal: bytes | None = None  # PoW finality: the block's proof-of-work header


class UpdateUpload(Record, tag="fl.upload"):
    """A device's signed ``fl.update`` transaction and the update blob it names."""

    tx: Transaction
    update: bytes


class RelayUpload(Record, tag="fl.relay-upload"):
    """An upload an edge could not deliver to the aggregator, carried by other edges (ChainFL).

    ``hops`` counts the edges it passed and ``via`` names them (the seen-set): a detour never
    revisits an edge and ends after ``MAX_RELAY_HOPS``, counted as undeliverable."""

    upload: UpdateUpload
    hops: int = 0
    via: list[str] = []


class RelayAnnouncement(Record, tag="fl.relay-announce"):
    """A model announcement the aggregator could not deliver to edge ``to``, via other edges
    (``hops`` and ``via`` as in :class:`RelayUpload`)."""

    to: str
    announcement: ModelAnnouncement
    hops: int = 0
    via: list[str] = []


#: edges a detoured message may pass before it is given up (counted as undeliverable)
MAX_RELAY_HOPS = 3


class FetchModel(Record, tag="fl.fetch-model"):
    """A participant asks the aggregator directly for round ``round``'s announcement, after the
    copy its edge delivered failed verification (``fl.download_fallback``)."""

    round: int


class DataUpload(Record, tag="fl.data"):
    """A device's raw training data for its edge server (``fl.trainers = "edge"``, FBFL): the
    samples as float32 bytes of shape ``[n, *shape]`` and their int64 labels."""

    shape: list[int]
    n_classes: int
    x: bytes
    y: bytes


FL_MESSAGES = (ModelAnnouncement, UpdateUpload, RelayUpload, RelayAnnouncement, FetchModel, DataUpload)
