"""Where each file-backed data set comes from, and the SHA-256 sums a local copy must match.

One table, :data:`SOURCES`, feeds both the loaders (which check every file before parsing
it) and the opt-in downloader, so a file that downloads is a file that loads. A file may
have several accepted sums: gzip output differs between mirrors that recompressed the same
IDX bytes (the LeCun originals vs. a recompressed copy), and each accepted sum is listed
with where it was published. Unknown files are never parsed, and a pickle is never loaded
before its container's sum matched (see :mod:`edgeledger.fl.cifar`).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from edgeledger.errors import DatasetError

__all__ = ["Source", "SOURCES", "read_checked", "check_sha256", "DATA_ENV_VAR"]

#: Environment variable naming the folder that holds one sub-folder per data set.
DATA_ENV_VAR = "EDGELEDGER_DATA"


@dataclass(frozen=True)
class Source:
    """A data set's folder under the data root, its files and their accepted SHA-256 sums.

    ``urls`` are base URLs tried in order by the downloader (``base + filename``).
    """

    name: str
    subdir: str
    urls: tuple[str, ...]
    files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    homepage: str = ""

    def where_to_get(self) -> str:
        return self.homepage or (self.urls[0] if self.urls else "the data set's home page")


# MNIST (LeCun et al. 1998): the LeCun originals (tensorflow/datasets url_checksums/mnist.txt,
# identical bytes on the ossci mirror torchvision uses), then the recompressed copy this
# project's shared folder holds (its SHA256SUMS).
_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    ),
}

# Fashion-MNIST (Xiao et al. 2017): first the sums tensorflow/datasets records for the
# official S3 bucket (url_checksums/fashion_mnist.txt), then an earlier upload of the same
# bucket recorded by two independent loaders (batchup; C. Olding's mnists).
_FASHION_FILES = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    ),
}

# KMNIST (Clanuwat et al. 2018), from ROIS-DS CODH: tensorflow/datasets url_checksums/kmnist.txt.
_KMNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",),
    "train-labels-idx1-ubyte.gz": ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",),
    "t10k-images-idx3-ubyte.gz": ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",),
    "t10k-labels-idx1-ubyte.gz": ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",),
}

# CIFAR-10 python version (Krizhevsky 2009): the archive's SHA-256 as Keras pins it
# (keras.datasets.cifar10, get_file(file_hash=...)); MD5 c58f30108f718f92721af3b95e74349a.
_CIFAR10_FILES = {
    "cifar-10-python.tar.gz": ("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",),
}

SOURCES: dict[str, Source] = {
    "mnist": Source(
        "mnist",
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        _MNIST_FILES,
        "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)",
    ),
    "fashion_mnist": Source(
        "fashion_mnist",
        "fashion_mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        _FASHION_FILES,
        "https://github.com/zalandoresearch/fashion-mnist (files: "
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)",
    ),
    "kmnist": Source(
        "kmnist",
        "kmnist",
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        _KMNIST_FILES,
        "https://github.com/rois-codh/kmnist (files: http://codh.rois.ac.jp/kmnist/dataset/kmnist/)",
    ),
    "cifar10": Source(
        "cifar10",
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        _CIFAR10_FILES,
        "https://www.cs.toronto.edu/~kriz/cifar.html (file: "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)",
    ),
}


def check_sha256(blob: bytes, accepted: tuple[str, ...], what: str, fix: str) -> None:
    """Raise :class:`DatasetError` naming the actual and accepted sums unless they match."""
    actual = hashlib.sha256(blob).hexdigest()
    if actual not in accepted:
        raise DatasetError(
            f"{what} is corrupt or unknown: sha256 {actual}, expected one of {list(accepted)}; {fix}"
        )


def missing_file_error(source: Source, directory: Path, filename: str) -> DatasetError:
    """The error for a file that is not there: which file, where we looked, where to get it."""
    where = "is missing" if directory.is_dir() else "cannot be found: the directory does not exist"
    return DatasetError(
        f"{source.name} file {filename!r} {where} (looked in {directory}); run `edgeledger data download "
        f"{source.name} --data-root {directory.parent}`, pass download=True, or set {DATA_ENV_VAR} to the folder "
        f"that holds {source.subdir}/ (the files: {source.where_to_get()})"
    )


def read_checked(source: Source, directory: Path, filename: str, *, gunzip: bool = True) -> bytes:
    """The bytes of one file of ``source`` (decompressed if ``gunzip``), after its SHA-256
    matched one of the accepted sums."""
    path = directory / filename
    if not path.is_file():
        raise missing_file_error(source, directory, filename)
    blob = path.read_bytes()
    check_sha256(
        blob,
        source.files[filename],
        f"{source.name} file {filename!r} in {directory}",
        f"download it again from {source.where_to_get()}",
    )
    if not gunzip:
        return blob
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:  # only reachable with a patched sum table
        raise DatasetError(f"{source.name} file {filename!r} in {directory} is not valid gzip: {exc}") from None
