"""Cryptographic primitives: hashing, signatures, Merkle trees (all from maintained libraries)."""

from edgeledger.crypto.hashing import sha256, sha256_hex
from edgeledger.crypto.keys import PrivateKey, SCHEMES, derive_key, verify_signature
from edgeledger.crypto.merkle import MerkleProof, merkle_proof, merkle_root, verify_merkle_proof

__all__ = [
    "sha256",
    "sha256_hex",
    "PrivateKey",
    "SCHEMES",
    "derive_key",
    "verify_signature",
    "MerkleProof",
    "merkle_root",
    "merkle_proof",
    "verify_merkle_proof",
]
