"""Threshold BLS: Feldman-verifiable Shamir dealing and Lagrange combination of shares."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.bls import CURVE_ORDER, bls_sign, bls_sk_to_pk, bls_verify
from edgeledger.crypto.threshold import (
    Share,
    combine,
    deal,
    group_public_key,
    lagrange_coefficients,
    public_key_share,
    sign_share,
    verify_share,
    verify_signature_share,
)
from edgeledger.errors import AggregationError, ConfigError, SignatureError

MESSAGE = b"pedal term 3: oracle result 42.17"
SECRET = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF


@pytest.fixture(scope="module")
def dealing() -> tuple[list[Share], list[bytes], dict[int, bytes]]:
    shares, commitments = deal(SECRET, 3, 5, rng=random.Random(2024))
    signature_shares = {share.index: sign_share(share, MESSAGE) for share in shares}
    return shares, commitments, signature_shares


def test_threshold_any_t_of_n_shares_combine_to_the_group_signature(dealing) -> None:
    shares, commitments, signature_shares = dealing
    group_key = group_public_key(commitments)
    assert group_key == bls_sk_to_pk(SECRET)
    expected = bls_sign(SECRET, MESSAGE)
    for subset in itertools.combinations(sorted(signature_shares), 3):
        combined = combine({i: signature_shares[i] for i in subset}, threshold=3)
        assert combined == expected
        assert bls_verify(group_key, MESSAGE, combined)


def test_threshold_more_than_t_shares_also_combine(dealing) -> None:
    _, commitments, signature_shares = dealing
    assert combine(list(signature_shares.items())) == bls_sign(SECRET, MESSAGE)


def test_threshold_t_minus_one_shares_do_not_give_a_valid_signature(dealing) -> None:
    _, commitments, signature_shares = dealing
    group_key = group_public_key(commitments)
    for subset in itertools.combinations(sorted(signature_shares), 2):
        combined = combine({i: signature_shares[i] for i in subset})
        assert not bls_verify(group_key, MESSAGE, combined)
    with pytest.raises(AggregationError, match="at least t=3"):
        combine({1: signature_shares[1], 2: signature_shares[2]}, threshold=3)


def test_threshold_every_share_passes_feldman_verification(dealing) -> None:
    shares, commitments, _ = dealing
    assert len(commitments) == 3
    for share in shares:
        assert verify_share(share.index, share, commitments)
        assert verify_share(share.index, share.secret, commitments)
        assert public_key_share(share.index, commitments) == bls_sk_to_pk(share.secret)


def test_threshold_corrupted_share_fails_feldman_verification(dealing) -> None:
    shares, commitments, _ = dealing
    share = shares[1]
    corrupted = Share(index=share.index, value=((share.secret + 1) % CURVE_ORDER).to_bytes(32, "big"))
    assert not verify_share(share.index, corrupted, commitments)
    assert not verify_share(share.index + 1, share, commitments)  # index mismatch
    assert not verify_share(share.index, shares[2].secret, commitments)  # another member's value
    _, other_commitments = deal(SECRET, 3, 5, rng=random.Random(1))
    assert not verify_share(share.index, share, other_commitments)
    assert not verify_share(share.index, share, commitments[:2])  # a dropped coefficient
    assert not verify_share(0, share, commitments)
    assert not verify_share(share.index, share, [b"\x00" * 48, *commitments[1:]])


def test_threshold_signature_shares_are_verifiable_per_member(dealing) -> None:
    _, commitments, signature_shares = dealing
    for index, signature in signature_shares.items():
        assert verify_signature_share(index, MESSAGE, signature, commitments)
    assert not verify_signature_share(1, MESSAGE, signature_shares[2], commitments)
    assert not verify_signature_share(1, MESSAGE + b"x", signature_shares[1], commitments)


def test_threshold_19_of_27_with_a_seeded_dealer() -> None:
    shares, commitments = deal(b"group-seed-7", 19, 27)
    assert deal(b"group-seed-7", 19, 27) == (shares, commitments)
    chosen = random.Random(5).sample(shares, 19)
    combined = combine({s.index: sign_share(s, MESSAGE) for s in chosen}, threshold=19)
    assert bls_verify(group_public_key(commitments), MESSAGE, combined)


def test_threshold_dealer_accepts_random_numpy_and_seed_sources_without_global_rng() -> None:
    state = random.getstate()
    np_state = np.random.get_state()[1].copy()
    for source in (random.Random(3), np.random.default_rng(3), b"seed"):
        shares, commitments = deal(source, 2, 3)
        assert all(verify_share(s.index, s, commitments) for s in shares)
    assert random.getstate() == state
    assert (np.random.get_state()[1] == np_state).all()
    assert deal(random.Random(9), 2, 3) == deal(random.Random(9), 2, 3)
    assert deal(np.random.default_rng(9), 2, 3) == deal(np.random.default_rng(9), 2, 3)


def test_threshold_one_of_n_gives_every_member_the_secret() -> None:
    shares, commitments = deal(SECRET, 1, 4, rng=b"s")
    assert {share.secret for share in shares} == {SECRET}
    assert commitments == [bls_sk_to_pk(SECRET)]


def test_threshold_share_round_trips_through_the_codec(dealing) -> None:
    share = dealing[0][0]
    assert decode(encode(share), Share) == share


@pytest.mark.parametrize(("t", "n"), [(0, 3), (4, 3), (-1, 2), (True, 2)])
def test_threshold_deal_rejects_bad_parameters(t: int, n: int) -> None:
    with pytest.raises(ConfigError):
        deal(b"seed", t, n)


def test_threshold_deal_rejects_bad_secret_and_missing_rng() -> None:
    with pytest.raises(ConfigError, match="needs rng="):
        deal(SECRET, 2, 3)
    with pytest.raises(ConfigError, match=r"\[1, r\)"):
        deal(0, 2, 3, rng=b"s")
    with pytest.raises(ConfigError, match="randomness must be"):
        deal(object(), 2, 3)


def test_threshold_combine_rejects_duplicates_and_bad_shares(dealing) -> None:
    _, _, signature_shares = dealing
    with pytest.raises(AggregationError, match="distinct"):
        combine([(1, signature_shares[1]), (1, signature_shares[1])])
    with pytest.raises(AggregationError):
        combine({})
    with pytest.raises(SignatureError):
        combine({1: signature_shares[1], 2: b"\x00" * 96})
    with pytest.raises(ConfigError):
        combine({0: signature_shares[1], 2: signature_shares[2]})


def test_threshold_lagrange_coefficients_at_zero_sum_to_one() -> None:
    assert sum(lagrange_coefficients([1, 2, 3])) % CURVE_ORDER == 1
    assert lagrange_coefficients([1, 2]) == [2, CURVE_ORDER - 1]
