"""Round metrics exactly as Hyperledger Caliper defines them, from a trace of transactions.

A trace holds one :class:`TxRecord` per transaction: when it was created/submitted, when
it finished (commit seen, read answered, or failure known), whether it succeeded and
whether it was committed. Then:

- succ, fail: counts (a committed transaction whose receipt says invalid is a failure,
  and so is one refused at submission or not committed before the round's timeout);
- send rate = (succ + fail) / (last submit - first submit);
- throughput = (succ + fail) / (last finish - first submit);
- latency min/max/avg over successful transactions (finish - submit), plus p50/p95/p99
  (nearest-rank percentiles);
- committed throughput = committed / (last commit - first submit), committed ones only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TxRecord", "RoundMetrics", "compute_metrics", "percentile", "throughput_series", "latency_series"]


@dataclass
class TxRecord:
    submit: float
    finish: float | None = None
    ok: bool = False
    committed: bool = False
    reason: str = ""
    tx_id: str = ""


@dataclass(frozen=True)
class RoundMetrics:
    succ: int
    fail: int
    send_rate_tps: float
    throughput_tps: float
    committed: int
    committed_throughput_tps: float
    latency_min_s: float | None
    latency_max_s: float | None
    latency_avg_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _rate(count: int, start: float, end: float) -> float:
    span = end - start
    if count == 0:
        return 0.0
    return count / span if span > 0 else float(count)  # Caliper: a single instant counts as one second


def compute_metrics(trace: list[TxRecord]) -> RoundMetrics:
    """Caliper's per-round figures over ``trace`` (an unfinished record counts as failed at its submit)."""
    succ = sum(1 for r in trace if r.ok)
    fail = len(trace) - succ
    if not trace:
        return RoundMetrics(0, 0, 0.0, 0.0, 0, 0.0, None, None, None, None, None, None)
    first = min(r.submit for r in trace)
    last_submit = max(r.submit for r in trace)
    last_finish = max(r.finish if r.finish is not None else r.submit for r in trace)
    lat = sorted(r.finish - r.submit for r in trace if r.ok and r.finish is not None)
    commits = [r.finish for r in trace if r.committed and r.finish is not None]
    return RoundMetrics(
        succ=succ, fail=fail,
        send_rate_tps=_rate(succ + fail, first, last_submit),
        throughput_tps=_rate(succ + fail, first, last_finish),
        committed=len(commits),
        committed_throughput_tps=_rate(len(commits), first, max(commits)) if commits else 0.0,
        latency_min_s=lat[0] if lat else None, latency_max_s=lat[-1] if lat else None,
        latency_avg_s=sum(lat) / len(lat) if lat else None,
        latency_p50_s=percentile(lat, 50), latency_p95_s=percentile(lat, 95), latency_p99_s=percentile(lat, 99),
    )


def throughput_series(trace: list[TxRecord], bin_s: float = 1.0) -> list[tuple[float, int, int]]:
    """(bin start offset, submitted, finished-successfully) per whole ``bin_s`` from the first submit.

    The last, partial bin is left out: a rate over a fraction of a bin reads as a false drop."""
    if not trace:
        return []
    first = min(r.submit for r in trace)
    end = max(r.finish if r.finish is not None else r.submit for r in trace)
    n = int((end - first) // bin_s)
    sent, done = [0] * n, [0] * n
    for r in trace:
        k = int((r.submit - first) // bin_s)
        if k < n:
            sent[k] += 1
        if r.ok and r.finish is not None and (k := int((r.finish - first) // bin_s)) < n:
            done[k] += 1
    return [(k * bin_s, sent[k], done[k]) for k in range(n)]


def latency_series(trace: list[TxRecord], bin_s: float = 1.0) -> list[tuple[float, float, float, float, int]]:
    """(bin start, p50, p95, p99, count) of successful transactions' latency by the bin they finished in;
    whole bins only, empty bins skipped."""
    if not trace:
        return []
    first = min(r.submit for r in trace)
    end = max(r.finish if r.finish is not None else r.submit for r in trace)
    n = int((end - first) // bin_s)
    bins: dict[int, list[float]] = {}
    for r in trace:
        if r.ok and r.finish is not None and (k := int((r.finish - first) // bin_s)) < n:
            bins.setdefault(k, []).append(r.finish - r.submit)
    out = []
    for k in sorted(bins):
        values = sorted(bins[k])
        out.append((k * bin_s, percentile(values, 50), percentile(values, 95), percentile(values, 99), len(values)))
    return out  # type: ignore[return-value]
