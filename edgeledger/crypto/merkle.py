"""Merkle trees with inclusion proofs, after RFC 6962 section 2.1 (Certificate Transparency).

Leaves are hashed as ``H(0x00 || leaf)`` and inner nodes as ``H(0x01 || left || right)``
so a leaf can never be passed off as an inner node (second-preimage resistance). A tree of
n leaves splits at the largest power of two below n, so no leaf is duplicated.
"""

from __future__ import annotations

from edgeledger.codec import Record
from edgeledger.crypto.hashing import sha256

__all__ = ["MerkleProof", "merkle_root", "merkle_proof", "verify_merkle_proof", "EMPTY_ROOT"]

EMPTY_ROOT = sha256(b"")


class MerkleProof(Record):
    """Audit path of leaf ``index`` in a tree of ``size`` leaves (RFC 6962 2.1.1)."""

    index: int
    size: int
    path: list[bytes]


def _leaf(data: bytes) -> bytes:
    return sha256(b"\x00", data)


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01", left, right)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_of_hashes(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _node(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root over ``leaves`` (raw leaf data; hashed here). The empty tree's root is H('')."""
    if not leaves:
        return EMPTY_ROOT
    return _root_of_hashes([_leaf(x) for x in leaves])


def _path(index: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return _path(index, hashes[:k]) + [_root_of_hashes(hashes[k:])]
    return _path(index - k, hashes[k:]) + [_root_of_hashes(hashes[:k])]


def merkle_proof(leaves: list[bytes], index: int) -> MerkleProof:
    """Inclusion proof of ``leaves[index]``."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} out of range for {len(leaves)} leaves")
    return MerkleProof(index=index, size=len(leaves), path=_path(index, [_leaf(x) for x in leaves]))


def verify_merkle_proof(leaf: bytes, proof: MerkleProof, root: bytes) -> bool:
    """True when ``leaf`` sits at ``proof.index`` of the tree whose root is ``root`` (RFC 9162 2.1.3.2)."""
    if not 0 <= proof.index < proof.size:
        return False
    fn, sn = proof.index, proof.size - 1
    r = _leaf(leaf)
    for p in proof.path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
