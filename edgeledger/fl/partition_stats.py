"""Per-client label histograms of a partition, and their plot (what ``edgeledger data
partition-stats`` prints and draws).

The histogram is the usual way to show how non-IID a split is (Hsu et al. 2019, Fig. 1;
NIID-Bench, Li et al. ICDE 2022): one row per client, one column per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeledger.errors import ConfigError

__all__ = ["label_histogram", "histogram_summary", "plot_label_histogram"]


def label_histogram(labels: np.ndarray, parts: list[np.ndarray], n_classes: int) -> np.ndarray:
    """(n_clients, n_classes) int64 counts: entry [k, c] = samples of class c held by client k."""
    labels = np.asarray(labels, dtype=np.int64)
    if int(n_classes) < 1:
        raise ConfigError(f"n_classes must be >= 1, got {n_classes}")
    hist = np.zeros((len(parts), int(n_classes)), dtype=np.int64)  # [K, C]
    for k, idx in enumerate(parts):
        hist[k] = np.bincount(labels[np.asarray(idx, dtype=np.int64)], minlength=int(n_classes))[: int(n_classes)]
    return hist


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
    """Write a PNG with stacked per-client bars (left) and a client x class heatmap (right)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    hist = np.asarray(hist)
    n_clients, n_classes = hist.shape
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
