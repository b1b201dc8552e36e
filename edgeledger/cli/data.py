"""``edgeledger data``: download data sets, inspect federated partitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from edgeledger.cli.base import app, console, new_table, rich_console

data_app = typer.Typer(no_args_is_help=True, help="Data sets: download them and inspect federated partitions.")
app.add_typer(data_app, name="data")


@data_app.command("partition-stats")
def data_partition_stats(
        dataset: str = typer.Option("digits", help="Registered data set: digits, mnist, fashion_mnist, kmnist, cifar10, ..."),
        clients: int = typer.Option(10, min=1, help="Number of clients to split the training set among."),
        partition: str = typer.Option("iid", help="iid | dirichlet | shards | quantity"),
        alpha: float = typer.Option(0.5, help="Dirichlet concentration (dirichlet and quantity only); smaller is more skewed."),
        shards_per_client: int = typer.Option(2, min=1, help="Shards dealt to each client (shards only; McMahan et al.: 2)."),
        seed: int = typer.Option(0, help="Seed of the partition's random generator."),
        samples_per_client: int = typer.Option(0, min=0, help="0: split the data set itself; n: each client draws n "
                                               "samples with replacement (fl.samples_per_device; quantity: n on average)."),
        per_client: Optional[bool] = typer.Option(None, "--per-client/--summary", help="One row per client, or "
                                                  "quantiles over the clients (default: rows up to 40 clients)."),
        plot: Optional[Path] = typer.Option(None, help="Write a PNG (stacked bars + heatmap) of the histogram here."),
        data_root: Optional[Path] = typer.Option(None, help="Folder holding one sub-folder per data set (default $EDGELEDGER_DATA)."),
        download: bool = typer.Option(False, help="Fetch missing files from the official location first."),
        as_json: bool = typer.Option(False, "--json", help="Print the histogram and summary as JSON instead of a table.")) -> None:
    """Print the per-client label histogram of a partition of a data set's training split
    (quantiles over the clients when there are many: try --clients 100000 --samples-per-client 60)."""
    import numpy as np

    from edgeledger.fl import load_dataset
    from edgeledger.fl import partition as split
    from edgeledger.fl.partition_stats import (
        histogram_summary,
        label_histogram_csr,
        plot_label_histogram,
        population_summary,
    )
    from edgeledger.fl.sampling import sample_partition

    train, _ = load_dataset(dataset, data_root, download=download)
    params: dict[str, Any] = {}
    if partition in ("dirichlet", "quantity"):
        params["alpha"] = alpha
    elif partition == "shards":
        params["shards_per_client"] = shards_per_client
    if samples_per_client:
        index, offsets = sample_partition(partition, train.y, clients, samples_per_client,
                                          np.random.default_rng(seed), **params)
    else:
        parts = split(partition, train.y, clients, np.random.default_rng(seed), **params)
        index = np.concatenate(parts)
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    hist = label_histogram_csr(train.y, index, offsets, train.n_classes)  # [K, C]
    rows = clients <= PER_CLIENT_ROWS if per_client is None else per_client
    described = f"{dataset} / {clients} clients / {partition}" + "".join(f" {k}={v}" for k, v in params.items()) \
        + (f" / {samples_per_client} samples each, drawn with replacement" if samples_per_client else "")
    summary = histogram_summary(hist)
    if as_json:
        body = {"setting": described, "seed": seed, "summary": summary, "population": population_summary(hist)}
        print(json.dumps({**body, "histogram": hist.tolist()} if rows else body))
    elif rows:
        table = new_table(title=f"{described} (seed {seed}): labels per client")
        for col in ("client", "samples", *(str(c) for c in range(train.n_classes))):
            table.add_column(col, justify="right")
        for k, row in enumerate(hist):
            table.add_row(str(k), str(int(row.sum())), *(str(int(v)) if v else "[dim]0[/]" for v in row))
        console.print(table)
    else:
        _print_population(population_summary(hist), f"{described} (seed {seed}): over the clients")
    if not as_json:
        console.print(f"sizes {summary['min_size']:.0f}..{summary['max_size']:.0f}, "
                      f"{summary['mean_classes_per_client']:.2f} classes per client, "
                      f"mean total-variation distance to the global label mix {summary['mean_tv_distance']:.3f}")
    if plot is not None:
        plot_label_histogram(hist, plot, title=f"{described} (seed {seed})")
        if not as_json:
            console.print(f"plot: {plot}")


#: ``partition-stats`` prints one row per client up to this many clients, quantiles beyond
PER_CLIENT_ROWS = 40


def _print_population(pop: dict[str, Any], title: str) -> None:
    table = new_table(title=title)
    for col in ("per client", "min", "10%", "median", "90%", "max", "mean"):
        table.add_column(col, justify="right")
    for name, key, fmt in (("samples", "samples_per_client", "{:.0f}"), ("classes", "classes_per_client", "{:.0f}"),
                           ("TV distance", "tv_distance", "{:.3f}")):
        q = pop[key]
        table.add_row(name, *(fmt.format(q[k]) for k in ("min", "p10", "median", "p90", "max")), f"{q['mean']:.3f}")
    console.print(table)
    console.print(f"{pop['clients']:,} clients hold {pop['samples']:,} samples; per class: "
                  + ", ".join(f"{c}: {n:,}" for c, n in enumerate(pop["samples_per_class"])))


@data_app.command("download")
def data_download(dataset: str = typer.Argument(..., help="mnist | fashion_mnist | kmnist | cifar10"),
                  data_root: Optional[Path] = typer.Option(None, help="Destination root (default $EDGELEDGER_DATA)."),
                  quiet: bool = typer.Option(False, help="No progress bars.")) -> None:
    """Fetch a data set's files from the official location and check their SHA-256 sums."""
    import os

    from edgeledger.errors import ConfigError
    from edgeledger.fl.download import download_dataset

    root = data_root or (Path(os.environ["EDGELEDGER_DATA"]) if os.environ.get("EDGELEDGER_DATA") else None)
    if root is None:
        raise ConfigError("data download needs --data-root or EDGELEDGER_DATA set to a folder")
    folder = download_dataset(dataset, root, show_progress=not quiet, console=rich_console())
    console.print(f"{dataset}: files verified in {folder}")


# -- market: the edge resource market (issue 8) ---------------------------------------------
