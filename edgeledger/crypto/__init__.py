"""Cryptographic primitives from maintained libraries: hashing, signatures, Merkle trees,
ECVRF (RFC 9381), BLS signatures on BLS12-381 and threshold BLS."""

from edgeledger.crypto.hashing import sha256, sha256_hex
from edgeledger.crypto.keys import SCHEMES, PrivateKey, derive_key, verify_signature
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
# VRF and BLS live in edgeledger.crypto.vrf / .bls / .threshold; they are imported on use so that
# nodes that never elect or aggregate do not load the pairing library.
