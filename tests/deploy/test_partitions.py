"""Jepsen-style, short (issue 18): partitions and kills on real processes lose no acknowledged transaction."""

from __future__ import annotations

from edgeledger.bench.partitions import run_partition_test


def test_acknowledged_transactions_survive_partitions_and_kills_and_chains_agree(tmp_path):
    result = run_partition_test(tmp_path, seconds=15.0, seed=3, rate_per_client=10.0, recovery_timeout=90.0)
    assert result.acknowledged > 50 and sum(result.faults.values()) >= 3, result.summary()
    assert result.recovered, result.problems
    assert result.acknowledged_lost == 0 and result.duplicated == 0, result.summary()
    assert result.chains_agree, result.summary()
