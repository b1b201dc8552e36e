from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeledger.errors import DatasetError, RegistryError
from edgeledger.fl.datasets import (
    MNIST_SHA256,
    Dataset,
    datasets,
    load_dataset,
    make_synthetic,
    parse_idx,
)


def test_builtin_loaders_are_registered() -> None:
    assert {"digits", "mnist", "synthetic"} <= set(datasets.names())


def test_unknown_dataset_names_the_choices() -> None:
    with pytest.raises(RegistryError, match="digits"):
        load_dataset("cifar-1000")


def test_digits_loads_stratified_1437_360_split(digits: tuple[Dataset, Dataset]) -> None:
    train, test = digits
    assert train.x.shape == (1437, 64) and test.x.shape == (360, 64)
    assert train.x.dtype == np.float32 and train.y.dtype == np.int64
    assert train.n_classes == 10 and train.name == "digits"
    assert 0.0 <= train.x.min() and train.x.max() <= 1.0
    # stratified: every class keeps (almost) its share in the test split
    assert np.bincount(test.y, minlength=10).min() >= 35


def test_digits_split_is_deterministic(digits: tuple[Dataset, Dataset]) -> None:
    again_train, again_test = load_dataset("digits")
    assert np.array_equal(again_train.y, digits[0].y)
    assert np.array_equal(again_test.x, digits[1].x)


def test_subset_keeps_samples_and_metadata(digits: tuple[Dataset, Dataset]) -> None:
    train, _ = digits
    part = train.subset(np.array([5, 0, 7]))
    assert len(part) == 3 and part.n_classes == 10 and part.name == "digits"
    assert np.array_equal(part.x[1], train.x[0]) and part.y[2] == train.y[7]


def test_dataset_rejects_mismatched_lengths() -> None:
    with pytest.raises(DatasetError, match="3 samples but y has 2"):
        Dataset(np.zeros((3, 2), np.float32), np.zeros(2, np.int64), 2, "bad")


def test_synthetic_is_deterministic_and_balanced() -> None:
    a_train, a_test = make_synthetic(n_train=200, n_test=50, n_features=5, n_classes=4, seed=3)
    b_train, _ = make_synthetic(n_train=200, n_test=50, n_features=5, n_classes=4, seed=3)
    c_train, _ = make_synthetic(n_train=200, n_test=50, n_features=5, n_classes=4, seed=4)
    assert a_train.x.shape == (200, 5) and a_test.x.shape == (50, 5)
    assert np.array_equal(a_train.x, b_train.x) and np.array_equal(a_train.y, b_train.y)
    assert not np.array_equal(a_train.x, c_train.x)
    assert np.bincount(a_train.y).tolist() == [50, 50, 50, 50]
    default_train, _ = load_dataset("synthetic")
    assert default_train.x.shape == (2000, 20) and default_train.n_classes == 10


def test_mnist_loads_normalised_from_data_root(data_root: Path) -> None:
    train, test = load_dataset("mnist", data_root)
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.y.dtype == np.int64 and set(np.unique(test.y)) == set(range(10))
    assert abs(float(train.x.mean())) < 0.01 and abs(float(train.x.std()) - 1.0) < 0.01


def test_mnist_reads_data_root_from_environment(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGELEDGER_DATA", str(data_root))
    _, test = load_dataset("mnist")
    assert len(test) == 10000


def test_mnist_tampered_file_names_both_digests(data_root: Path, tmp_path: Path) -> None:
    shutil.copytree(data_root / "mnist", tmp_path / "mnist")
    target = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[1000] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert hashlib.sha256(bytes(blob)).hexdigest() in message
    assert MNIST_SHA256["train-images-idx3-ubyte.gz"] in message


def test_mnist_missing_file_names_file_directory_and_source(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist") in message
    assert "EDGELEDGER_DATA" in message and "mnist" in message and "http" in message


def test_mnist_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_mnist_without_data_root_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGELEDGER_DATA", raising=False)
    with pytest.raises(DatasetError, match="EDGELEDGER_DATA"):
        load_dataset("mnist")


def _idx(type_code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_parse_idx_reads_header_and_data() -> None:
    arr = parse_idx(_idx(0x08, (2, 3), bytes(range(6))))
    assert arr.shape == (2, 3) and arr[1, 2] == 5


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x00", "shorter than its 4-byte magic"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad IDX magic"),
        (b"\x00\x00\x42\x01" + struct.pack(">I", 1) + b"\x00", "bad IDX magic"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "header needs 16 bytes"),
        (_idx(0x08, (2, 3), bytes(5)), "need 6 data bytes, got 5"),
        (_idx(0x08, (2, 3), bytes(7)), "need 6 data bytes, got 7"),
    ],
)
def test_parse_idx_rejects_malformed_input(raw: bytes, reason: str) -> None:
    with pytest.raises(DatasetError, match=reason):
        parse_idx(raw, "test file")


def test_mnist_truncated_labels_are_rejected_even_with_matching_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A well-formed gzip whose IDX payload is short must fail parsing, not crash later."""
    directory = tmp_path / "mnist"
    directory.mkdir()
    files = {
        "train-images-idx3-ubyte.gz": _idx(0x08, (2, 28, 28), bytes(2 * 784)),
        "train-labels-idx1-ubyte.gz": _idx(0x08, (3,), bytes(2)),
        "t10k-images-idx3-ubyte.gz": _idx(0x08, (1, 28, 28), bytes(784)),
        "t10k-labels-idx1-ubyte.gz": _idx(0x08, (1,), bytes(1)),
    }
    sums = {}
    for name, raw in files.items():
        blob = gzip.compress(raw, mtime=0)
        (directory / name).write_bytes(blob)
        sums[name] = hashlib.sha256(blob).hexdigest()
    # the module itself: ``edgeledger.fl.datasets`` as an attribute is the registry
    monkeypatch.setattr(sys.modules["edgeledger.fl.datasets"], "MNIST_SHA256", sums)
    with pytest.raises(DatasetError, match="need 3 data bytes, got 2"):
        load_dataset("mnist", tmp_path)


def test_a_checkouts_scripts_find_the_shared_datasets_beside_it(tmp_path, monkeypatch):
    from edgeledger.fl.datasets import DATA_ENV_VAR, use_checkout_datasets

    checkout, shared = tmp_path / "main", tmp_path / "shared" / "datasets"
    (checkout / "benchmarks").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    script = checkout / "benchmarks" / "fl_round.py"
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    assert use_checkout_datasets(script) is None  # no shared folder: nothing set
    assert DATA_ENV_VAR not in os.environ
    shared.mkdir(parents=True)
    assert use_checkout_datasets(script) == shared and os.environ[DATA_ENV_VAR] == str(shared)
    monkeypatch.setenv(DATA_ENV_VAR, "/elsewhere")
    assert use_checkout_datasets(script) is None and os.environ[DATA_ENV_VAR] == "/elsewhere"  # the user's wins
