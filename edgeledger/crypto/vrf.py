"""ECVRF-EDWARDS25519-SHA512-TAI: the verifiable random function of RFC 9381.

Rules followed (RFC 9381 section 5, suite string 0x03, section 5.5):

* keys are RFC 8032 Ed25519 keys: the secret key is a 32-byte seed, the secret scalar
  ``x`` is the clamped first half of SHA-512(seed) and the public key ``Y = x*B``;
* ``encode_to_curve`` is try-and-increment (5.4.1.1): hash the counter-suffixed input,
  decode the first 32 bytes as an edwards25519 point (RFC 8032 5.1.3 decoding: any point
  on the curve, *not* only the prime-order subgroup) and clear the cofactor (times 8);
* the nonce is derived deterministically as in RFC 8032 (5.4.2.2) and the challenge is the
  first 16 bytes of SHA-512 over ``Y, H, Gamma, U, V`` (5.4.3);
* verification validates the public key (5.6.1: reject small-order points) and rejects a
  proof whose ``s`` is not reduced; it never raises on malformed input.

All group arithmetic goes through libsodium's edwards25519 primitives (PyNaCl's
``nacl.bindings``); this module only hashes, encodes and composes them.
"""

from __future__ import annotations

import hashlib

import nacl.bindings as sodium
import nacl.exceptions

from edgeledger.errors import ConfigError, InvariantViolation, SignatureError

__all__ = [
    "SUITE_STRING",
    "SECRET_KEY_BYTES",
    "PUBLIC_KEY_BYTES",
    "PROOF_BYTES",
    "OUTPUT_BYTES",
    "vrf_keygen",
    "vrf_public_key",
    "vrf_prove",
    "vrf_proof_to_hash",
    "vrf_verify",
    "encode_to_curve",
    "generate_nonce",
]

SUITE_STRING = b"\x03"
SECRET_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 32
PROOF_BYTES = 80  # Gamma (32) || c (16) || s (32)
OUTPUT_BYTES = 64
_C_LEN = 16
_Q_LEN = 32
#: Order q of the prime-order subgroup of edwards25519 (RFC 8032 section 5.1, called L there).
_GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = b"\x01" + bytes(31)
_SODIUM_ERRORS = (nacl.exceptions.CryptoError, RuntimeError, ValueError, TypeError)


# -- point and scalar helpers (all arithmetic is libsodium's) ------------------------------


def _decode_point(data: bytes) -> bytes | None:
    """RFC 8032 5.1.3 ``string_to_point``: the canonical encoding, or None if invalid.

    libsodium's add primitive accepts exactly the points on the curve (any subgroup);
    adding the identity and comparing with the input also rejects the non-canonical
    encodings (y >= p, or x = 0 with the sign bit set) that RFC 8032 decoding refuses.
    """
    if len(data) != 32:
        return None
    try:
        point = sodium.crypto_core_ed25519_add(data, _IDENTITY)
    except _SODIUM_ERRORS:
        return None
    return point if point == data else None


def _add(p: bytes, q: bytes) -> bytes:
    return sodium.crypto_core_ed25519_add(p, q)


def _times_cofactor(point: bytes) -> bytes:
    """8 * point by three doublings (valid for points outside the prime-order subgroup)."""
    for _ in range(3):
        point = _add(point, point)
    return point


def _scalar_bytes(k: int) -> bytes:
    return k.to_bytes(32, "little")


def _mul(k: int, point: bytes) -> bytes:
    """k * point for 0 <= k < q and any point on the curve.

    libsodium's scalar multiplication refuses points with a torsion component, which RFC
    9381 allows for a public key and Gamma; for those, k*P = (k // 8)*(8P) + (k % 8)*P.
    """
    if k == 0:
        return _IDENTITY
    try:  # fast path: point in the prime-order subgroup (libsodium checks it)
        return sodium.crypto_scalarmult_ed25519_noclamp(_scalar_bytes(k), point)
    except _SODIUM_ERRORS:
        pass
    quotient, remainder = divmod(k, 8)
    cleared = _times_cofactor(point)
    acc = _IDENTITY
    if quotient and cleared != _IDENTITY:
        acc = sodium.crypto_scalarmult_ed25519_noclamp(_scalar_bytes(quotient), cleared)
    for _ in range(remainder):
        acc = _add(acc, point)
    return acc


def _mul_base(k: int) -> bytes:
    if k == 0:
        return _IDENTITY
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_scalar_bytes(k))


def _secret_scalar(secret_key: bytes) -> int:
    """RFC 8032 5.1.5: clamp the first half of SHA-512(seed); returned reduced mod q."""
    digest = bytearray(hashlib.sha512(secret_key).digest()[:32])
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    reduced = sodium.crypto_core_ed25519_scalar_reduce(bytes(digest) + bytes(32))
    return int.from_bytes(reduced, "little")


def _check_secret_key(secret_key: bytes) -> bytes:
    if not isinstance(secret_key, (bytes, bytearray)) or len(secret_key) != SECRET_KEY_BYTES:
        got = len(secret_key) if isinstance(secret_key, (bytes, bytearray)) else type(secret_key).__name__
        raise ConfigError(
            f"VRF secret key must be {SECRET_KEY_BYTES} bytes, got {got}; "
            "derive one from a longer seed with sha256(seed)"
        )
    return bytes(secret_key)


# -- RFC 9381 section 5 steps --------------------------------------------------------------


