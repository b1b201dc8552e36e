from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeledger.errors import ConfigError, RegistryError
from edgeledger.fl.partition import (
    partition,
    partition_dirichlet,
    partition_iid,
    partition_quantity_skew,
    partition_shards,
    partitions,
)

LABELS = np.repeat(np.arange(10), 100)  # 1000 samples, 100 per class


def _assert_exact_cover(parts: list[np.ndarray], n: int) -> None:
    assert all(p.dtype == np.int64 for p in parts)
    assert all(np.all(np.diff(p) > 0) for p in parts), "each part is sorted and duplicate-free"
    joined = np.concatenate(parts)
    assert joined.size == n and np.array_equal(np.sort(joined), np.arange(n))


def test_all_schemes_are_registered() -> None:
    assert set(partitions.names()) == {"iid", "dirichlet", "shards", "quantity"}


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("iid", {}),
        ("dirichlet", {"alpha": 0.5}),
        ("shards", {"shards_per_client": 2}),
        ("quantity", {"alpha": 1.0}),
    ],
)
def test_every_scheme_assigns_each_sample_to_exactly_one_client(kind: str, params: dict) -> None:
    parts = partition(kind, LABELS, 10, np.random.default_rng(0), **params)
    assert len(parts) == 10 and all(p.size > 0 for p in parts)
    _assert_exact_cover(parts, LABELS.size)


@pytest.mark.parametrize(
    ("kind", "params"),
    [("iid", {}), ("dirichlet", {"alpha": 0.3}), ("shards", {}), ("quantity", {"alpha": 0.5})],
)
def test_same_seed_gives_same_split(kind: str, params: dict) -> None:
    a = partition(kind, LABELS, 7, np.random.default_rng(42), **params)
    b = partition(kind, LABELS, 7, np.random.default_rng(42), **params)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=20, max_value=300),
    n_clients=st.integers(min_value=1, max_value=10),
    n_classes=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_iid_shards_quantity_cover_exactly_for_any_sizes(
    n: int, n_clients: int, n_classes: int, seed: int
) -> None:
    labels = np.random.default_rng(seed).integers(0, n_classes, size=n)
    rng = np.random.default_rng(seed)
    for parts in (
        partition_iid(labels, n_clients, rng),
        partition_shards(labels, n_clients, 2, rng=rng),
        partition_quantity_skew(labels, n_clients, 0.5, rng),
    ):
        assert len(parts) == n_clients and min(p.size for p in parts) >= 1
        _assert_exact_cover(parts, n)


def test_iid_sizes_differ_by_at_most_one() -> None:
    sizes = [p.size for p in partition_iid(LABELS, 7, np.random.default_rng(1))]
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_small_alpha_is_label_skewed_and_large_alpha_is_not() -> None:
    def mean_max_class_share(alpha: float) -> float:
        parts = partition_dirichlet(LABELS, 10, alpha, np.random.default_rng(0), min_size=5)
        return float(np.mean([np.bincount(LABELS[p], minlength=10).max() / p.size for p in parts]))

    assert mean_max_class_share(0.1) > 0.5  # most of a client's data is one class
    assert mean_max_class_share(100.0) < 0.2  # close to the uniform 0.1


def test_dirichlet_respects_min_size() -> None:
    parts = partition_dirichlet(LABELS, 20, 0.3, np.random.default_rng(3), min_size=10)
    assert min(p.size for p in parts) >= 10
    _assert_exact_cover(parts, LABELS.size)


def test_dirichlet_impossible_min_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="n_samples >= n_clients"):
        partition_dirichlet(LABELS, 200, 0.5, np.random.default_rng(0), min_size=10)


def test_shards_give_each_client_at_most_shards_per_client_labels() -> None:
    parts = partition_shards(LABELS, 10, 2, rng=np.random.default_rng(0))
    assert all(len(np.unique(LABELS[p])) <= 2 for p in parts)
    assert all(p.size == 100 for p in parts)
    _assert_exact_cover(parts, LABELS.size)


def test_quantity_skew_varies_sizes_but_not_label_mix() -> None:
    parts = partition_quantity_skew(LABELS, 5, 0.5, np.random.default_rng(2))
    sizes = sorted(p.size for p in parts)
    assert sizes[-1] > 2 * sizes[0]
    _assert_exact_cover(parts, LABELS.size)


def test_more_clients_than_samples_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot give 11 clients"):
        partition("iid", np.zeros(10, np.int64), 11, np.random.default_rng(0))


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_bad_alpha_is_a_config_error(alpha: float) -> None:
    with pytest.raises(ConfigError, match="alpha"):
        partition("dirichlet", LABELS, 4, np.random.default_rng(0), alpha=alpha)


def test_unknown_scheme_and_unknown_parameter_are_config_errors() -> None:
    with pytest.raises(RegistryError, match="iid"):
        partition("by-zipcode", LABELS, 4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="beta"):
        partition("iid", LABELS, 4, np.random.default_rng(0), beta=0.3)
    with pytest.raises(ConfigError, match="alpha"):
        partition("dirichlet", LABELS, 4, np.random.default_rng(0))
