"""Fashion-MNIST and KMNIST: MNIST's drop-in replacements, same four gzipped IDX files.

Fashion-MNIST (Xiao, Rasul and Vollgraf, arXiv:1708.07747, 2017): Zalando article images.
KMNIST (Clanuwat et al., "Deep Learning for Classical Japanese Literature", NeurIPS 2018
workshop): cursive Kuzushiji characters. Both are 60000/10000 grey 28x28 images in 10
classes, read from ``<data_root>/<name>/`` with the IDX reader of
:mod:`edgeledger.fl.datasets` after each file's SHA-256 matched :data:`~edgeledger.fl.dataset_files.SOURCES`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeledger.errors import DatasetError
from edgeledger.fl.datasets import Dataset, datasets, parse_idx
from edgeledger.fl.dataset_files import DATA_ENV_VAR, SOURCES, read_checked

__all__ = ["load_fashion_mnist", "load_kmnist", "load_idx_dataset", "NORMALISATION"]

#: Per-data-set (mean, std) of the training pixels scaled to [0, 1].
NORMALISATION: dict[str, tuple[float, float]] = {
    "fashion_mnist": (0.2860, 0.3530),
    "kmnist": (0.1918, 0.3483),
}


def _split(name: str, directory: Path, prefix: str) -> Dataset:
    source = SOURCES[name]
    images = parse_idx(read_checked(source, directory, f"{prefix}-images-idx3-ubyte.gz"), f"{name} {prefix} images")
    labels = parse_idx(read_checked(source, directory, f"{prefix}-labels-idx1-ubyte.gz"), f"{name} {prefix} labels")
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DatasetError(
            f"{name} {prefix}: expected images [N, 28, 28] and labels [N], got {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{name} {prefix}: {images.shape[0]} images but {labels.shape[0]} labels")
    mean, std = NORMALISATION[name]
    x = images.astype(np.float32).reshape(-1, 1, 28, 28)  # [N, 1, 28, 28]
    x /= 255.0
    x -= mean
    x /= std
    return Dataset(x, labels.astype(np.int64), 10, name)


def load_idx_dataset(name: str, data_root: Path | None) -> tuple[Dataset, Dataset]:
    """``(train, test)`` of the MNIST-format data set ``name`` from ``<data_root>/<subdir>/``."""
    source = SOURCES[name]
    if data_root is None:
        raise DatasetError(
            f"{name} needs a data root: run `edgeledger data download {name} --data-root DIR` and set "
            f"{DATA_ENV_VAR}=DIR (or fl.data_root); the files: {source.where_to_get()}"
        )
    directory = Path(data_root) / source.subdir
    return _split(name, directory, "train"), _split(name, directory, "t10k")


@datasets.register("fashion_mnist")
def load_fashion_mnist(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """Fashion-MNIST from ``<data_root>/fashion_mnist/``, normalised (x/255 - 0.2860) / 0.3530."""
    return load_idx_dataset("fashion_mnist", data_root)


@datasets.register("kmnist")
def load_kmnist(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """KMNIST from ``<data_root>/kmnist/``, normalised (x/255 - 0.1918) / 0.3483."""
    return load_idx_dataset("kmnist", data_root)
