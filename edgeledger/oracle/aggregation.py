"""How a master turns its drawn work nodes' observations into one result (Fig. 2, "aggregate").

Data requests take the median of fixed-point readings (the lower median for an even count,
so the result is an integer every member recomputes bit for bit): one lying source among
``t`` readings cannot move it past an honest one. Compute and cross-chain requests need
agreement: the value at least ``t`` work nodes observed, else nothing. (A quorum of junk
verdicts is handled before, by the core: :data:`edgeledger.oracle.stake.JUNK`.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from edgeledger.codec import decode, encode
from edgeledger.errors import AggregationError, DecodeError

__all__ = ["aggregate_observations", "lower_median"]


def lower_median(values: Sequence[int]) -> int:
    if not values:
        raise AggregationError("median needs at least 1 reading, got 0")
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def aggregate_observations(kind: str, values: Sequence[bytes], threshold: int) -> bytes | None:
    """The encoded result of ``values`` (encoded observations), or None without a quorum."""
    if len(values) < threshold:
        return None
    if kind == "data":
        try:
            readings = [decode(v, int) for v in values]
        except DecodeError:
            return None
        return encode(lower_median(readings))
    value, count = max(sorted(Counter(values).items()), key=lambda kv: kv[1])
    return value if count >= threshold else None
