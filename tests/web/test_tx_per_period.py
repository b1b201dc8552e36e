"""The dashboard's transactions-per-day curve is built block by block in bounded memory (issue 18)."""

from __future__ import annotations

import random

from edgeledger.web.observe_series import TxPerPeriod

HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def _reference(points):
    """The curve from every block at once (what the dashboard computed before it kept buckets)."""
    span_s = (max(p[0] for p in points) - min(p[0] for p in points)) / 1000
    unit, width = ("day", 86400) if span_s >= 2 * 86400 else ("hour", 3600) if span_s >= 2 * 3600 else ("minute", 60)
    counts = {}
    for ms, n in points:
        key = int(ms // 1000 // width * width)
        counts[key] = counts.get(key, 0) + n
    return {"unit": unit, "points": [{"t": k, "tx": counts.get(k, 0)} for k in range(min(counts), max(counts) + 1, width)]}


def test_block_by_block_it_draws_the_same_curve_as_from_all_blocks_at_every_age():
    rng = random.Random(7)
    period, points, ms = TxPerPeriod(), [], 1_700_000_000_000
    checked = set()
    while ms < 1_700_000_000_000 + 5 * DAY_MS:
        ms += rng.randrange(1, 400_000)
        n = rng.randrange(0, 50)
        period.add(ms, n)
        points.append((ms, n))
        assert period.json() == _reference(points)
        checked.add(period.json()["unit"])
    assert checked == {"minute", "hour", "day"}


def test_a_chain_weeks_old_keeps_one_number_per_day():
    period, ms = TxPerPeriod(), 0
    for _ in range(28 * 24 * 60):  # a block a minute for four weeks
        ms += 60_000
        period.add(ms, 3)
    assert list(period.counts) == ["day"] and len(period.counts["day"]) == 29
    assert sum(p["tx"] for p in period.json()["points"]) == 3 * 28 * 24 * 60
    assert TxPerPeriod().json() == {"unit": "day", "points": []}
