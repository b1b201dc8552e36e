"""Oracle node keys, registration transactions, and the trusted dealer tests use for groups.

Keys are derived from a seed (simulation) so a scenario replays bit for bit; a deployment
passes real entropy. Groups have threshold t = ceil(2n/3) (:func:`group_threshold`). Their
keys are made by the members' distributed key generation (:mod:`edgeledger.oracle.dkg`);
:func:`deal_groups` is the trusted dealer kept for tests (and the federation's relay group):
it splits each group's secret (Feldman, so members verify their shares) and the admin
records the commitments on the proxy (:func:`group_call`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeledger.crypto.bls import bls_keygen, bls_pop_prove
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.threshold import Share, deal, verify_share
from edgeledger.crypto.vrf import vrf_keygen
from edgeledger.errors import IntegrityError
from edgeledger.ledger.contracts import ContractCall
from edgeledger.oracle.records import OracleGroup

__all__ = ["OracleKeys", "oracle_keys", "registration_call", "deal_groups", "group_threshold", "group_call"]


@dataclass(frozen=True)
class OracleKeys:
    bls_secret: int
    bls_public: bytes
    pop: bytes
    vrf_secret: bytes
    vrf_public: bytes


def oracle_keys(seed: bytes, node_id: str) -> OracleKeys:
    """Deterministic BLS (with proof of possession) and VRF keys of ``node_id``."""
    bls_sk, bls_pk = bls_keygen(sha256(b"pedal-bls", seed, node_id.encode()))
    vrf_sk, vrf_pk = vrf_keygen(sha256(b"pedal-vrf", seed, node_id.encode()))
    return OracleKeys(bls_sk, bls_pk, bls_pop_prove(bls_sk), vrf_sk, vrf_pk)


def registration_call(proxy: str, keys: OracleKeys) -> ContractCall:
    return ContractCall(contract=proxy, method="register", args=[keys.bls_public, keys.pop, keys.vrf_public])


def group_threshold(n_members: int) -> int:
    """t = ceil(2n/3): a combined signature proves at least 2/3 of the group signed."""
    return -(-2 * n_members // 3)


def deal_groups(groups: Mapping[str, Sequence[str]], rng: Any) -> tuple[list[OracleGroup], dict[str, dict[str, Share]]]:
    """Deal each group's threshold key; returns the groups and node -> group id -> share.

    Every member checks its share against the commitments (Feldman) before accepting it.
    """
    out: list[OracleGroup] = []
    shares: dict[str, dict[str, Share]] = {}
    for group_id in sorted(groups):
        members = list(groups[group_id])
        t = group_threshold(len(members))
        dealt, commitments = deal(rng, t, len(members))
        for member, share in zip(members, dealt):
            if not verify_share(share.index, share, commitments):
                raise IntegrityError(f"share {share.index} of group {group_id!r} fails the Feldman check")
            shares.setdefault(member, {})[group_id] = share
        out.append(OracleGroup(group_id=group_id, members=members, commitments=commitments, threshold=t))
    return out, shares


def group_call(proxy: str, group: OracleGroup) -> ContractCall:
    return ContractCall(contract=proxy, method="register_group",
                        args=[group.group_id, group.members, group.commitments, group.threshold])
