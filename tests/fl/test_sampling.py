"""Client data drawn with replacement (fl.samples_per_device): every scheme at population scale."""

import numpy as np
import pytest

from edgeledger.errors import ConfigError
from edgeledger.fl.partition_stats import label_histogram_csr, population_summary
from edgeledger.fl.sampling import sample_partition

LABELS = np.repeat(np.arange(10), 100)  # 1000 samples, 100 per class


@pytest.mark.parametrize(("kind", "params"), [("iid", {}), ("dirichlet", {"alpha": 0.5}), ("shards", {}),
                                              ("quantity", {"alpha": 0.5})])
def test_every_scheme_gives_each_of_many_clients_its_samples_from_the_data_set(kind, params):
    k, s = 5000, 12  # 60,000 draws from 1,000 samples: more clients than samples
    index, offsets = sample_partition(kind, LABELS, k, s, np.random.default_rng(1), **params)
    sizes = np.diff(offsets)
    assert offsets[0] == 0 and offsets[-1] == index.size == k * s and sizes.min() >= 1
    if kind != "quantity":
        assert (sizes == s).all()
    assert 0 <= index.min() and index.max() < LABELS.size
    assert all(np.all(np.diff(index[offsets[i]:offsets[i + 1]]) >= 0) for i in range(0, k, 97))  # sorted per client
    again = sample_partition(kind, LABELS, k, s, np.random.default_rng(1), **params)
    assert np.array_equal(index, again[0]) and np.array_equal(offsets, again[1])


def test_label_skew_grows_as_alpha_shrinks_and_shards_give_few_classes():
    def classes(kind, **params):
        index, offsets = sample_partition(kind, LABELS, 2000, 20, np.random.default_rng(2), **params)
        return population_summary(label_histogram_csr(LABELS, index, offsets, 10))["classes_per_client"]["mean"]

    iid, mild, harsh, shards = classes("iid"), classes("dirichlet", alpha=10.0), classes("dirichlet", alpha=0.1), \
        classes("shards")
    assert iid > 8 and mild > 7 and harsh < 4 and shards <= 2.1


def test_quantity_skew_varies_sizes_around_the_mean():
    index, offsets = sample_partition("quantity", LABELS, 1000, 30, np.random.default_rng(3), alpha=0.5)
    sizes = np.diff(offsets)
    assert sizes.sum() == 30_000 and sizes.min() >= 1 and sizes.max() > 90


@pytest.mark.parametrize(("kind", "s", "params", "needle"), [
    ("shards", 1, {"shards_per_client": 2}, "need at least 2 samples per device, got fl.samples_per_device=1"),
    ("dirichlet", 5, {"alpha": 0.0}, "alpha must be a finite number > 0"),
    ("zipf", 5, {}, "cannot draw samples with replacement"),
    ("iid", 5, {"alpha": 1.0}, "takes no parameters"),
    ("iid", 0, {}, "samples_per_client >= 1"),
])
def test_impossible_settings_name_the_numbers(kind, s, params, needle):
    with pytest.raises(ConfigError, match=needle):
        sample_partition(kind, LABELS, 10, s, np.random.default_rng(0), **params)


def test_csr_histogram_equals_the_per_client_one():
    from edgeledger.fl.partition_stats import label_histogram

    index, offsets = sample_partition("dirichlet", LABELS, 50, 9, np.random.default_rng(4), alpha=0.3)
    parts = [index[offsets[i]:offsets[i + 1]] for i in range(50)]
    assert np.array_equal(label_histogram_csr(LABELS, index, offsets, 10), label_histogram(LABELS, parts, 10))
