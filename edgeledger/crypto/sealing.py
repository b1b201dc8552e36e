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
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.public
import nacl.secret
import nacl.utils

from edgeledger.codec import Record, decode, encode
from edgeledger.crypto.hashing import sha256

from edgeledger.crypto.keys import Ed25519Key, PrivateKey
from edgeledger.errors import ConfigError, EdgeLedgerError, IntegrityError
from edgeledger.registry import Registry

__all__ = ["Cipher", "ciphers", "build_cipher", "NoCipher", "SealedBox", "SealedEnvelope", "seal_to_many",
           "open_envelope"]


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
    """libsodium sealed boxes to the Curve25519 form of an Ed25519 identity key.

    ``ephemeral_seed`` (optional) fixes the sender's one-time key, so a simulation that seeds
    everything replays byte for byte: the box is then libsodium's ``crypto_box_seal``
    construction (ephemeral key pair, nonce = BLAKE2b-192(epk || pk), ``crypto_box``) built
    from PyNaCl's own calls, and ``open`` (libsodium's ``crypto_box_seal_open``) reads either
    kind. The seed must be secret and used for one plaintext only: a seeded RNG in
    simulation, or a value derived from the sender's private key and the plaintext."""

    name = "sealedbox"

    def seal(self, recipient_public_key: bytes, plaintext: bytes, ephemeral_seed: bytes | None = None) -> bytes:
        try:
            curve = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(recipient_public_key)
        except (nacl.exceptions.RuntimeError, ValueError, TypeError) as exc:
            raise ConfigError(f"sealedbox needs an Ed25519 recipient key: {exc}") from None
        if ephemeral_seed is None:
            return nacl.public.SealedBox(nacl.public.PublicKey(curve)).encrypt(plaintext)
        ephemeral = nacl.public.PrivateKey(sha256(b"edgeledger/sealedbox/ephemeral", ephemeral_seed))
        epk = bytes(ephemeral.public_key)
        nonce = nacl.hash.blake2b(epk + curve, digest_size=nacl.public.Box.NONCE_SIZE, encoder=nacl.encoding.RawEncoder)
        return epk + nacl.public.Box(ephemeral, nacl.public.PublicKey(curve)).encrypt(plaintext, nonce).ciphertext

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


class SealedEnvelope(Record):
    """One message for several recipients (libsodium's hybrid pattern): the plaintext under a fresh
    XSalsa20-Poly1305 key (``secretbox``), and that key in a sealed box to each recipient."""

    ciphertext: bytes
    keys: dict[str, bytes]  # recipient id -> the content key sealed to its Ed25519 identity


def seal_to_many(recipients: dict[str, bytes], plaintext: bytes, seed: bytes | None = None) -> bytes:
    """Encrypt ``plaintext`` so that exactly the ``recipients`` (id -> Ed25519 public key) can read it.

    ``seed`` (simulation only: a secret, used once) derives the content key, nonce and one-time
    keys instead of the system's randomness, so a seeded run replays byte for byte."""
    if not recipients:
        raise ConfigError("a sealed envelope needs at least one recipient, got none")
    if seed is None:
        content_key, nonce = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE), None
    else:
        content_key = sha256(b"edgeledger/envelope/key", seed)
        nonce = sha256(b"edgeledger/envelope/nonce", seed)[: nacl.secret.SecretBox.NONCE_SIZE]
    box = SealedBox()
    keys = {r: box.seal(pk, content_key, None if seed is None else sha256(seed, r.encode()))
            for r, pk in sorted(recipients.items())}
    envelope = SealedEnvelope(ciphertext=bytes(nacl.secret.SecretBox(content_key).encrypt(plaintext, nonce)), keys=keys)
    return encode(envelope)


def open_envelope(key: PrivateKey, recipient: str, data: bytes) -> bytes:
    """The plaintext of a :func:`seal_to_many` envelope for ``recipient`` holding ``key``;
    :class:`IntegrityError` when it is not addressed to it, or was altered."""
    try:
        envelope = decode(data, SealedEnvelope)
    except EdgeLedgerError:
        raise IntegrityError("not a sealed envelope") from None
    sealed = envelope.keys.get(recipient)
    if sealed is None:
        raise IntegrityError(f"the envelope is not addressed to {recipient!r}")
    content_key = SealedBox().open(key, sealed)
    try:
        return bytes(nacl.secret.SecretBox(content_key).decrypt(envelope.ciphertext))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise IntegrityError("sealed envelope cannot be opened: altered in transit") from None
