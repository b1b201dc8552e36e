"""Data sets for federated learning: a name -> loader registry and the built-in loaders.

A loader is ``loader(data_root: Path | None) -> (train, test)``. ``digits`` ships with
scikit-learn and ``synthetic`` is generated, so both work offline with no files; ``mnist``
reads the four official IDX files (LeCun et al. 1998) from ``<data_root>/mnist/`` and
checks each against its known SHA-256 before parsing it. Fashion-MNIST and KMNIST live in
:mod:`edgeledger.fl.mnist_family`, CIFAR-10 in :mod:`edgeledger.fl.cifar`, the accepted sums
and official URLs in :mod:`edgeledger.fl.dataset_files` and the opt-in downloader in
:mod:`edgeledger.fl.download`.

A user data set is one decorated function::

    @datasets.register("my_data")
    def load_my_data(data_root: Path | None) -> tuple[Dataset, Dataset]: ...
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeledger.errors import DatasetError
from edgeledger.fl.dataset_files import DATA_ENV_VAR, SOURCES
from edgeledger.registry import Registry

__all__ = [
    "Dataset",
    "DatasetLoader",
    "datasets",
    "load_dataset",
    "use_checkout_datasets",
    "shared_datasets_beside",
    "make_synthetic",
    "parse_idx",
    "DATA_ENV_VAR",
    "MNIST_SHA256",
    "MNIST_URL",
]

#: Where the MNIST IDX files can be downloaded (the official page, and a stable mirror).
MNIST_URL = "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"

#: SHA-256 of the gzipped MNIST files in the shared data folder (a recompressed copy); the
#: LeCun originals' sums are accepted too (:data:`edgeledger.fl.dataset_files.SOURCES`).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}

_MNIST_MEAN = 0.1307
_MNIST_STD = 0.3081


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples ``x`` (float32, first axis = sample) with integer labels ``y`` (int64)."""

    x: np.ndarray
    y: np.ndarray
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32:
            raise DatasetError(f"data set {self.name!r}: x must be float32, got {self.x.dtype}")
        if self.y.dtype != np.int64 or self.y.ndim != 1:
            raise DatasetError(
                f"data set {self.name!r}: y must be a 1-D int64 array, got {self.y.dtype} "
                f"with shape {self.y.shape}"
            )
        if self.x.shape[0] != self.y.shape[0]:
            raise DatasetError(
                f"data set {self.name!r}: x has {self.x.shape[0]} samples but y has {self.y.shape[0]}"
            )
        if self.y.size and (self.y.min() < 0 or self.y.max() >= self.n_classes):
            raise DatasetError(
                f"data set {self.name!r}: labels must lie in [0, {self.n_classes}), "
                f"got [{self.y.min()}, {self.y.max()}]"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (what a model builder takes)."""
        return tuple(int(d) for d in self.x.shape[1:])

    def subset(self, indices: np.ndarray) -> Dataset:
        """The samples at ``indices`` (copied), same class count and name."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(x=self.x[idx], y=self.y[idx], n_classes=self.n_classes, name=self.name)


DatasetLoader = Callable[[Path | None], tuple[Dataset, Dataset]]

datasets: Registry[DatasetLoader] = Registry("data set")


def load_dataset(
    name: str, data_root: str | Path | None = None, *, download: bool = False
) -> tuple[Dataset, Dataset]:
    """Load data set ``name`` as ``(train, test)``; ``data_root`` defaults to $EDGELEDGER_DATA.

    ``download=True`` first fetches missing or corrupt files from the official location
    (:func:`edgeledger.fl.download.download_dataset`); data sets without files ignore it.
    """
    loader = datasets.get(name)
    if data_root is None:
        env = os.environ.get(DATA_ENV_VAR)
        data_root = env if env else None
    if download and name in SOURCES:
        if data_root is None:
            raise DatasetError(
                f"download of {name!r} needs a data root: pass data_root or set {DATA_ENV_VAR}"
            )
        from edgeledger.fl.download import download_dataset

        download_dataset(name, data_root)
    return loader(Path(data_root) if data_root is not None else None)


def shared_datasets_beside(path: str | Path) -> Path | None:
    """The ``shared/datasets`` folder beside the checkout that holds ``path`` (the nearest
    ``<folder>/shared/datasets`` above it), when one exists."""
    for folder in Path(path).resolve().parents:
        candidate = folder / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None


def use_checkout_datasets(script: str | Path) -> Path | None:
    """For the scripts of a checkout (``benchmarks/``, ``experiments/``): when $EDGELEDGER_DATA is
    unset, point it at :func:`shared_datasets_beside` ``script``, if there is one. Returns the
    folder set, else None."""
    if os.environ.get(DATA_ENV_VAR):
        return None
    shared = shared_datasets_beside(script)
    if shared is not None:
        os.environ[DATA_ENV_VAR] = str(shared)
    return shared


# --- digits -------------------------------------------------------------------------------


@datasets.register("digits")
def load_digits(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """scikit-learn's 8x8 digits (UCI optdigits), pixels / 16, stratified 1437/360 split."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # [1797, 64]
    y = bunch.target.astype(np.int64)  # [1797]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=360, random_state=0, stratify=y)
    return (
        Dataset(np.ascontiguousarray(x_tr), np.ascontiguousarray(y_tr), 10, "digits"),
        Dataset(np.ascontiguousarray(x_te), np.ascontiguousarray(y_te), 10, "digits"),
    )


# --- synthetic ----------------------------------------------------------------------------


def make_synthetic(
    n_train: int = 2000,
    n_test: int = 500,
    n_features: int = 20,
    n_classes: int = 10,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """Gaussian blobs: one unit-variance cluster per class around a random centre.

    Centres are drawn N(0, 3^2) per feature from ``seed``; labels are balanced then shuffled.
    Same arguments give the same arrays, bit for bit.
    """
    for field, value, low in (
        ("n_train", n_train, 1),
        ("n_test", n_test, 1),
        ("n_features", n_features, 1),
        ("n_classes", n_classes, 2),
    ):
        if int(value) < low:
            raise DatasetError(f"synthetic data set needs {field} >= {low}, got {value}")
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(n_classes, n_features))  # [C, F]

    def draw(n: int) -> Dataset:
        y = rng.permutation(np.arange(n, dtype=np.int64) % n_classes)  # [n], balanced
        x = centres[y] + rng.normal(0.0, 1.0, size=(n, n_features))  # [n, F]
        return Dataset(x.astype(np.float32), y, n_classes, "synthetic")

    train = draw(n_train)
    return train, draw(n_test)


@datasets.register("synthetic")
def load_synthetic(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """:func:`make_synthetic` with its defaults (2000/500 samples, 20 features, 10 classes)."""
    return make_synthetic()


# --- mnist --------------------------------------------------------------------------------

# IDX type byte -> big-endian numpy dtype (LeCun et al., "THE MNIST DATABASE" file format).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode an (uncompressed) IDX file: magic ``00 00 type ndim``, ``ndim`` big-endian
    uint32 sizes, then the data. Anything that does not fit raises :class:`DatasetError`."""
    if len(raw) < 4:
        raise DatasetError(f"{source}: IDX file of {len(raw)} bytes is shorter than its 4-byte magic")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(
            f"{source}: bad IDX magic {raw[:4].hex()}; expected 0000 + a type byte in "
            f"{sorted(hex(t) for t in _IDX_DTYPES)} + ndim >= 1"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(f"{source}: IDX header needs {header_len} bytes for {ndim} dims, got {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_len != expected:
        raise DatasetError(
            f"{source}: IDX dims {dims} need {expected} data bytes, got {len(raw) - header_len}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)


def _read_checked(directory: Path, filename: str) -> bytes:
    """The decompressed bytes of one MNIST file, after its SHA-256 matched."""
    path = directory / filename
    if not path.is_file():
        where = "is missing" if directory.is_dir() else "cannot be found: the directory does not exist"
        raise DatasetError(
            f"MNIST file {filename!r} {where} (looked in {directory}); run `edgeledger data download "
            f"mnist --data-root {directory.parent}`, or set {DATA_ENV_VAR} to the folder that holds mnist/ "
            f"(the files: {MNIST_URL})"
        )
    blob = path.read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    accepted = (MNIST_SHA256[filename], *SOURCES["mnist"].files.get(filename, ()))
    if actual not in accepted:
        raise DatasetError(
            f"MNIST file {filename!r} in {directory} is corrupt: sha256 {actual}, "
            f"expected one of {sorted(set(accepted))}; download it again from {MNIST_URL}"
        )
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:  # unreachable with a matching digest
        raise DatasetError(f"MNIST file {filename!r} in {directory} is not valid gzip: {exc}") from None


def _mnist_split(directory: Path, prefix: str) -> Dataset:
    images = parse_idx(_read_checked(directory, f"{prefix}-images-idx3-ubyte.gz"), f"{prefix} images")
    labels = parse_idx(_read_checked(directory, f"{prefix}-labels-idx1-ubyte.gz"), f"{prefix} labels")
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DatasetError(
            f"MNIST {prefix}: expected images [N, 28, 28] and labels [N], "
            f"got {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"MNIST {prefix}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = images.astype(np.float32).reshape(-1, 1, 28, 28)  # [N, 1, 28, 28]
    x /= 255.0
    x -= _MNIST_MEAN
    x /= _MNIST_STD
    return Dataset(x, labels.astype(np.int64), 10, "mnist")


@datasets.register("mnist")
def load_mnist(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """MNIST from ``<data_root>/mnist/``, checksummed, normalised ((x/255) - 0.1307) / 0.3081."""
    if data_root is None:
        raise DatasetError(
            f"mnist needs a data root: run `edgeledger data download mnist --data-root DIR` and set "
            f"{DATA_ENV_VAR}=DIR (or fl.data_root), or point {DATA_ENV_VAR} at a folder whose mnist/ "
            f"holds the four IDX files of {MNIST_URL}"
        )
    directory = Path(data_root) / "mnist"
    return _mnist_split(directory, "train"), _mnist_split(directory, "t10k")
