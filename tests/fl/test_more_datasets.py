"""Fashion-MNIST, KMNIST and CIFAR-10 loaders and the opt-in downloader, on tiny fake files.

The real files are not in the shared folder and there is no internet here, so each test
writes a few well-formed files to tmp_path and points the source table's sums (and, for
downloads, its base URL) at them; the unpatched tables are checked for shape separately.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeledger.errors import DatasetError
from edgeledger.fl import cifar
from edgeledger.fl.datasets import load_dataset
from edgeledger.fl.dataset_files import SOURCES

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _idx(type_code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def _fake_idx_set(n_train: int = 6, n_test: int = 3) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(0x08, (n, 28, 28), rng.integers(0, 256, n * 784, np.uint8).tobytes())
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(0x08, (n,), bytes(i % 10 for i in range(n)))
    return {name: gzip.compress(raw, mtime=0) for name, raw in files.items()}


def _use_files(monkeypatch: pytest.MonkeyPatch, name: str, blobs: dict[str, bytes], **changes: object) -> None:
    sums = {f: (hashlib.sha256(b).hexdigest(),) for f, b in blobs.items()}
    monkeypatch.setitem(SOURCES, name, dataclasses.replace(SOURCES[name], files=sums, **changes))


def test_source_tables_list_64_hex_sha256_for_every_file() -> None:
    for name in ("mnist", "fashion_mnist", "kmnist"):
        assert set(SOURCES[name].files) == set(IDX_FILES), name
    assert set(SOURCES["cifar10"].files) == {"cifar-10-python.tar.gz"}
    for source in SOURCES.values():
        assert source.urls and all(u.endswith("/") for u in source.urls)
        for sums in source.files.values():
            assert sums and all(len(s) == 64 and int(s, 16) >= 0 for s in sums)


@pytest.mark.parametrize("name", ["fashion_mnist", "kmnist"])
def test_idx_family_loads_checked_files(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = _fake_idx_set()
    (tmp_path / name).mkdir()
    for f, b in blobs.items():
        (tmp_path / name / f).write_bytes(b)
    _use_files(monkeypatch, name, blobs)
    train, test = load_dataset(name, tmp_path)
    assert train.x.shape == (6, 1, 28, 28) and test.x.shape == (3, 1, 28, 28)
    assert train.name == name and train.n_classes == 10 and train.y.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", ["fashion_mnist", "kmnist"])
def test_idx_family_rejects_a_file_with_an_unknown_sum(name: str, tmp_path: Path) -> None:
    (tmp_path / name).mkdir()
    for f, b in _fake_idx_set().items():
        (tmp_path / name / f).write_bytes(b)
    with pytest.raises(DatasetError, match=r"corrupt or unknown: sha256 [0-9a-f]{64}, expected one of") as info:
        load_dataset(name, tmp_path)
    assert SOURCES[name].files["train-images-idx3-ubyte.gz"][0] in str(info.value)


def test_missing_kmnist_file_says_where_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("kmnist", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "kmnist") in message
    assert "codh.rois.ac.jp" in message and "edgeledger data download kmnist" in message and "EDGELEDGER_DATA" in message


# --- CIFAR-10 -----------------------------------------------------------------------------


def _batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    body = {b"batch_label": b"fake", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
    return pickle.dumps(body, protocol=2)


def _cifar_batches() -> dict[str, bytes]:
    return {name: _batch(4, i) for i, name in enumerate((*cifar.TRAIN_BATCHES, cifar.TEST_BATCH))}


def _cifar_archive(batches: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, raw in batches.items():
            info = tarfile.TarInfo(f"{cifar.BATCH_DIR}/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def test_cifar10_reads_batches_from_the_checked_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _cifar_batches()
    blob = _cifar_archive(batches)
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / cifar.ARCHIVE).write_bytes(blob)
    _use_files(monkeypatch, "cifar10", {cifar.ARCHIVE: blob})
    train, test = load_dataset("cifar10", tmp_path)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    first = pickle.loads(batches["data_batch_1"], encoding="bytes")
    assert train.y[:4].tolist() == first[b"labels"]
    red = first[b"data"][0, :1024].reshape(32, 32) / 255.0  # R plane of image 0
    assert np.allclose(train.x[0, 0], (red - cifar.CIFAR10_MEAN[0]) / cifar.CIFAR10_STD[0], atol=1e-6)


def test_cifar10_archive_with_unknown_sum_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / cifar.ARCHIVE).write_bytes(_cifar_archive(_cifar_batches()))
    opened: list[object] = []
    monkeypatch.setattr(cifar.tarfile, "open", lambda *a, **k: opened.append(a))
    with pytest.raises(DatasetError, match="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"):
        load_dataset("cifar10", tmp_path)
    assert opened == []


def test_cifar10_extracted_batches_are_md5_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar10" / cifar.BATCH_DIR
    folder.mkdir(parents=True)
    batches = _cifar_batches()
    for name, raw in batches.items():
        (folder / name).write_bytes(raw)
    with pytest.raises(DatasetError, match="md5 .* expected c99cafc152244af753f735de768cd75f"):
        load_dataset("cifar10", tmp_path)
    for name, raw in batches.items():
        monkeypatch.setitem(cifar.CIFAR10_BATCH_MD5, name, hashlib.md5(raw).hexdigest())
    train, _ = load_dataset("cifar10", tmp_path)
    assert len(train) == 20


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_cifar_batch_unpickler_refuses_any_other_global() -> None:
    with pytest.raises(DatasetError, match=r"\.print; a batch may only hold"):
        cifar.parse_cifar_batch(pickle.dumps({b"data": _Boom()}, protocol=2), "evil")


def test_cifar_batch_with_wrong_shape_is_rejected() -> None:
    raw = pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(DatasetError, match=r"uint8 \[N, 3072\]"):
        cifar.parse_cifar_batch(raw, "short")


# --- download -----------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (a stand-in for the official host)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_fetches_checks_and_then_loads(served: tuple[Path, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    www, url = served
    blobs = _fake_idx_set()
    for f, b in blobs.items():
        (www / f).write_bytes(b)
    # the first mirror is down: the downloader must fall through to the next one
    _use_files(monkeypatch, "kmnist", blobs, urls=(url + "missing/", url))
    train, _ = load_dataset("kmnist", tmp_path / "data", download=True)
    assert len(train) == 6
    assert sorted(p.name for p in (tmp_path / "data" / "kmnist").iterdir()) == sorted(blobs)


def test_download_rejects_a_tampered_file_and_leaves_nothing(served: tuple[Path, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    www, url = served
    blobs = _fake_idx_set()
    _use_files(monkeypatch, "fashion_mnist", blobs, urls=(url,))
    for f, b in blobs.items():
        (www / f).write_bytes(b + b"tampered")
    with pytest.raises(DatasetError, match="could not download fashion_mnist file .* sha256"):
        load_dataset("fashion_mnist", tmp_path / "data", download=True)
    assert list((tmp_path / "data" / "fashion_mnist").iterdir()) == []


def test_cli_data_download_uses_the_same_sources(served: tuple[Path, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from edgeledger.cli import app

    www, url = served
    blobs = {cifar.ARCHIVE: _cifar_archive(_cifar_batches())}
    (www / cifar.ARCHIVE).write_bytes(blobs[cifar.ARCHIVE])
    _use_files(monkeypatch, "cifar10", blobs, urls=(url,))
    result = CliRunner().invoke(app, ["data", "download", "cifar10", "--data-root", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "files verified" in result.output and (tmp_path / "cifar10" / cifar.ARCHIVE).is_file()
