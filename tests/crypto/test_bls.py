"""BLS (Ethereum POP ciphersuite) against ethereum/consensus-spec-tests and EIP-2333 vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from edgeledger.crypto.bls import (
    CURVE_ORDER,
    bls_aggregate,
    bls_aggregate_public_keys,
    bls_aggregate_verify,
    bls_fast_aggregate_verify,
    bls_keygen,
    bls_pop_prove,
    bls_pop_verify,
    bls_sign,
    bls_sk_to_pk,
    bls_verify,
    public_key_point,
    signature_point,
)
from edgeledger.errors import AggregationError, ConfigError, SignatureError

_VECTOR_DIR = Path(__file__).parent / "vectors"
SPEC = json.loads((_VECTOR_DIR / "consensus_spec_tests_phase0_bls.json").read_text())
EIP2333 = json.loads((_VECTOR_DIR / "eip2333_master_sk.json").read_text())["vectors"]
INFINITY_G1 = b"\xc0" + bytes(47)
INFINITY_G2 = b"\xc0" + bytes(95)


def _b(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string[2:] if hex_string.startswith("0x") else hex_string)


def _cases(handler: str) -> Any:
    return pytest.mark.parametrize("case", SPEC[handler], ids=[c["case"] for c in SPEC[handler]])


@_cases("sign")
def test_bls_sign_matches_consensus_spec_tests(case: dict[str, Any]) -> None:
    privkey = int(case["input"]["privkey"], 16)
    message = _b(case["input"]["message"])
    if case["output"] is None:
        with pytest.raises(ConfigError):
            bls_sign(privkey, message)
    else:
        assert bls_sign(privkey, message) == _b(case["output"])


@_cases("verify")
def test_bls_verify_matches_consensus_spec_tests(case: dict[str, Any]) -> None:
    data = case["input"]
    assert bls_verify(_b(data["pubkey"]), _b(data["message"]), _b(data["signature"])) is case["output"]


@_cases("aggregate")
def test_bls_aggregate_matches_consensus_spec_tests(case: dict[str, Any]) -> None:
    signatures = [_b(s) for s in case["input"]]
    if case["output"] is None:
        with pytest.raises(AggregationError):
            bls_aggregate(signatures)
    else:
        assert bls_aggregate(signatures) == _b(case["output"])


@_cases("fast_aggregate_verify")
def test_bls_fast_aggregate_verify_matches_consensus_spec_tests(case: dict[str, Any]) -> None:
    data = case["input"]
    pubkeys = [_b(p) for p in data["pubkeys"]]
    assert bls_fast_aggregate_verify(pubkeys, _b(data["message"]), _b(data["signature"])) is case["output"]


@_cases("aggregate_verify")
def test_bls_aggregate_verify_matches_consensus_spec_tests(case: dict[str, Any]) -> None:
    data = case["input"]
    pubkeys = [_b(p) for p in data["pubkeys"]]
    messages = [_b(m) for m in data["messages"]]
    assert bls_aggregate_verify(pubkeys, messages, _b(data["signature"])) is case["output"]


def test_bls_sk_to_pk_matches_the_public_keys_of_the_spec_vectors() -> None:
    expected = {
        0x263DBD792F5B1BE47ED85F8938C0F29586AF0D3AC7B977F21C278FE1462040E3: "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a",
        0x47B8192D77BF871B62E87859D653922725724A5C031AFEABC60BCEF5FF665138: "b301803f8b5ac4a1133581fc676dfedc60d891dd5fa99028805e5ea5b08d3491af75d0707adab3b70c6a6a580217bf81",
        0x328388AFF0D4A5B7DC9205ABD374E7E98F3CD9F3418EDB4EAFDA5FB16473D216: "b53d21a4cfd562c469cc81514d4ce5a6b577d8403d32a394dc265dd190b47fa9f829fdd7963afdf972e5e77854051f6f",
    }
    for secret, public in expected.items():
        assert bls_sk_to_pk(secret).hex() == public


@pytest.mark.parametrize("vector", EIP2333, ids=[f"eip2333-case-{i}" for i in range(len(EIP2333))])
def test_bls_keygen_matches_eip2333_master_keys(vector: dict[str, str]) -> None:
    secret, public = bls_keygen(_b(vector["seed"]))
    assert secret == int(vector["master_SK"])
    assert public == bls_sk_to_pk(secret)


def test_bls_keygen_rejects_short_key_material() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        bls_keygen(b"too short")


@pytest.mark.parametrize("bad_secret", [0, CURVE_ORDER, CURVE_ORDER + 1, -1, True])
def test_bls_rejects_out_of_range_secret_keys(bad_secret: int) -> None:
    with pytest.raises(ConfigError):
        bls_sign(bad_secret, b"m")
    with pytest.raises(ConfigError):
        bls_sk_to_pk(bad_secret)
    with pytest.raises(ConfigError):
        bls_pop_prove(bad_secret)


def test_bls_infinity_public_key_is_rejected_everywhere() -> None:
    secret, public = bls_keygen(bytes(range(32)))
    signature = bls_sign(secret, b"m")
    assert not bls_verify(INFINITY_G1, b"m", INFINITY_G2)
    assert not bls_fast_aggregate_verify([INFINITY_G1], b"m", INFINITY_G2)
    assert not bls_fast_aggregate_verify([public, INFINITY_G1], b"m", signature)
    assert not bls_aggregate_verify([INFINITY_G1], [b"m"], INFINITY_G2)
    assert not bls_pop_verify(INFINITY_G1, INFINITY_G2)
    with pytest.raises(SignatureError):
        public_key_point(INFINITY_G1)
    with pytest.raises(SignatureError):
        bls_aggregate_public_keys([public, INFINITY_G1])


def test_bls_rejects_non_canonical_encodings() -> None:
    secret, public = bls_keygen(bytes(range(32)))
    signature = bls_sign(secret, b"m")
    bad_public_keys = [
        b"\xc0" + bytes(46) + b"\x01",  # infinity flag with non-zero x
        b"\xe0" + bytes(47),  # infinity with the sign bit
        bytes([public[0] & 0x7F]) + public[1:],  # compression flag cleared
        public[:-1],
        public + b"\x00",
    ]
    for bad in bad_public_keys:
        assert not bls_verify(bad, b"m", signature)
    bad_signatures = [b"\xc0" + bytes(94) + b"\x01", b"\xe0" + bytes(95), signature[:-1], bytes(96)]
    for bad in bad_signatures:
        assert not bls_verify(public, b"m", bad)
        with pytest.raises(SignatureError):
            signature_point(bad)


def test_bls_verification_returns_false_on_garbage_and_never_raises() -> None:
    secret, public = bls_keygen(bytes(range(32)))
    signature = bls_sign(secret, b"m")
    for bad in (None, "", 7, b"", b"\xff" * 48, b"\xff" * 96):
        assert not bls_verify(bad, b"m", signature)  # type: ignore[arg-type]
        assert not bls_verify(public, b"m", bad)  # type: ignore[arg-type]
        assert not bls_fast_aggregate_verify([bad], b"m", signature)  # type: ignore[list-item]
        assert not bls_aggregate_verify([bad], [b"m"], signature)  # type: ignore[list-item]
        assert not bls_pop_verify(bad, signature)  # type: ignore[arg-type]
    assert not bls_verify(public, None, signature)  # type: ignore[arg-type]
    assert not bls_aggregate_verify([public], [b"m", b"n"], signature)
    assert not bls_fast_aggregate_verify(None, b"m", signature)  # type: ignore[arg-type]


def test_bls_aggregate_rejects_invalid_signature_bytes() -> None:
    with pytest.raises(SignatureError, match="signature 1 of 2"):
        bls_aggregate([INFINITY_G2, b"\x00" * 96])
    with pytest.raises(AggregationError):
        bls_aggregate_public_keys([])


def test_bls_fast_aggregate_verify_of_27_signers_and_tampering() -> None:
    keys = [bls_keygen(hashlib.sha256(b"oracle-%d" % i).digest()) for i in range(27)]
    message = b"oracle result #7"
    aggregate = bls_aggregate([bls_sign(secret, message) for secret, _ in keys])
    public_keys = [public for _, public in keys]
    assert bls_fast_aggregate_verify(public_keys, message, aggregate)
    assert bls_verify(bls_aggregate_public_keys(public_keys), message, aggregate)
    assert not bls_fast_aggregate_verify(public_keys[:-1], message, aggregate)
    assert not bls_fast_aggregate_verify(public_keys, message + b"!", aggregate)


def test_bls_proof_of_possession_is_domain_separated_from_signatures() -> None:
    secret, public = bls_keygen(bytes(range(32)))
    _, other_public = bls_keygen(bytes(range(1, 33)))
    proof = bls_pop_prove(secret)
    assert bls_pop_verify(public, proof)
    assert not bls_pop_verify(other_public, proof)
    assert not bls_verify(public, public, proof)
    assert not bls_pop_verify(public, bls_sign(secret, public))
