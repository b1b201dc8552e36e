import pytest

from edgeledger.bench.metrics import TxRecord, compute_metrics, percentile, throughput_series


def synthetic_trace():
    return [
        TxRecord(submit=0.0, finish=1.0, ok=True, committed=True),  # latency 1
        TxRecord(submit=0.5, finish=2.5, ok=True, committed=True),  # latency 2
        TxRecord(submit=1.0, finish=1.5, ok=False, reason="HTTP 409"),  # refused at submission
        TxRecord(submit=2.0, finish=5.0, ok=True, committed=True),  # latency 3
        TxRecord(submit=4.0, finish=6.0, ok=False, committed=True, reason="receipt not ok"),  # committed but failed
    ]


def test_caliper_metrics_match_hand_computed_values():
    m = compute_metrics(synthetic_trace())
    assert (m.succ, m.fail, m.committed) == (3, 2, 4)
    assert m.send_rate_tps == pytest.approx(5 / (4.0 - 0.0))  # (succ+fail) / (last submit - first submit)
    assert m.throughput_tps == pytest.approx(5 / (6.0 - 0.0))  # (succ+fail) / (last finish - first submit)
    assert m.committed_throughput_tps == pytest.approx(4 / 6.0)
    assert (m.latency_min_s, m.latency_max_s, m.latency_avg_s) == (1.0, 3.0, 2.0)  # successful only
    assert (m.latency_p50_s, m.latency_p95_s, m.latency_p99_s) == (2.0, 3.0, 3.0)  # nearest rank of [1, 2, 3]


def test_unfinished_transaction_counts_as_failed_at_its_submit_time():
    trace = synthetic_trace()[:2] + [TxRecord(submit=3.0)]
    m = compute_metrics(trace)
    assert (m.succ, m.fail) == (2, 1)
    assert m.throughput_tps == pytest.approx(3 / 3.0)  # last finish is the unfinished one's submit (3.0)


def test_nearest_rank_percentiles_and_empty_trace():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([], 50) is None
    m = compute_metrics([])
    assert (m.succ, m.fail, m.throughput_tps, m.latency_avg_s) == (0, 0, 0.0, None)


def test_throughput_series_bins_submissions_and_successes_without_the_partial_last_bin():
    # the trace ends at 6.0: the bin [6, 8) is partial and would read as a false drop to zero
    assert throughput_series(synthetic_trace(), 2.0) == [(0.0, 3, 1), (2.0, 1, 1), (4.0, 1, 1)]


def test_latency_series_gives_percentiles_per_whole_bin():
    from edgeledger.bench.metrics import latency_series

    # successes finish at 1.0 (latency 1), 2.5 (2) and 5.0 (3); bins of 2 s up to 6.0
    assert latency_series(synthetic_trace(), 2.0) == [(0.0, 1.0, 1.0, 1.0, 1), (2.0, 2.0, 2.0, 2.0, 1),
                                                      (4.0, 3.0, 3.0, 3.0, 1)]
