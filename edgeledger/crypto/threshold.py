"""Threshold BLS (t-of-n) with a verifiable dealer: Shamir shares and Feldman commitments.

* Shamir, "How to Share a Secret" (CACM 1979): the dealer draws a polynomial f of degree
  t-1 over the BLS12-381 scalar field with f(0) = the group secret and hands member i the
  share f(i), i = 1..n.
* Feldman, "A Practical Scheme for Non-interactive Verifiable Secret Sharing" (FOCS 1987):
  the dealer publishes C_j = a_j * P1 for every coefficient a_j; member i checks
  f(i) * P1 == sum_j i^j * C_j. C_0 is the group public key.
* Boldyreva, "Threshold Signatures, Multisignatures and Blind Signatures Based on the
  Gap-Diffie-Hellman-Group Signature Scheme" (PKC 2003): a signature share is a BLS
  signature under f(i); any t shares combine by Lagrange interpolation at x = 0 into the
  group secret's own signature, which verifies under C_0 with plain ``bls_verify``.

Randomness is injected (``random.Random``, a NumPy ``Generator`` or a bytes seed); nothing
here reads a global RNG. ``random.Random`` is not cryptographically secure: use
``random.SystemRandom()`` or a secret seed outside simulations. Scalar arithmetic and
group operations are py-arkworks-bls12381's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from py_arkworks_bls12381 import G1Point, G2Point, Scalar

from edgeledger.codec import Record
from edgeledger.crypto.bls import CURVE_ORDER, bls_sign, bls_verify, public_key_point, signature_point
from edgeledger.errors import AggregationError, ConfigError, SignatureError

__all__ = [
    "Share",
    "deal",
    "verify_share",
    "public_key_share",
    "group_public_key",
    "sign_share",
    "verify_signature_share",
    "lagrange_coefficients",
    "combine",
]

_G1 = G1Point()
_SEED_DOMAIN = b"edgeledger/threshold-bls/deal/v1"


class Share(Record, frozen=True, tag="threshold.share"):
    """Member ``index``'s secret share f(index), as 32 big-endian bytes (msgpack-safe)."""

    index: int
    value: bytes

    @property
    def secret(self) -> int:
        """The share as an integer in [0, r): the member's BLS secret key."""
        return int.from_bytes(self.value, "big")


class _ScalarStream:
    """Uniform scalars in [0, r) drawn from an injected source (512 bits reduced mod r)."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._counter = 0

    def draw(self) -> int:
        source = self._source
        if isinstance(source, (bytes, bytearray)):
            block = hashlib.sha512(_SEED_DOMAIN + bytes(source) + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        elif hasattr(source, "getrandbits"):  # random.Random and subclasses
            block = source.getrandbits(512).to_bytes(64, "big")
        elif callable(getattr(source, "bytes", None)):  # numpy.random.Generator
            block = bytes(source.bytes(64))
        else:
            raise ConfigError(
                f"randomness must be random.Random, numpy.random.Generator or a bytes seed, got {type(source).__name__}"
            )
        return int(Scalar.from_be_bytes_mod_order(block))


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 < index < CURVE_ORDER:
        raise ConfigError(f"share index must be an integer in [1, r), got {index!r}")


def _evaluate(coefficients: Sequence[Scalar], x: int) -> Scalar:
    """Horner evaluation of the polynomial at x over the scalar field."""
    point = Scalar(x)
    acc = Scalar(0)
    for coefficient in reversed(coefficients):
        acc = acc * point + coefficient
    return acc


def deal(
    secret_or_rng: int | bytes | Any, t: int, n: int, *, rng: Any | None = None
) -> tuple[list[Share], list[bytes]]:
    """Split a group secret into n Shamir shares, any t of which reconstruct it.

    ``secret_or_rng`` is either the group secret (an int in [1, r), with ``rng`` drawing
    the other coefficients) or the randomness itself (``random.Random``, a NumPy
    ``Generator`` or a bytes seed) from which the secret and coefficients are all drawn.
    Returns (shares for indices 1..n, Feldman commitments C_0..C_{t-1} as 48-byte G1 points).
    """
    if isinstance(t, bool) or isinstance(n, bool) or not isinstance(t, int) or not isinstance(n, int):
        raise ConfigError(f"t and n must be integers, got t={t!r}, n={n!r}")
    if not 1 <= t <= n:
        raise ConfigError(f"threshold sharing needs 1 <= t <= n, got t={t}, n={n}")
    if isinstance(secret_or_rng, int) and not isinstance(secret_or_rng, bool):
        if not 0 < secret_or_rng < CURVE_ORDER:
            raise ConfigError(f"group secret must be in [1, r), got {secret_or_rng}")
        if rng is None:
            raise ConfigError("deal(secret, t, n) needs rng= (random.Random, numpy Generator or bytes seed)")
        stream = _ScalarStream(rng)
        secret = secret_or_rng
    else:
        stream = _ScalarStream(secret_or_rng if rng is None else rng)
        secret = 0
        while secret == 0:
            secret = stream.draw()
    coefficients = [Scalar(secret)] + [Scalar(stream.draw()) for _ in range(t - 1)]
    shares = [Share(index=i, value=int(_evaluate(coefficients, i)).to_bytes(32, "big")) for i in range(1, n + 1)]
    commitments = [(_G1 * a).to_compressed_bytes() for a in coefficients]
    return shares, commitments


def _commitment_points(commitments: Sequence[bytes]) -> list[G1Point]:
    if len(commitments) == 0:
        raise ConfigError("Feldman commitments must hold at least C_0, got none")
    return [public_key_point(c) for c in commitments]


def _public_point(index: int, points: Sequence[G1Point]) -> G1Point:
    """sum_j index^j * C_j: the public key of the share f(index)."""
    powers = [Scalar(1)]
    x = Scalar(index)
    for _ in range(len(points) - 1):
        powers.append(powers[-1] * x)
    return G1Point.multiexp_unchecked(list(points), powers)


def public_key_share(index: int, commitments: Sequence[bytes]) -> bytes:
    """Member ``index``'s public key f(index) * P1, computed from the commitments alone."""
    _check_index(index)
    return _public_point(index, _commitment_points(commitments)).to_compressed_bytes()


