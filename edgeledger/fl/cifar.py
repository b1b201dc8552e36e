"""CIFAR-10, python version (Krizhevsky, "Learning Multiple Layers of Features from Tiny
Images", 2009): 50000/10000 RGB 32x32 images in 10 classes, in pickled batches.

Unpickling runs code named by the file, so a batch is never unpickled on trust:

1. preferred: ``<data_root>/cifar10/cifar-10-python.tar.gz`` as downloaded. Its SHA-256 must
   match the known sum (:data:`~edgeledger.fl.dataset_files.SOURCES`) *before* the archive is
   opened; the batches are then read from the archive in memory (nothing is extracted);
2. otherwise the extracted ``<data_root>/cifar10/cifar-10-batches-py/`` batches, each checked
   against the per-batch MD5 the dataset page's archive yields (as torchvision lists them; no
   per-batch SHA-256 is published);
3. either way the bytes go through :class:`_BatchUnpickler`, which resolves only the few
   numpy names an array needs, so even a file that slipped past 1-2 cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeledger.errors import DatasetError
from edgeledger.fl.datasets import Dataset, datasets
from edgeledger.fl.dataset_files import DATA_ENV_VAR, SOURCES, missing_file_error, read_checked

__all__ = ["load_cifar10", "parse_cifar_batch", "CIFAR10_BATCH_MD5", "CIFAR10_MEAN", "CIFAR10_STD"]

ARCHIVE = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"

#: MD5 of each batch inside the official archive (torchvision's CIFAR10.train_list/test_list).
CIFAR10_BATCH_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

#: Per-channel mean and std of the training images scaled to [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# The only globals a batch pickle may name: numpy's array reconstruction (numpy 1 and 2
# module paths) and codecs.encode, which protocol-2 pickles use for bytes.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global outside :data:`_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DatasetError(
                f"CIFAR-10 batch names {module}.{name}; a batch may only hold numpy arrays, "
                f"lists and bytes, so the file is not a CIFAR-10 batch"
            )
        return super().find_class(module, name)


def parse_cifar_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled batch into ``(images [N, 3, 32, 32] uint8, labels [N] int64)``."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise DatasetError(f"{source}: not a readable CIFAR-10 batch pickle: {exc}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetError(f"{source}: expected a dict with b'data' and b'labels', got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{source}: b'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"{source}: {data.shape[0]} images but labels of shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels  # rows hold the R, G, B planes in turn


def _batches_from_archive(path: Path) -> dict[str, bytes]:
    source = SOURCES["cifar10"]
    blob = read_checked(source, path.parent, path.name, gunzip=False)  # sum first, then open
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        for name in (*TRAIN_BATCHES, TEST_BATCH):
            try:
                member = archive.extractfile(f"{BATCH_DIR}/{name}")
            except KeyError:
                member = None
            if member is None:
                raise DatasetError(f"{path} has no member {BATCH_DIR}/{name}; expected the CIFAR-10 python archive")
            out[name] = member.read()
    return out


def _batches_from_folder(directory: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        path = directory / name
        if not path.is_file():
            raise missing_file_error(SOURCES["cifar10"], directory.parent, ARCHIVE)
        raw = path.read_bytes()
        actual = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        if actual != CIFAR10_BATCH_MD5[name]:
            raise DatasetError(
                f"CIFAR-10 batch {name!r} in {directory} is corrupt or unknown: md5 {actual}, expected "
                f"{CIFAR10_BATCH_MD5[name]}; put the official {ARCHIVE} in {directory.parent} instead"
            )
        out[name] = raw
    return out


def _to_dataset(parts: list[tuple[np.ndarray, np.ndarray]]) -> Dataset:
    images = np.concatenate([p[0] for p in parts])  # [N, 3, 32, 32] uint8
    labels = np.concatenate([p[1] for p in parts])  # [N]
    x = images.astype(np.float32) / 255.0
    x -= np.asarray(CIFAR10_MEAN, dtype=np.float32)[None, :, None, None]
    x /= np.asarray(CIFAR10_STD, dtype=np.float32)[None, :, None, None]
    return Dataset(np.ascontiguousarray(x), labels, 10, "cifar10")


@datasets.register("cifar10")
def load_cifar10(data_root: Path | None = None) -> tuple[Dataset, Dataset]:
    """CIFAR-10 from ``<data_root>/cifar10/`` (the archive, else the extracted batches),
    per-channel normalised; shapes [50000, 3, 32, 32] and [10000, 3, 32, 32]."""
    source = SOURCES["cifar10"]
    if data_root is None:
        raise DatasetError(
            f"cifar10 needs a data root: run `edgeledger data download cifar10 --data-root DIR` and set "
            f"{DATA_ENV_VAR}=DIR (or fl.data_root); the file: {ARCHIVE} from {source.where_to_get()}"
        )
    directory = Path(data_root) / source.subdir
    archive = directory / ARCHIVE
    if archive.is_file() or not (directory / BATCH_DIR).is_dir():
        raw = _batches_from_archive(archive)
    else:
        raw = _batches_from_folder(directory / BATCH_DIR)
    train = _to_dataset([parse_cifar_batch(raw[n], f"CIFAR-10 {n}") for n in TRAIN_BATCHES])
    test = _to_dataset([parse_cifar_batch(raw[TEST_BATCH], f"CIFAR-10 {TEST_BATCH}")])
    return train, test
