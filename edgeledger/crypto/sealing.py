"""Pluggable message encryption (ChainFL's "customization of message encryption").

A cipher seals bytes to a recipient's public identity key and opens them with the
recipient's private key. ``sealedbox`` is libsodium's sealed box (X25519 + XSalsa20-Poly1305,
an ephemeral sender key per message) on the Curve25519 form of the node's Ed25519 identity,
so no second key needs distributing. Users register their own scheme with
``@ciphers.register("name")``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import nacl.bindings
import nacl.exceptions
import nacl.public

from edgeledger.crypto.keys import Ed25519Key, PrivateKey
from edgeledger.errors import ConfigError, IntegrityError
from edgeledger.registry import Registry

__all__ = ["Cipher", "ciphers", "build_cipher", "NoCipher", "SealedBox"]


class Cipher(ABC):
    name: str = ""

    @abstractmethod
    def seal(self, recipient_public_key: bytes, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` so only the holder of the recipient's private key can read it."""

    @abstractmethod
    def open(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        """Decrypt with our private key; :class:`IntegrityError` when it was not for us or was altered."""


ciphers: Registry[type[Cipher]] = Registry("cipher")


@ciphers.register("none")
class NoCipher(Cipher):
    """No encryption: payloads travel in the clear (integrity still comes from digests and signatures)."""

    name = "none"

    def seal(self, recipient_public_key: bytes, plaintext: bytes) -> bytes:
        return plaintext

    def open(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        return ciphertext


@ciphers.register("sealedbox")
class SealedBox(Cipher):
    """libsodium sealed boxes to the Curve25519 form of an Ed25519 identity key."""

    name = "sealedbox"

    def seal(self, recipient_public_key: bytes, plaintext: bytes) -> bytes:
        try:
            curve = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(recipient_public_key)
        except (nacl.exceptions.RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"sealedbox needs an Ed25519 recipient key: {exc}") from None
        return nacl.public.SealedBox(nacl.public.PublicKey(curve)).encrypt(plaintext)

    def open(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        if not isinstance(key, Ed25519Key):
            raise ConfigError(f"sealedbox needs Ed25519 identities; this node uses {key.scheme}")
        curve = key.curve25519_private_key()
        try:
            return nacl.public.SealedBox(nacl.public.PrivateKey(curve)).decrypt(ciphertext)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            raise IntegrityError("sealed payload cannot be opened: not for us, or altered in transit") from None


def build_cipher(name: str) -> Cipher:
    return ciphers.get(name)()
