"""The arithmetic of Pedersen's distributed key generation (joint Feldman) on BLS12-381.

Pedersen, "A Threshold Cryptosystem without a Trusted Party" (EUROCRYPT 1991), with the
complaint rounds of Gennaro, Jarecki, Krawczyk and Rabin, "Secure Distributed Key
Generation for Discrete-Log Based Cryptosystems" (J. Cryptology 2007), section 3:

* every member i deals a random polynomial f_i of degree t-1 exactly as a Feldman dealer
  does (:func:`edgeledger.crypto.threshold.deal`): commitments C_ik = a_ik * P1 and a share
  s_ij = f_i(j) for every member j;
* members complain about dealers whose share fails the Feldman check; a dealer answers a
  complaint by revealing the share, which everyone checks; a dealer who does not, or whose
  revealed share fails, is disqualified; QUAL is the rest;
* the group's polynomial is F = sum of f_i over QUAL: its commitments are the
  coefficient-wise sums of the C_ik (:func:`combine_commitments`, C_0 the group key) and
  member j's share is x_j = sum of s_ij over QUAL (:func:`combine_shares`). Nobody ever
  holds F(0).

Joint Feldman lets a rushing adversary bias the distribution of the group key (GJKR,
section 4); Gennaro et al. ("Secure applications of Pedersen's distributed key generation
protocol", CT-RSA 2003) show that threshold Schnorr-type schemes stay secure with it, and
BLS threshold signing only needs the key to be unknown, which it is. Group arithmetic is
py-arkworks-bls12381's; this module adds only sums.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_arkworks_bls12381 import Scalar

from edgeledger.crypto.bls import CURVE_ORDER, public_key_point
from edgeledger.crypto.threshold import Share
from edgeledger.errors import ConfigError

__all__ = ["combine_commitments", "combine_shares", "share_from_bytes"]


def combine_commitments(dealt: Sequence[Sequence[bytes]]) -> list[bytes]:
    """Coefficient-wise sum of the qualified dealers' Feldman commitments (each t G1 points)."""
    if not dealt:
        raise ConfigError("combining commitments needs at least one qualified dealer, got none")
    t = len(dealt[0])
    if t == 0 or any(len(c) != t for c in dealt):
        raise ConfigError(f"every dealer must commit to {t} >= 1 coefficients, got {[len(c) for c in dealt]}")
    sums = []
    for k in range(t):
        acc = public_key_point(dealt[0][k])
        for commitments in dealt[1:]:
            acc = acc + public_key_point(commitments[k])
        sums.append(acc.to_compressed_bytes())
    return sums


def combine_shares(index: int, shares: Sequence[Share]) -> Share:
    """Member ``index``'s share of the group polynomial: the sum of the qualified dealers' shares to it."""
    if not shares or any(s.index != index for s in shares):
        raise ConfigError(f"shares to combine must all be for index {index}, got {[s.index for s in shares]}")
    total = Scalar(0)
    for share in shares:
        total = total + Scalar(share.secret)
    return Share(index=index, value=int(total).to_bytes(32, "big"))


def share_from_bytes(index: int, value: bytes) -> Share | None:
    """A revealed or decrypted share, or None when ``value`` is not 32 bytes of a scalar in [0, r)."""
    if not isinstance(value, bytes) or len(value) != 32 or int.from_bytes(value, "big") >= CURVE_ORDER:
        return None
    return Share(index=index, value=value)

