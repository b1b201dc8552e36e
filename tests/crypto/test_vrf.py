"""ECVRF-EDWARDS25519-SHA512-TAI against RFC 9381 Appendix B.3, plus rejection of tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.bindings as sodium
import pytest

from edgeledger.crypto import vrf
from edgeledger.crypto.vrf import (
    encode_to_curve,
    generate_nonce,
    vrf_keygen,
    vrf_proof_to_hash,
    vrf_prove,
    vrf_public_key,
    vrf_verify,
)
from edgeledger.errors import ConfigError, SignatureError

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "rfc9381_ecvrf_edwards25519_sha512_tai.json").read_text()
)["vectors"]
IDS = [f"B.3-example-{i + 1}" for i in range(len(VECTORS))]
Q = 2**252 + 27742317777372353535851937790883648493
ORDER_2_POINT = (2**255 - 20).to_bytes(32, "little")  # (0, -1)


def _hex(vector: dict[str, str], key: str) -> bytes:
    return bytes.fromhex(vector[key])


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vrf_rfc9381_b3_reproduces_every_intermediate_value(vector: dict[str, str]) -> None:
    sk, pk, alpha = _hex(vector, "SK"), _hex(vector, "PK"), _hex(vector, "alpha")
    assert vrf_keygen(sk) == (sk, pk)
    x_reduced = sodium.crypto_core_ed25519_scalar_reduce(_hex(vector, "x") + bytes(32))
    assert vrf._secret_scalar(sk) == int.from_bytes(x_reduced, "little")
    h = encode_to_curve(pk, alpha)
    assert h == _hex(vector, "H")
    k = generate_nonce(sk, h)
    assert k.to_bytes(32, "little") == _hex(vector, "k")
    assert sodium.crypto_core_ed25519_scalar_reduce(_hex(vector, "k_string")) == _hex(vector, "k")
    assert sodium.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")) == _hex(vector, "U")
    assert sodium.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), h) == _hex(vector, "V")
    pi = vrf_prove(sk, alpha)
    assert pi == _hex(vector, "pi")
    assert vrf_proof_to_hash(pi) == _hex(vector, "beta")
    assert vrf_verify(pk, pi, alpha) == _hex(vector, "beta")


def test_vrf_encode_to_curve_accepts_candidates_outside_the_prime_order_subgroup() -> None:
    # B.3 example 2 and 3: the first decodable candidate has a torsion component; testing
    # candidates with crypto_core_ed25519_is_valid_point would skip it and give another H.
    outside = 0
    for vector in VECTORS:
        pk, alpha = _hex(vector, "PK"), _hex(vector, "alpha")
        for ctr in range(256):
            digest = hashlib.sha512(b"\x03\x01" + pk + alpha + bytes([ctr]) + b"\x00").digest()
            candidate = vrf._decode_point(digest[:32])
            if candidate is not None:
                break
        assert encode_to_curve(pk, alpha) == vrf._times_cofactor(candidate)
        outside += not sodium.crypto_core_ed25519_is_valid_point(candidate)
    assert outside >= 2


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vrf_rejects_every_single_bit_flip_of_the_proof(vector: dict[str, str]) -> None:
    pk, alpha, pi = _hex(vector, "PK"), _hex(vector, "alpha"), _hex(vector, "pi")
    for byte in range(len(pi)):
        for bit in (0, 7):
            tampered = bytearray(pi)
            tampered[byte] ^= 1 << bit
            assert vrf_verify(pk, bytes(tampered), alpha) is None


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vrf_rejects_tampered_public_key_and_alpha(vector: dict[str, str]) -> None:
    pk, alpha, pi = _hex(vector, "PK"), _hex(vector, "alpha"), _hex(vector, "pi")
    assert vrf_verify(pk, pi, alpha + b"\x00") is None
    assert vrf_verify(pk, pi, b"other input") is None
    for other in VECTORS:
        if other is not vector:
            assert vrf_verify(_hex(other, "PK"), pi, alpha) is None
    for byte in range(32):
        tampered = bytearray(pk)
        tampered[byte] ^= 0x01
        assert vrf_verify(bytes(tampered), pi, alpha) is None


def test_vrf_verify_returns_none_on_garbage_and_never_raises() -> None:
    vector = VECTORS[0]
    pk, alpha, pi = _hex(vector, "PK"), _hex(vector, "alpha"), _hex(vector, "pi")
    garbage: list[object] = [None, "", "ab" * 32, 5, b"", bytes(31), bytes(33), bytes(32), b"\xff" * 32]
    for bad in garbage:
        assert vrf_verify(bad, pi, alpha) is None  # type: ignore[arg-type]
        assert vrf_verify(pk, bad, alpha) is None  # type: ignore[arg-type]
    assert vrf_verify(pk, pi, None) is None  # type: ignore[arg-type]
    assert vrf_verify(pk, pi + b"\x00", alpha) is None
    assert vrf_verify(pk, pi[:-1], alpha) is None


def test_vrf_validate_key_rejects_small_order_and_non_canonical_keys() -> None:
    vector = VECTORS[0]
    alpha, pi = _hex(vector, "alpha"), _hex(vector, "pi")
    identity = b"\x01" + bytes(31)
    non_canonical_identity = (2**255 - 18).to_bytes(32, "little")  # y = p + 1
    signed_zero_x = bytearray(identity)
    signed_zero_x[31] |= 0x80
    for bad_key in (identity, ORDER_2_POINT, non_canonical_identity, bytes(signed_zero_x)):
        assert vrf._validate_key(bad_key) is None
        assert vrf_verify(bad_key, pi, alpha) is None


def test_vrf_rejects_proof_with_unreduced_s() -> None:
    vector = VECTORS[0]
    pk, alpha, pi = _hex(vector, "PK"), _hex(vector, "alpha"), _hex(vector, "pi")
    s = int.from_bytes(pi[48:], "little")
    unreduced = pi[:48] + (s + Q).to_bytes(32, "little")
    assert vrf_verify(pk, unreduced, alpha) is None
    with pytest.raises(SignatureError):
        vrf_proof_to_hash(unreduced)


def test_vrf_scalar_mult_handles_points_with_a_torsion_component() -> None:
    y = _hex(VECTORS[0], "PK")
    torsioned = sodium.crypto_core_ed25519_add(y, ORDER_2_POINT)
    assert not sodium.crypto_core_ed25519_is_valid_point(torsioned)
    for k in (1, 2, 7, 8, 12345, Q - 1):
        expected = vrf._mul(k, y)
        if k % 2:
            expected = sodium.crypto_core_ed25519_add(expected, ORDER_2_POINT)
        assert vrf._mul(k, torsioned) == expected
    # A torsioned key is valid per RFC 9381 5.6.1 but the proof made under Y fails under it.
    assert vrf._validate_key(torsioned) == torsioned
    assert vrf_verify(torsioned, _hex(VECTORS[0], "pi"), _hex(VECTORS[0], "alpha")) is None


def test_vrf_roundtrip_for_fresh_keys_and_distinct_outputs() -> None:
    outputs = set()
    for i in range(4):
        sk, pk = vrf_keygen(hashlib.sha256(b"node-%d" % i).digest())
        assert vrf_public_key(sk) == pk
        pi = vrf_prove(sk, b"term 42")
        beta = vrf_verify(pk, pi, b"term 42")
        assert beta is not None and len(beta) == 64 and beta == vrf_proof_to_hash(pi)
        outputs.add(beta)
    assert len(outputs) == 4


def test_vrf_keygen_rejects_seed_of_wrong_length() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        vrf_keygen(b"short")
    with pytest.raises(ConfigError):
        vrf_prove(bytes(31), b"alpha")


def test_vrf_proof_to_hash_rejects_malformed_proof() -> None:
    with pytest.raises(SignatureError):
        vrf_proof_to_hash(bytes(80)[:-1])
    with pytest.raises(SignatureError):
        vrf_proof_to_hash(b"\xff" * 80)
