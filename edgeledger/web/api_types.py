"""The request and response types of every HTTP route a node process serves.

Handlers build their JSON from these structs (or their JSON matches them, for the dashboard
helpers that build dicts), and :mod:`edgeledger.web.openapi` generates the OpenAPI document
from them with ``msgspec.json.schema_components``: the document cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ErrorBody", "Health", "Head", "Receipt", "TransactionView", "Certificate", "BlockView", "MerkleProofView",
    "TransactionLookup", "StateValue", "Submitted", "SubmittedEach", "SubmittedBatch", "BlockReceipts", "BlobStored", "PeerInfo", "LinksRequest", "LinksState",
    "ShuttingDown", "Batch", "NodeRow", "Overview", "BlockSummary", "MarketSnapshot", "OracleStatus",
    "OracleRequest", "OracleFiled", "OracleRequestState", "OracleRequests", "ProvedTransaction", "ProvedBlock",
]


class ErrorBody(msgspec.Struct):
    """Every error: a 4xx (or 503) with the reason."""

    error: str


class Health(msgspec.Struct):
    status: str
    node: str
    role: str
    height: int
    uptime_s: float
    chain_id: str = ""


class Head(msgspec.Struct):
    height: int
    hash: str | None
    view: int | None
    leader: str | None


class Receipt(msgspec.Struct):
    ok: bool
    reason: str
    code: str


class TransactionView(msgspec.Struct):
    id: str
    sender: str
    nonce: int
    kind: str
    payload: Any
    signature: str
    encoded: str
    receipt: Receipt | None = None


class Certificate(msgspec.Struct):
    view: int
    height: int
    block_hash: str
    votes: list[dict[str, str]]


class BlockView(msgspec.Struct):
    index: int
    hash: str
    timestamp_ms: int
    previous_hash: str
    merkle_root: str
    proposer: str
    commit_certificate: Certificate | None
    transactions: list[TransactionView]


class MerkleProofView(msgspec.Struct):
    index: int
    size: int
    path: list[str]


class TransactionLookup(msgspec.Struct):
    height: int
    position: int
    block_hash: str
    merkle_root: str
    transaction: TransactionView
    proof: MerkleProofView
    receipt: dict[str, Any] | None


class StateValue(msgspec.Struct):
    key: str
    value_hex: str
    height: int


class Submitted(msgspec.Struct):
    tx_id: str


class SubmittedEach(msgspec.Struct):
    """One transaction of a ``POST /v1/txs`` batch: the status ``POST /v1/tx`` would have given it."""

    tx_id: str | None
    status: int
    error: str | None = None


class SubmittedBatch(msgspec.Struct):
    accepted: int
    results: list[SubmittedEach]


class BlockReceipts(msgspec.Struct):
    """A block's transaction ids and validity, in block order."""

    height: int
    hash: str
    tx_ids: list[str]
    ok: list[bool]
    codes: list[str | None]


class BlobStored(msgspec.Struct):
    digest: str
    size: int
    named: bool  # a committed transaction names it; otherwise it is kept for a bounded window only


class PeerInfo(msgspec.Struct):
    address: str
    role: str | None


class LinksRequest(msgspec.Struct, forbid_unknown_fields=True):
    block: list[str] = []
    unblock: list[str] = []


class LinksState(msgspec.Struct):
    blocked: list[str]


class ShuttingDown(msgspec.Struct):
    status: str


class Batch(msgspec.Struct):
    """The answer to a batch of signed envelopes (``POST /v1/messages``)."""

    accepted: int
    of: int


class NodeRow(msgspec.Struct):
    id: str
    role: str
    validator: bool
    status: str
    address: str
    attack: str | None = None  # the attack a simulated node runs
    height: int | None = None  # as the node itself reports it (live) or as it ended (a finished run)
    view: int | None = None


class TopologyLink(msgspec.Struct):
    """A link of the drawn topology; ``tampering``: its upper end tampers with what crosses it."""

    a: str
    b: str
    tampering: bool = False


class Overview(msgspec.Struct):
    """The dashboard's summary (``ready`` false and nothing else while the node starts)."""

    ready: bool
    node: str | None = None
    role: str | None = None
    height: int | None = None
    transactions: int | None = None
    view: int | None = None
    protocol: str | None = None  # "pbft", or "pow": then leader is the newest final block's miner
    leader: str | None = None
    nodes: list[NodeRow] = []
    accuracy: list[tuple[int, float]] = []
    links: list[TopologyLink] = []
    recent_transactions: list[tuple[int, str, str, str]] = []
    keeps_chain: bool | None = None  # false on a device: it verifies announcements, keeps no chain
    light_client: bool | None = None
    validator: str | None = None  # the validator a non-validator node forwards to
    validator_url: str = ""
    hidden_devices: int = 0  # devices not drawn (the topology shows the first ones)
    malicious: dict[str, str] = {}
    clock: Any = None
    pending: dict[str, Any] = {}  # transactions submitted here and not committed yet
    rejections: dict[str, Any] = {}  # rejected uploads and downloads, grouped by reason
    tx_per_day: dict[str, Any] = {}  # transactions committed per day (or hour, minute): points and unit


class BlockSummary(msgspec.Struct):
    height: int
    hash: str
    proposer: str
    timestamp_ms: int
    txs: int
    kinds: dict[str, int]
    signers: int


class MarketSnapshot(msgspec.Struct):
    """The market contracts' state (``ready`` false while the node starts)."""

    ready: bool = True
    height: int | None = None
    contracts: list[dict[str, Any]] = []
    edge_nodes: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    balances: list[dict[str, Any]] = []
    supply: int = 0
    audit: Any = None


class OracleStatus(msgspec.Struct):
    node: str
    role: str
    ready: bool
    height: int
    fulfilled_as_master: list[Any] = []  # an oracle member's part (absent on other roles)
    pending: list[Any] = []
    masters: dict[str, str] = {}


class OracleRequest(msgspec.Struct, forbid_unknown_fields=True):
    sensor: str = "boiler"
    ttl_blocks: int = 200


class OracleFiled(msgspec.Struct):
    tx_id: str
    timestamp_ms: int


class OracleRequestState(msgspec.Struct):
    tx_id: str
    request_id: Any
    sensor_timestamp_ms: int | None
    filed_at: float
    called_back_at: float | None
    latency_s: float | None
    value_milli: Any
    fulfilled_at_height: Any


class OracleRequests(msgspec.Struct):
    requests: list[OracleRequestState]


class ProvedTransaction(TransactionView):
    proof: MerkleProofView | None = None


class ProvedBlock(msgspec.Struct):
    """One block for the dashboard: every transaction with its Merkle inclusion proof."""

    index: int
    hash: str
    timestamp_ms: int
    previous_hash: str
    merkle_root: str
    proposer: str
    commit_certificate: Certificate | None
    transactions: list[ProvedTransaction]