def encode_to_curve(public_key: bytes, alpha: bytes) -> bytes | None:
    """RFC 9381 5.4.1.1 try-and-increment; the encoded point H, or None after 256 failures."""
    for ctr in range(256):
        digest = hashlib.sha512(
            SUITE_STRING + b"\x01" + public_key + alpha + bytes([ctr]) + b"\x00"
        ).digest()
        candidate = _decode_point(digest[:32])
        if candidate is None:
            continue
        point = _times_cofactor(candidate)
        if point != _IDENTITY:
            return point
    return None


def generate_nonce(secret_key: bytes, h_string: bytes) -> int:
    """RFC 9381 5.4.2.2 (RFC 8032 style): k = SHA-512(SHA-512(SK)[32:64] || H) mod q."""
    prefix = hashlib.sha512(secret_key).digest()[32:]
    k_string = hashlib.sha512(prefix + h_string).digest()
    return int.from_bytes(sodium.crypto_core_ed25519_scalar_reduce(k_string), "little")


def _challenge(*points: bytes) -> int:
    """RFC 9381 5.4.3: first cLen bytes of SHA-512(suite || 0x02 || points || 0x00)."""
    digest = hashlib.sha512(SUITE_STRING + b"\x02" + b"".join(points) + b"\x00").digest()
    return int.from_bytes(digest[:_C_LEN], "little")


def _decode_proof(pi: bytes) -> tuple[bytes, int, int] | None:
    """RFC 9381 5.4.4: (Gamma, c, s), or None when the proof is malformed."""
    if not isinstance(pi, (bytes, bytearray)) or len(pi) != PROOF_BYTES:
        return None
    pi = bytes(pi)
    gamma = _decode_point(pi[:32])
    if gamma is None:
        return None
    c = int.from_bytes(pi[32 : 32 + _C_LEN], "little")
    s = int.from_bytes(pi[32 + _C_LEN :], "little")
    if s >= _GROUP_ORDER:
        return None
    return gamma, c, s


def _gamma_to_hash(gamma: bytes) -> bytes:
    """RFC 9381 5.2: beta = SHA-512(suite || 0x03 || point_to_string(8*Gamma) || 0x00)."""
    return hashlib.sha512(SUITE_STRING + b"\x03" + _times_cofactor(gamma) + b"\x00").digest()


def _validate_key(public_key: bytes) -> bytes | None:
    """RFC 9381 5.6.1: decode Y and reject it when 8*Y is the identity (small order)."""
    if not isinstance(public_key, (bytes, bytearray)):
        return None
    point = _decode_point(bytes(public_key))
    if point is None or _times_cofactor(point) == _IDENTITY:
        return None
    return point


# -- public API ----------------------------------------------------------------------------


def vrf_keygen(seed: bytes) -> tuple[bytes, bytes]:
    """(secret_key, public_key) from a 32-byte seed; the secret key is the seed itself."""
    secret_key = _check_secret_key(seed)
    return secret_key, vrf_public_key(secret_key)


def vrf_public_key(secret_key: bytes) -> bytes:
    """The 32-byte public key Y = x*B of a 32-byte VRF secret key."""
    return _mul_base(_secret_scalar(_check_secret_key(secret_key)))


def vrf_prove(secret_key: bytes, alpha: bytes) -> bytes:
    """RFC 9381 5.1: the 80-byte proof pi = Gamma || c || s for input ``alpha``."""
    secret_key = _check_secret_key(secret_key)
    alpha = bytes(alpha)
    x = _secret_scalar(secret_key)
    public_key = _mul_base(x)
    h = encode_to_curve(public_key, alpha)
    if h is None:  # probability 2**-256
        raise InvariantViolation("ECVRF encode_to_curve found no point in 256 tries")
    gamma = _mul(x, h)
    k = generate_nonce(secret_key, h)
    c = _challenge(public_key, h, gamma, _mul_base(k), _mul(k, h))
    s = sodium.crypto_core_ed25519_scalar_add(
        _scalar_bytes(k),
        sodium.crypto_core_ed25519_scalar_mul(_scalar_bytes(c), _scalar_bytes(x)),
    )
    return gamma + c.to_bytes(_C_LEN, "little") + s


def vrf_proof_to_hash(pi: bytes) -> bytes:
    """RFC 9381 5.2: the 64-byte output beta of a proof.

    Only meaningful for a proof that verified; a malformed proof raises SignatureError.
    """
    decoded = _decode_proof(pi)
    if decoded is None:
        raise SignatureError(f"malformed ECVRF proof: expected {PROOF_BYTES} bytes with a valid Gamma and s < q")
    return _gamma_to_hash(decoded[0])


def vrf_verify(public_key: bytes, pi: bytes, alpha: bytes) -> bytes | None:
    """RFC 9381 5.3: beta when ``pi`` proves ``alpha`` under ``public_key``, else None.

    Never raises on malformed keys, proofs or inputs: anything invalid returns None.
    """
    try:
        y = _validate_key(public_key)
        decoded = _decode_proof(pi)
        if y is None or decoded is None or not isinstance(alpha, (bytes, bytearray)):
            return None
        gamma, c, s = decoded
        h = encode_to_curve(y, bytes(alpha))
        if h is None:
            return None
        u = sodium.crypto_core_ed25519_sub(_mul_base(s), _mul(c, y))
        v = sodium.crypto_core_ed25519_sub(_mul(s, h), _mul(c, gamma))
        if _challenge(y, h, gamma, u, v) != c:
            return None
        return _gamma_to_hash(gamma)
    except _SODIUM_ERRORS:
        return None
