"""Signing identities: Ed25519 (PyNaCl) and ECDSA over P-256 / secp256k1 (cryptography).

Keys are derived from a 32-byte seed so a simulation is reproducible from its scenario
seed. ECDSA signs deterministically (RFC 6979) and signatures are normalised to low-S;
verification rejects high-S signatures, as Bitcoin's BIP 62 and ChainFL's ECDSA uploads
require, so a signature cannot be malleated into a second valid one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from types import SimpleNamespace
from typing import Any

import nacl.exceptions
import nacl.signing

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import ConfigError

__all__ = ["PrivateKey", "SCHEMES", "derive_key", "verify_signature"]


class PrivateKey(ABC):
    """A private signing key of one scheme; ``public_key`` is its canonical public bytes."""

    scheme: str
    public_key: bytes

    @abstractmethod
    def sign(self, message: bytes) -> bytes:
        """Return a signature over ``message`` (deterministic for a given key)."""


class Ed25519Key(PrivateKey):
    scheme = "ed25519"

    def __init__(self, seed: bytes) -> None:
        self._key = nacl.signing.SigningKey(sha256(b"ed25519", seed))
        self.public_key = bytes(self._key.verify_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature

    def curve25519_private_key(self) -> bytes:
        """The X25519 form of this key, for sealed boxes (libsodium's ed25519 -> curve25519 map)."""
        return bytes(self._key.to_curve25519_private_key())


def _verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
        return False


_CURVES = ("ecdsa-p256", "ecdsa-secp256k1")
_LOADED: list[Any] = []


def _ecdsa() -> Any:
    """``cryptography``'s ECDSA, imported on first use: its OpenSSL bindings cost a node of an
    Ed25519 network (the default) several megabytes of memory it never needs."""
    if not _LOADED:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        _LOADED.append(SimpleNamespace(
            InvalidSignature=InvalidSignature, hashes=hashes, ec=ec, decode_dss_signature=decode_dss_signature,
            encode_dss_signature=encode_dss_signature, Encoding=Encoding, PublicFormat=PublicFormat,
            curves={"ecdsa-p256": ec.SECP256R1(), "ecdsa-secp256k1": ec.SECP256K1()}))
    return _LOADED[0]

_ORDERS = {
    "ecdsa-p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ecdsa-secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


class EcdsaKey(PrivateKey):
    """ECDSA with SHA-256, RFC 6979 nonces, raw ``r || s`` (64 bytes) low-S signatures."""

    def __init__(self, scheme: str, seed: bytes) -> None:
        self.scheme = scheme
        order = _ORDERS[scheme]
        secret = int.from_bytes(sha256(scheme.encode(), seed), "big") % (order - 1) + 1
        c = _ecdsa()
        self._key = c.ec.derive_private_key(secret, c.curves[scheme])
        self.public_key = self._key.public_key().public_bytes(c.Encoding.X962, c.PublicFormat.CompressedPoint)

    def sign(self, message: bytes) -> bytes:
        c = _ecdsa()
        der = self._key.sign(message, c.ec.ECDSA(c.hashes.SHA256(), deterministic_signing=True))
        r, s = c.decode_dss_signature(der)
        order = _ORDERS[self.scheme]
        if s > order // 2:
            s = order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _verify_ecdsa(scheme: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    order = _ORDERS[scheme]
    if not (0 < r < order and 0 < s <= order // 2):  # high-S is malleable: rejected
        return False
    c = _ecdsa()
    try:
        key = c.ec.EllipticCurvePublicKey.from_encoded_point(c.curves[scheme], public_key)
        key.verify(c.encode_dss_signature(r, s), message, c.ec.ECDSA(c.hashes.SHA256()))
        return True
    except (c.InvalidSignature, ValueError):
        return False


SCHEMES = ("ed25519", "ecdsa-p256", "ecdsa-secp256k1")


def derive_key(scheme: str, seed: bytes) -> PrivateKey:
    """Deterministically derive a private key of ``scheme`` from ``seed``."""
    if scheme == "ed25519":
        return Ed25519Key(seed)
    if scheme in _CURVES:
        return EcdsaKey(scheme, seed)
    raise ConfigError(f"signature scheme {scheme!r} is unknown; expected one of {', '.join(SCHEMES)}")


def public_key_error(scheme: str, public_key: bytes) -> str | None:
    """Why ``public_key`` is not a public key of ``scheme`` (None when it is one).

    Ed25519 keys are 32 bytes (RFC 8032, 5.1.5); ECDSA keys are SEC1 points on the scheme's
    curve, compressed (33 bytes) or not (65), checked by decoding them."""
    if scheme == "ed25519":
        return None if len(public_key) == 32 else f"an ed25519 public key is 32 bytes, got {len(public_key)}"
    if scheme in _CURVES:
        if len(public_key) not in (33, 65):
            return f"an {scheme} public key is a SEC1 point of 33 (compressed) or 65 bytes, got {len(public_key)}"
        try:
            _ecdsa().ec.EllipticCurvePublicKey.from_encoded_point(_ecdsa().curves[scheme], public_key)
        except ValueError:
            return f"not a point on the {scheme} curve"
        return None
    return f"signature scheme {scheme!r} is unknown; expected one of {', '.join(SCHEMES)}"


def verify_signature(scheme: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``message`` verifies under ``public_key``; never raises on bad input."""
    if scheme == "ed25519":
        return _verify_ed25519(public_key, message, signature)
    if scheme in _CURVES:
        return _verify_ecdsa(scheme, public_key, message, signature)
    return False
