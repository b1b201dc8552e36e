"""Joint-Feldman arithmetic: the sum of the dealers' polynomials is a threshold key nobody dealt."""

import random

import pytest

from edgeledger.crypto.bls import bls_verify
from edgeledger.crypto.dkg import combine_commitments, combine_shares, share_from_bytes
from edgeledger.crypto.threshold import combine, deal, group_public_key, sign_share, verify_share
from edgeledger.errors import ConfigError


def test_summed_shares_sign_under_the_summed_key():
    rng = random.Random(5)
    n, t = 4, 3
    dealt = [deal(rng, t, n) for _ in range(n)]  # every member deals a polynomial
    commitments = combine_commitments([c for _, c in dealt])
    shares = [combine_shares(j, [s[j - 1] for s, _ in dealt]) for j in range(1, n + 1)]
    assert all(verify_share(s.index, s, commitments) for s in shares)
    key = group_public_key(commitments)
    assert key not in {c[0] for _, c in dealt}  # no dealer's own key
    for signers in ([1, 2, 3], [2, 3, 4], [1, 3, 4]):
        signature = combine({j: sign_share(shares[j - 1], b"reading 51.2") for j in signers}, threshold=t)
        assert bls_verify(key, b"reading 51.2", signature)
    assert not bls_verify(key, b"reading 51.2",
                          combine({j: sign_share(shares[j - 1], b"reading 51.2") for j in (1, 2)}))


def test_a_share_from_another_polynomial_fails_the_feldman_check():
    rng = random.Random(6)
    (shares, commitments), (other, _) = deal(rng, 2, 3), deal(rng, 2, 3)
    assert verify_share(2, shares[1], commitments) and not verify_share(2, other[1], commitments)
    assert share_from_bytes(1, b"\xff" * 32) is None and share_from_bytes(1, b"\x01") is None


def test_mismatched_inputs_are_refused():
    rng = random.Random(7)
    with pytest.raises(ConfigError, match="at least one qualified dealer"):
        combine_commitments([])
    with pytest.raises(ConfigError, match="commit to 2"):
        combine_commitments([deal(rng, 2, 3)[1], deal(rng, 3, 3)[1]])
    a, b = deal(rng, 2, 3)[0], deal(rng, 2, 3)[0]
    with pytest.raises(ConfigError, match="index 1"):
        combine_shares(1, [a[0], b[1]])
