import pytest

from edgeledger.crypto.keys import SCHEMES, derive_key, verify_signature
from edgeledger.errors import ConfigError


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signatures_verify_and_detect_tampering(scheme):
    key = derive_key(scheme, b"node-1")
    sig = key.sign(b"update digest")
    assert verify_signature(scheme, key.public_key, b"update digest", sig)
    assert not verify_signature(scheme, key.public_key, b"update digesT", sig)
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify_signature(scheme, key.public_key, b"update digest", bad)
    other = derive_key(scheme, b"node-2")
    assert not verify_signature(scheme, other.public_key, b"update digest", sig)
    assert not verify_signature(scheme, key.public_key, b"update digest", b"short")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_keys_are_deterministic_from_the_seed(scheme):
    assert derive_key(scheme, b"s").public_key == derive_key(scheme, b"s").public_key
    assert derive_key(scheme, b"s").sign(b"m") == derive_key(scheme, b"s").sign(b"m")


@pytest.mark.parametrize("scheme", ["ecdsa-p256", "ecdsa-secp256k1"])
def test_ecdsa_rejects_high_s_signatures(scheme):
    from edgeledger.crypto.keys import _ORDERS

    key = derive_key(scheme, b"k")
    sig = key.sign(b"m")
    r, s = sig[:32], int.from_bytes(sig[32:], "big")
    assert s <= _ORDERS[scheme] // 2  # we only produce low-S
    high = r + (_ORDERS[scheme] - s).to_bytes(32, "big")  # mathematically valid, but malleated
    assert not verify_signature(scheme, key.public_key, b"m", high)


def test_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="signature scheme 'rsa' is unknown"):
        derive_key("rsa", b"x")
