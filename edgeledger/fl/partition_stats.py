"""Per-client label histograms of a partition, and their plot (what ``edgeledger data
partition-stats`` prints and draws).

The histogram is the usual way to show how non-IID a split is (Hsu et al. 2019, Fig. 1;
NIID-Bench, Li et al. ICDE 2022): one row per client, one column per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeledger.errors import ConfigError

__all__ = ["label_histogram", "label_histogram_csr", "histogram_summary", "population_summary",
           "plot_label_histogram", "PER_CLIENT_PLOT_LIMIT"]

#: beyond this many clients the plot shows distributions over clients instead of one bar each
PER_CLIENT_PLOT_LIMIT = 200


def label_histogram(labels: np.ndarray, parts: list[np.ndarray], n_classes: int) -> np.ndarray:
    """(n_clients, n_classes) int64 counts: entry [k, c] = samples of class c held by client k."""
    labels = np.asarray(labels, dtype=np.int64)
    if int(n_classes) < 1:
        raise ConfigError(f"n_classes must be >= 1, got {n_classes}")
    hist = np.zeros((len(parts), int(n_classes)), dtype=np.int64)  # [K, C]
    for k, idx in enumerate(parts):
        hist[k] = np.bincount(labels[np.asarray(idx, dtype=np.int64)], minlength=int(n_classes))[: int(n_classes)]
    return hist


def label_histogram_csr(labels: np.ndarray, index: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """:func:`label_histogram` of a CSR partition (client k holds ``index[offsets[k]:offsets[k+1]]``),
    in one vectorised pass: 100,000 clients take a fraction of a second."""
    labels = np.asarray(labels, dtype=np.int64)
    if int(n_classes) < 1:
        raise ConfigError(f"n_classes must be >= 1, got {n_classes}")
    c = int(n_classes)
    k = len(offsets) - 1
    owner = np.repeat(np.arange(k, dtype=np.int64), np.diff(offsets))
    return np.bincount(owner * c + labels[np.asarray(index, dtype=np.int64)], minlength=k * c).reshape(k, c)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0]) if values.size else np.zeros(5)
    return {"min": float(q[0]), "p10": float(q[1]), "median": float(q[2]), "p90": float(q[3]), "max": float(q[4]),
            "mean": float(values.mean()) if values.size else 0.0}


def population_summary(hist: np.ndarray) -> dict[str, object]:
    """What a (K, C) histogram says when K is too large for one row per client: quantiles over
    clients of their sample count, their number of classes and their total-variation distance
    to the global label mix, and the samples of each class over all clients."""
    hist = np.asarray(hist, dtype=np.int64)
    sizes = hist.sum(axis=1)  # [K]
    global_p = hist.sum(axis=0) / max(int(hist.sum()), 1)  # [C]
    tv = 0.5 * np.abs(hist / np.maximum(sizes[:, None], 1) - global_p[None, :]).sum(axis=1)  # [K]
    return {"clients": int(hist.shape[0]), "samples": int(sizes.sum()), "samples_per_client": _quantiles(sizes),
            "classes_per_client": _quantiles((hist > 0).sum(axis=1)), "tv_distance": _quantiles(tv),
            "samples_per_class": hist.sum(axis=0).tolist()}


def histogram_summary(hist: np.ndarray) -> dict[str, float]:
    """Scalar skew measures of a (K, C) histogram: sizes, classes per client, and the mean
    total-variation distance between each client's label distribution and the global one."""
    hist = np.asarray(hist, dtype=np.float64)
    sizes = hist.sum(axis=1)  # [K]
    global_p = hist.sum(axis=0) / max(hist.sum(), 1.0)  # [C]
    local_p = hist / np.maximum(sizes[:, None], 1.0)  # [K, C]
    tv = 0.5 * np.abs(local_p - global_p[None, :]).sum(axis=1)  # [K]
    return {
        "clients": float(hist.shape[0]),
        "min_size": float(sizes.min()) if sizes.size else 0.0,
        "max_size": float(sizes.max()) if sizes.size else 0.0,
        "mean_classes_per_client": float((hist > 0).sum(axis=1).mean()) if sizes.size else 0.0,
        "mean_tv_distance": float(tv.mean()) if sizes.size else 0.0,
    }


def plot_label_histogram(hist: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Write a PNG with stacked per-client bars (left) and a client x class heatmap (right); past
    :data:`PER_CLIENT_PLOT_LIMIT` clients, distributions over the clients instead."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    hist = np.asarray(hist)
    n_clients, n_classes = hist.shape
    if n_clients > PER_CLIENT_PLOT_LIMIT:
        return _plot_population(plt, hist, Path(path), title)
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    colours = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    bottom = np.zeros(n_clients)
    clients = np.arange(n_clients)
    for c in range(n_classes):
        bars.bar(clients, hist[:, c], bottom=bottom, color=colours(c % colours.N), label=str(c), width=0.9)
        bottom += hist[:, c]
    bars.set_xlabel("client")
    bars.set_ylabel("samples")
    bars.legend(title="label", fontsize="small", ncol=2 if n_classes > 10 else 1, loc="upper left",
                bbox_to_anchor=(1.0, 1.0))
    image = heat.imshow(hist.T, aspect="auto", cmap="viridis", interpolation="nearest")
    heat.set_xlabel("client")
    heat.set_ylabel("label")
    fig.colorbar(image, ax=heat, label="samples")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _plot_population(plt: object, hist: np.ndarray, out: Path, title: str) -> Path:
    """Histograms over clients of their sample count and of their number of classes."""
    sizes, classes = hist.sum(axis=1), (hist > 0).sum(axis=1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))  # type: ignore[attr-defined]
    left.hist(sizes, bins=min(60, max(int(sizes.max() - sizes.min()) + 1, 1)), color="tab:blue")
    left.set_xlabel("samples per client")
    left.set_ylabel("clients")
    right.bar(np.arange(1, hist.shape[1] + 1), np.bincount(classes, minlength=hist.shape[1] + 1)[1:],
              color="tab:orange")
    right.set_xlabel("classes per client")
    right.set_ylabel("clients")
    fig.suptitle(f"{title} ({hist.shape[0]:,} clients)" if title else f"{hist.shape[0]:,} clients")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)  # type: ignore[attr-defined]
    return out
