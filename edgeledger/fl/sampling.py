"""Client data drawn with replacement, so a population larger than a data set trains on real data.

With ``samples_per_client = S`` each of K clients holds S sample indices drawn from the data
set (with replacement, from an explicit generator), so 100,000 devices can each hold 60 MNIST
samples though MNIST has 60,000. The schemes mirror :mod:`edgeledger.fl.partition`:

- ``iid``: S uniform draws per client.
- ``dirichlet``: label skew after Hsu et al. 2019 ("Measuring the effects of non-identical
  data distribution", section 3): client k's class mix is q_k ~ Dir(alpha * C * p), p the
  data set's label frequencies (so on a balanced set every class has concentration ``alpha``,
  the meaning ``alpha`` has in the split scheme); its S labels follow Multinomial(S, q_k) and
  each is a uniform draw from that class.
- ``shards``: McMahan et al. 2017, section 3, on a pool of K * S draws: sort the pool by
  label, cut it into K * ``shards_per_client`` shards, deal each client that many at random.
- ``quantity``: NIID-Bench's quantity skew (Li et al., ICDE 2022): client sizes are
  1 + Multinomial(K * S - K, Dir(alpha)) (mean S, at least 1), samples IID.

The result is one CSR pair ``(index, offsets)``: client k holds ``index[offsets[k]:offsets[k+1]]``
(sorted), one array for the whole population instead of one per client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeledger.errors import ConfigError

__all__ = ["sample_partition", "SAMPLED_SCHEMES"]

SAMPLED_SCHEMES = ("iid", "dirichlet", "shards", "quantity")


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + n)`` for every (s, n), without a Python loop."""
    total = int(sizes.sum())
    ends = np.cumsum(sizes)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - sizes), sizes)


def _sort_within(index: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """Sort each client's slice of ``index`` (values < n) in one vectorised pass."""
    owner = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    return np.sort(owner * n + index) - owner * n


def _iid(labels: np.ndarray, k: int, s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, labels.size, size=k * s, dtype=np.int64), np.arange(k + 1, dtype=np.int64) * s


def _dirichlet(labels: np.ndarray, k: int, s: int, rng: np.random.Generator,
               alpha: float) -> tuple[np.ndarray, np.ndarray]:
    classes, counts_per_class = np.unique(labels, return_counts=True)
    prior = counts_per_class / labels.size  # [C]
    q = rng.dirichlet(alpha * classes.size * prior, size=k)  # [K, C]
    bad = ~np.isfinite(q).all(axis=1) | (q.sum(axis=1) <= 0)
    q[bad] = prior  # underflow at tiny alpha: such a client keeps the global mix
    q /= q.sum(axis=1, keepdims=True)
    counts = rng.multinomial(s, q)  # [K, C], each row sums to S
    within = np.cumsum(counts, axis=1) - counts  # [K, C]: where class c starts inside client k's slice
    index = np.empty(k * s, dtype=np.int64)
    for c, label in enumerate(classes):
        pool = np.flatnonzero(labels == label)
        n_c = counts[:, c]
        draws = pool[rng.integers(0, pool.size, size=int(n_c.sum()))]
        index[_ranges(np.arange(k, dtype=np.int64) * s + within[:, c], n_c)] = draws
    return index, np.arange(k + 1, dtype=np.int64) * s


def _shards(labels: np.ndarray, k: int, s: int, rng: np.random.Generator,
            shards_per_client: int = 2) -> tuple[np.ndarray, np.ndarray]:
    spc = int(shards_per_client)
    if spc < 1:
        raise ConfigError(f"shards_per_client must be >= 1, got {shards_per_client}")
    if s < spc:
        raise ConfigError(f"shards: {spc} shards per device need at least {spc} samples per device, "
                          f"got fl.samples_per_device={s}")
    pool = rng.integers(0, labels.size, size=k * s, dtype=np.int64)
    order = pool[np.argsort(labels[pool], kind="stable")]  # [K*S], label-sorted draws
    n_shards = k * spc
    sizes = np.full(n_shards, (k * s) // n_shards, dtype=np.int64)
    sizes[: (k * s) % n_shards] += 1  # np.array_split's shard sizes
    starts = np.cumsum(sizes) - sizes
    dealt = rng.permutation(n_shards)  # [K*spc]: client i gets dealt[i*spc:(i+1)*spc]
    index = order[_ranges(starts[dealt], sizes[dealt])]
    per_client = sizes[dealt].reshape(k, spc).sum(axis=1)
    return index, np.concatenate([[0], np.cumsum(per_client)]).astype(np.int64)


def _quantity(labels: np.ndarray, k: int, s: int, rng: np.random.Generator,
              alpha: float) -> tuple[np.ndarray, np.ndarray]:
    p = rng.dirichlet(np.full(k, alpha))  # [K]
    if not np.all(np.isfinite(p)) or p.sum() <= 0:
        p = np.full(k, 1.0 / k)
    sizes = 1 + rng.multinomial(k * s - k, p / p.sum())  # [K], mean S
    return rng.integers(0, labels.size, size=k * s, dtype=np.int64), np.concatenate([[0], np.cumsum(sizes)])


def sample_partition(kind: str, labels: np.ndarray, n_clients: int, samples_per_client: int,
                     rng: np.random.Generator, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(index, offsets)`` of ``n_clients`` clients drawing ``samples_per_client`` samples each
    (``quantity``: on average) from ``labels``' data set with replacement; see the module doc.

    ``params``: ``alpha`` (dirichlet, quantity; > 0), ``shards_per_client`` (shards; default 2).
    Impossible settings raise :class:`ConfigError` naming the numbers."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ConfigError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    k, s = int(n_clients), int(samples_per_client)
    if k < 1 or s < 1:
        raise ConfigError(f"sampled partition needs n_clients >= 1 and samples_per_client >= 1, got {k} and {s}")
    if kind not in SAMPLED_SCHEMES:
        raise ConfigError(f"partition {kind!r} cannot draw samples with replacement; expected one of "
                          f"{list(SAMPLED_SCHEMES)}")
    if kind in ("dirichlet", "quantity"):
        alpha = float(params.pop("alpha", 0.5))
        if not np.isfinite(alpha) or alpha <= 0:
            raise ConfigError(f"Dirichlet concentration alpha must be a finite number > 0, got {alpha}")
        params["alpha"] = alpha
    allowed = {"iid": set(), "dirichlet": {"alpha"}, "shards": {"shards_per_client"}, "quantity": {"alpha"}}[kind]
    if set(params) - allowed:
        raise ConfigError(f"partition {kind!r} takes {sorted(allowed) or 'no parameters'}, got {sorted(params)}")
    schemes: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
        "iid": _iid, "dirichlet": _dirichlet, "shards": _shards, "quantity": _quantity}
    scheme = schemes[kind]
    index, offsets = scheme(labels, k, s, rng, **params)
    return _sort_within(index, offsets, labels.size), offsets.astype(np.int64)
