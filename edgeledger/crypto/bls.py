"""BLS signatures on BLS12-381, Ethereum's proof-of-possession ciphersuite.

Follows draft-irtf-cfrg-bls-signature-05 (section 2 core operations, section 3.3 the
proof-of-possession scheme) with the ciphersuite
``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`` that Ethereum's consensus layer uses:
public keys are compressed G1 points (48 bytes), signatures compressed G2 points
(96 bytes), messages hashed to G2 with RFC 9380 ``BLS12381G2_XMD:SHA-256_SSWU_RO_``.

Rules enforced here: secret keys lie in [1, r); ``KeyValidate`` rejects the point at
infinity and points outside the prime-order subgroup; encodings must be canonical
(re-encoding the decoded point gives the same bytes); aggregate operations over an empty
list are invalid. Verification functions return ``False`` on any malformed input and never
raise. All group and pairing arithmetic is py-arkworks-bls12381's.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from edgeledger.errors import AggregationError, ConfigError, SignatureError

__all__ = [
    "CURVE_ORDER",
    "DST_SIGNATURE",
    "DST_POP",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "bls_keygen",
    "bls_sk_to_pk",
    "bls_sign",
    "bls_verify",
    "bls_aggregate",
    "bls_aggregate_public_keys",
    "bls_fast_aggregate_verify",
    "bls_aggregate_verify",
    "bls_pop_prove",
    "bls_pop_verify",
    "public_key_point",
    "signature_point",
]

#: Order r of the BLS12-381 prime-order subgroups (the scalar field).
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
DST_SIGNATURE = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
DST_POP = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
PUBLIC_KEY_BYTES = 48
SIGNATURE_BYTES = 96
_KEYGEN_SALT = b"BLS-SIG-KEYGEN-SALT-"
_KEYGEN_L = 48  # ceil(3 * ceil(log2(r)) / 16)
_G1_GENERATOR = G1Point()
_NEG_G1_GENERATOR = -G1Point()
_LIB_ERRORS = (ValueError, TypeError, OverflowError)


# -- encodings -----------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _decode_g1(data: bytes) -> G1Point | None:
    try:
        point = G1Point.from_compressed_bytes(data)
    except _LIB_ERRORS:
        return None
    return point if point.to_compressed_bytes() == data else None


@lru_cache(maxsize=1024)
def _decode_g2(data: bytes) -> G2Point | None:
    try:
        point = G2Point.from_compressed_bytes(data)
    except _LIB_ERRORS:
        return None
    return point if point.to_compressed_bytes() == data else None


def _validated_public_key(public_key: object) -> G1Point | None:
    """KeyValidate (section 2.5): canonical, in the subgroup (checked on decode), not infinity."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != PUBLIC_KEY_BYTES:
        return None
    point = _decode_g1(bytes(public_key))
    if point is None or point == G1Point.identity():
        return None
    return point


def _decoded_signature(signature: object) -> G2Point | None:
    """signature_to_point plus subgroup check (section 2.7 step 1-2); infinity decodes."""
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_BYTES:
        return None
    return _decode_g2(bytes(signature))


def public_key_point(public_key: bytes) -> G1Point:
    """The validated G1 point of a public key; raises SignatureError when it is invalid."""
    point = _validated_public_key(public_key)
    if point is None:
        raise SignatureError(
            f"invalid BLS public key {bytes(public_key).hex()[:16]}...: expected a canonical "
            f"{PUBLIC_KEY_BYTES}-byte G1 point in the subgroup, not infinity"
        )
    return point


def signature_point(signature: bytes) -> G2Point:
    """The G2 point of a signature; raises SignatureError when it does not decode."""
    point = _decoded_signature(signature)
    if point is None:
        raise SignatureError(
            f"invalid BLS signature: expected a canonical {SIGNATURE_BYTES}-byte G2 point in the subgroup"
        )
    return point


def _check_secret_key(secret_key: int) -> Scalar:
    if isinstance(secret_key, bool) or not isinstance(secret_key, int) or not 0 < secret_key < CURVE_ORDER:
        raise ConfigError(f"BLS secret key must be an integer in [1, r), got {secret_key!r}")
    return Scalar(secret_key)


def _hash_to_g2(message: bytes | bytearray, dst: bytes) -> G2Point:
    return G2Point.hash_to_curve(bytes(message), dst)


# -- key generation ------------------------------------------------------------------------


