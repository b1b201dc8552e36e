"""The nouns of Pedal's oracle protocol (Lin, Gao, Shi et al., SewingChain, Algorithm 1).

On chain: an oracle node's :class:`OracleRegistration`, a working :class:`OracleGroup`
(Feldman commitments of its threshold key), a pending :class:`OracleRequest` and the
master's :class:`Fulfillment`. On the wire between oracle nodes: :class:`ElectionProof`
(a node's VRF proof for a term), :class:`Observation` (a member's signed reading),
:class:`ObservationCall` (the master's request for observations), :class:`ResultProposal`
(the master's aggregate) and :class:`ResultShare` (a member's threshold-signature share over
the proposal). The master's call and proposal carry its election certificate -- exactly the
proofs the proxy will check -- so members can follow a master they did not compute themselves.
"""

from __future__ import annotations

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256

__all__ = [
    "OracleRegistration", "OracleGroup", "OracleRequest", "Fulfillment", "ElectionProof", "Observation",
    "ObservationCall", "ResultProposal", "ResultShare", "OracleFulfill", "result_message", "election_input",
    "ORACLE_MESSAGES", "share_index",
]


class OracleRegistration(Record):
    """A registered oracle node: its BLS key (with proof of possession) and VRF key."""

    node_id: str
    bls_public_key: bytes
    vrf_public_key: bytes


class OracleGroup(Record):
    """A signing group: its members, the Feldman commitments C_0..C_{t-1} of its threshold key
    (C_0 is the group key) and the threshold t. ``indices`` gives each member's share index;
    empty means positional (member i holds share i + 1, as the trusted dealer deals). A group
    made by the distributed key generation keeps the indices of the members it opened with,
    so a member excluded for a bad share leaves a gap (:func:`share_index`)."""

    group_id: str
    members: list[str]
    commitments: list[bytes]
    threshold: int
    indices: list[int] = []


def share_index(group: OracleGroup, member: str) -> int:
    """``member``'s share index in ``group``, or -1 when it is not a member."""
    if member not in group.members:
        return -1
    position = group.members.index(member)
    return group.indices[position] if group.indices else position + 1


class OracleRequest(Record):
    """A pending request (Fig. 2): what to fetch or compute, who asked, where to call back."""

    request_id: str
    kind: str  # "data" | "compute" | "cross-chain"
    source: str  # data source id, FL task digest, or destination chain
    params: bytes  # canonical encoding of kind-specific parameters
    requester: str
    requester_certificate: bytes  # the requester's signature over the request body
    callback_contract: str
    callback_method: str
    timestamp_ms: int
    expires_at_height: int
    term: int  # election term: request height // term_blocks
    height: int  # the height the request was filed at
    seed: bytes = b""  # the term's election seed, chained from the previous term's master (empty: the proxy's)
    sealed: bool = False  # params are sealed to the oracle nodes, the result will be sealed to the requester
    stake: int = 0  # tokens the requester escrowed: returned with a result, forfeited for a junk request


class ElectionProof(Record, tag="oracle.vrf"):
    """A node's VRF proof over ``seed || term`` (RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI)."""

    term: int
    node_id: str
    proof: bytes


class Fulfillment(Record):
    """What the master writes to the chain: result, group signature, VRF proof(s).

    ``election`` holds only the master's proof when it qualified; in the fallback (no node
    under the threshold) it holds the proofs of at least 2/3 of the registered nodes and
    the master's is the smallest output among them.
    """

    request_id: str
    result: bytes  # canonical encoding of the result value (integers, bytes, no floats)
    master: str
    group_id: str
    group_public_key: bytes
    signature: bytes
    election: list[ElectionProof]
    work_proof: bytes = b""  # the master's VRF proof that chose the work nodes (see oracle.work)


class OracleFulfill(Record):
    """Payload of the ``oracle.fulfill`` transaction kind."""

    proxy: str
    fulfillment: Fulfillment


class Observation(Record, tag="oracle.observation"):
    """A member's reading for a request, signed with its node key."""

    request_id: str
    node_id: str
    value: bytes  # canonical encoding: fixed-point int for data, digest for compute
    signature: bytes

    def signing_bytes(self) -> bytes:
        return encode(("pedal-observation", self.request_id, self.node_id, self.value))


class ObservationCall(Record, tag="oracle.call"):
    """The master asks its group for observations, with its election certificate (the proofs
    its fulfillment will carry: its own under the threshold, or the fallback set)."""

    request_id: str
    master: str
    group_id: str
    election: list[ElectionProof]
    work_proof: bytes = b""  # the master's VRF proof that chose the work nodes it calls


class ResultProposal(Record, tag="oracle.proposal"):
    """The master's aggregate, the observations it came from and its election certificate,
    for members to check."""

    request_id: str
    master: str
    group_id: str
    result: bytes
    observations: list[Observation]
    election: list[ElectionProof]
    work_proof: bytes = b""


class ResultShare(Record, tag="oracle.share"):
    """A member's threshold-signature share over :func:`result_message`."""

    request_id: str
    node_id: str
    index: int
    signature_share: bytes


ORACLE_MESSAGES: tuple[type, ...] = (ElectionProof, Observation, ObservationCall, ResultProposal, ResultShare)


def result_message(chain_id: str, proxy: str, request_id: str, result: bytes) -> bytes:
    """The bytes a group signs: bound to the chain, the proxy instance and the request."""
    return sha256(encode(("pedal-result", chain_id, proxy, request_id, result)))


def election_input(seed: bytes, term: int) -> bytes:
    """VRF input ``seed_term || term`` (Algorithm 1, line 2)."""
    return bytes(seed) + int(term).to_bytes(8, "big")