def group_public_key(commitments: Sequence[bytes]) -> bytes:
    """The group public key C_0 = secret * P1 (validated)."""
    return _commitment_points(commitments)[0].to_compressed_bytes()


def verify_share(index: int, share: Share | int, commitments: Sequence[bytes]) -> bool:
    """Feldman check f(index) * P1 == sum_j index^j * C_j; False for any invalid input."""
    try:
        _check_index(index)
        if isinstance(share, Share):
            if share.index != index or len(share.value) != 32:
                return False
            value = share.secret
        else:
            value = share
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < CURVE_ORDER:
            return False
        points = _commitment_points(commitments)
    except (ConfigError, SignatureError, TypeError):
        return False
    return _G1 * Scalar(value) == _public_point(index, points)


def sign_share(share: Share, message: bytes) -> bytes:
    """Member's signature share: a BLS signature over ``message`` under f(index)."""
    return bls_sign(share.secret, message)


def verify_signature_share(index: int, message: bytes, signature_share: bytes, commitments: Sequence[bytes]) -> bool:
    """True when ``signature_share`` is member ``index``'s valid share for ``message``."""
    try:
        public_key = public_key_share(index, commitments)
    except (ConfigError, SignatureError, TypeError):
        return False
    return bls_verify(public_key, message, signature_share)


def lagrange_coefficients(indices: Sequence[int]) -> list[int]:
    """lambda_i = prod_{j != i} x_j / (x_j - x_i) mod r: interpolation at x = 0."""
    if len(set(indices)) != len(indices):
        raise AggregationError(f"share indices must be distinct, got {sorted(indices)}")
    for index in indices:
        _check_index(index)
    xs = [Scalar(i) for i in indices]
    lambdas: list[int] = []
    for i, xi in enumerate(xs):
        numerator = Scalar(1)
        denominator = Scalar(1)
        for j, xj in enumerate(xs):
            if j != i:
                numerator = numerator * xj
                denominator = denominator * (xj - xi)
        lambdas.append(int(numerator / denominator))
    return lambdas


def combine(
    indexed_sig_shares: Mapping[int, bytes] | Sequence[tuple[int, bytes]], threshold: int | None = None
) -> bytes:
    """Lagrange-combine signature shares at x = 0 into the group signature (96 bytes).

    With t valid shares of one message the result is the group secret's own signature.
    Fewer shares give a signature that does not verify; pass ``threshold`` to refuse them.
    Raises AggregationError (too few or duplicate indices) or SignatureError (bad encoding).
    """
    items = list(indexed_sig_shares.items()) if isinstance(indexed_sig_shares, Mapping) else list(indexed_sig_shares)
    if len(items) == 0:
        raise AggregationError("threshold combination needs at least 1 signature share, got 0")
    if threshold is not None and len(items) < threshold:
        raise AggregationError(
            f"threshold combination needs at least t={threshold} signature shares, got {len(items)}"
        )
    indices = [index for index, _ in items]
    lambdas = lagrange_coefficients(indices)
    points: list[G2Point] = [signature_point(signature) for _, signature in items]
    combined = G2Point.multiexp_unchecked(points, [Scalar(value) for value in lambdas])
    return combined.to_compressed_bytes()
