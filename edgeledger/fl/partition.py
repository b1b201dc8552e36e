"""Split a data set's sample indices among FL clients: IID and the usual non-IID schemes.

Every scheme returns one sorted int64 index array per client; together they cover every
sample exactly once. Randomness comes only from the ``numpy.random.Generator`` passed in,
so a seed fixes the split. The schemes follow the NIID-Bench taxonomy (Li et al., ICDE 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.plugin_params import bind_params
from edgeledger.registry import Registry

__all__ = [
    "partitions",
    "partition",
    "partition_iid",
    "partition_dirichlet",
    "partition_shards",
    "partition_quantity_skew",
]

Partitioner = Callable[..., list[np.ndarray]]

partitions: Registry[Partitioner] = Registry("partition")


def _check(labels: np.ndarray, n_clients: int, min_per_client: int = 1) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be a 1-D array, got shape {labels.shape}")
    if int(n_clients) < 1:
        raise ConfigError(f"n_clients must be >= 1, got {n_clients}")
    if labels.size < n_clients * min_per_client:
        raise ConfigError(
            f"cannot give {n_clients} clients {min_per_client} sample(s) each from "
            f"{labels.size} samples; expected n_samples >= n_clients * {min_per_client}"
        )
    return labels


def _check_alpha(alpha: float) -> float:
    if not np.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"Dirichlet concentration alpha must be a finite number > 0, got {alpha}")
    return float(alpha)


def _sorted_parts(parts: list[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(p.astype(np.int64, copy=False)) for p in parts]


@partitions.register("iid")
def partition_iid(labels: np.ndarray, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, then cut into ``n_clients`` near-equal parts (sizes differ by at most one)."""
    labels = _check(labels, n_clients)
    order = rng.permutation(labels.size)  # [N]
    return _sorted_parts(np.array_split(order, n_clients))


@partitions.register("dirichlet")
def partition_dirichlet(
    labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rng: np.random.Generator,
    min_size: int = 10,
    max_tries: int = 1000,
) -> list[np.ndarray]:
    """Label skew: each class is split among clients by proportions ~ Dir(alpha).

    Small ``alpha`` gives each client few classes (Hsu et al. 2019, "Measuring the effects
    of non-identical data distribution"); per-class sampling with the balancing rule of
    Yurochkin et al. 2019 / NIID-Bench, redrawn until every client holds ``min_size``.
    """
    labels = _check(labels, n_clients, max(1, int(min_size)))
    alpha = _check_alpha(alpha)
    n = labels.size
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    cap = n / n_clients
    for _ in range(int(max_tries)):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        sizes = np.zeros(n_clients, dtype=np.int64)  # [K]
        for idx in by_class:
            idx = rng.permutation(idx)
            p = rng.dirichlet(np.full(n_clients, alpha))  # [K]
            p = np.where(sizes < cap, p, 0.0)  # full clients take no more
            total = p.sum()
            p = p / total if np.isfinite(total) and total > 0 else (sizes < cap) / np.sum(sizes < cap)
            cuts = (np.cumsum(p)[:-1] * idx.size).astype(np.int64)
            for k, piece in enumerate(np.split(idx, cuts)):
                parts[k].append(piece)
                sizes[k] += piece.size
        if sizes.min() >= min_size:
            return _sorted_parts([np.concatenate(p) for p in parts])
    raise ConfigError(
        f"dirichlet partition found no split giving each of {n_clients} clients >= {min_size} "
        f"samples in {max_tries} draws with alpha={alpha}; raise alpha or lower min_size"
    )


@partitions.register("shards")
def partition_shards(
    labels: np.ndarray,
    n_clients: int,
    shards_per_client: int = 2,
    *,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Pathological non-IID split of McMahan et al. 2017 (FedAvg, AISTATS), section 3.

    Sort by label, cut into ``n_clients * shards_per_client`` equal shards, deal each client
    ``shards_per_client`` shards at random; a client then sees about that many labels.
    """
    if int(shards_per_client) < 1:
        raise ConfigError(f"shards_per_client must be >= 1, got {shards_per_client}")
    labels = _check(labels, n_clients, int(shards_per_client))
    order = np.argsort(labels, kind="stable")  # [N], label-sorted sample ids
    n_shards = n_clients * int(shards_per_client)
    shards = np.array_split(order, n_shards)
    dealt = rng.permutation(n_shards).reshape(n_clients, int(shards_per_client))  # [K, S]
    return _sorted_parts([np.concatenate([shards[s] for s in row]) for row in dealt])


@partitions.register("quantity")
def partition_quantity_skew(
    labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rng: np.random.Generator,
    min_size: int = 1,
) -> list[np.ndarray]:
    """Quantity skew: client sizes ~ Dir(alpha) (each at least ``min_size``), samples IID.

    NIID-Bench's "quantity skew" (Li et al., ICDE 2022, section III-B).
    """
    min_size = max(1, int(min_size))
    labels = _check(labels, n_clients, min_size)
    alpha = _check_alpha(alpha)
    n = labels.size
    p = rng.dirichlet(np.full(n_clients, alpha))  # [K]
    if not np.all(np.isfinite(p)) or p.sum() <= 0:
        p = np.full(n_clients, 1.0 / n_clients)
    sizes = min_size + rng.multinomial(n - min_size * n_clients, p / p.sum())  # [K]
    order = rng.permutation(n)
    return _sorted_parts(np.split(order, np.cumsum(sizes)[:-1]))


def partition(
    kind: str,
    labels: np.ndarray,
    n_clients: int,
    rng: np.random.Generator,
    **params: Any,
) -> list[np.ndarray]:
    """Run the partition scheme named ``kind`` ("iid", "dirichlet", "shards", "quantity")."""
    scheme = partitions.get(kind)
    bind_params(scheme, f"partition {kind!r}", params, labels, n_clients, rng=rng)
    return scheme(labels, n_clients, rng=rng, **params)