def bls_keygen(ikm: bytes, key_info: bytes = b"") -> tuple[int, bytes]:
    """KeyGen (draft-irtf-cfrg-bls-signature-05 section 2.3): (secret int, public key bytes).

    ``ikm`` must hold at least 32 bytes of secret entropy. With ``key_info=b""`` this is
    also EIP-2333's ``HKDF_mod_r`` (``derive_master_SK``).
    """
    if not isinstance(ikm, (bytes, bytearray)) or len(ikm) < 32:
        got = len(ikm) if isinstance(ikm, (bytes, bytearray)) else type(ikm).__name__
        raise ConfigError(f"BLS KeyGen needs at least 32 bytes of key material, got {got}")
    salt = _KEYGEN_SALT
    secret = 0
    while secret == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, bytes(ikm) + b"\x00", hashlib.sha256).digest()  # HKDF-Extract
        info = bytes(key_info) + _KEYGEN_L.to_bytes(2, "big")
        okm = HKDFExpand(hashes.SHA256(), _KEYGEN_L, info).derive(prk)
        secret = int(Scalar.from_be_bytes_mod_order(okm))
    return secret, bls_sk_to_pk(secret)


def bls_sk_to_pk(secret_key: int) -> bytes:
    """SkToPk (section 2.4): the compressed G1 point secret_key * P1."""
    return (_G1_GENERATOR * _check_secret_key(secret_key)).to_compressed_bytes()


# -- signing and verification --------------------------------------------------------------


def bls_sign(secret_key: int, message: bytes) -> bytes:
    """Sign (section 2.6): secret_key * H(message) as a 96-byte compressed G2 point."""
    scalar = _check_secret_key(secret_key)
    return (_hash_to_g2(message, DST_SIGNATURE) * scalar).to_compressed_bytes()


def _core_verify(public_key: object, message: object, signature: object, dst: bytes) -> bool:
    pk = _validated_public_key(public_key)
    sig = _decoded_signature(signature)
    if pk is None or sig is None or not isinstance(message, (bytes, bytearray)):
        return False
    return GT.pairing_check([pk, _NEG_G1_GENERATOR], [_hash_to_g2(message, dst), sig])


def bls_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Verify (section 2.7): e(PK, H(m)) == e(P1, signature); False on any invalid input."""
    return _core_verify(public_key, message, signature, DST_SIGNATURE)


def bls_aggregate(signatures: Sequence[bytes]) -> bytes:
    """Aggregate (section 2.8): the sum of the signatures.

    Raises AggregationError for an empty list and SignatureError for an undecodable one.
    """
    if len(signatures) == 0:
        raise AggregationError("bls_aggregate needs at least 1 signature, got 0")
    total = G2Point.identity()
    for index, signature in enumerate(signatures):
        point = _decoded_signature(signature)
        if point is None:
            raise SignatureError(f"signature {index} of {len(signatures)} is not a valid G2 point")
        total = total + point
    return total.to_compressed_bytes()


def bls_aggregate_public_keys(public_keys: Sequence[bytes]) -> bytes:
    """The sum of validated public keys (the key that fast-aggregate-verify checks against)."""
    if len(public_keys) == 0:
        raise AggregationError("bls_aggregate_public_keys needs at least 1 key, got 0")
    total = G1Point.identity()
    for public_key in public_keys:
        total = total + public_key_point(public_key)
    return total.to_compressed_bytes()


def bls_fast_aggregate_verify(public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """FastAggregateVerify (section 3.3.4): all keys signed the same message.

    Sound only for keys whose proofs of possession were checked (``bls_pop_verify``).
    """
    try:
        if len(public_keys) == 0:
            return False
        total = G1Point.identity()
        for public_key in public_keys:
            point = _validated_public_key(public_key)
            if point is None:
                return False
            total = total + point
    except TypeError:
        return False
    return _core_verify(total.to_compressed_bytes(), message, signature, DST_SIGNATURE)


def bls_aggregate_verify(
    public_keys: Sequence[bytes], messages: Sequence[bytes], signature: bytes
) -> bool:
    """AggregateVerify (section 3.3.3 = CoreAggregateVerify 2.9): key i signed message i."""
    try:
        if len(public_keys) == 0 or len(public_keys) != len(messages):
            return False
        sig = _decoded_signature(signature)
        if sig is None:
            return False
        g1s: list[G1Point] = []
        g2s: list[G2Point] = []
        for public_key, message in zip(public_keys, messages, strict=True):
            point = _validated_public_key(public_key)
            if point is None or not isinstance(message, (bytes, bytearray)):
                return False
            g1s.append(point)
            g2s.append(_hash_to_g2(message, DST_SIGNATURE))
    except TypeError:
        return False
    return GT.pairing_check([*g1s, _NEG_G1_GENERATOR], [*g2s, sig])


# -- proof of possession (section 3.3.2 / 3.3.3) ------------------------------------------


def bls_pop_prove(secret_key: int) -> bytes:
    """PopProve: a signature over the public key's bytes with the POP domain tag."""
    scalar = _check_secret_key(secret_key)
    public_key = bls_sk_to_pk(secret_key)
    return (_hash_to_g2(public_key, DST_POP) * scalar).to_compressed_bytes()


def bls_pop_verify(public_key: bytes, proof: bytes) -> bool:
    """PopVerify: the holder of ``public_key`` knows its secret key; False on invalid input."""
    if not isinstance(public_key, (bytes, bytearray)):
        return False
    return _core_verify(public_key, bytes(public_key), proof, DST_POP)
