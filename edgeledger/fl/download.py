"""Opt-in download of a file-backed data set from its official location (an I/O driver).

Nothing downloads unless asked (``load_dataset(..., download=True)`` or ``--download``).
Each file is fetched into ``<name>.part`` next to its destination, its SHA-256 is checked
against :data:`~edgeledger.fl.dataset_files.SOURCES` and only then renamed into place, so an
interrupted or tampered transfer never leaves a file the loaders would parse. Files already
present with a matching sum are kept; base URLs are tried in order (mirrors).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from edgeledger.errors import DatasetError
from edgeledger.fl.dataset_files import SOURCES, Source

__all__ = ["download_dataset", "CHUNK_BYTES"]

CHUNK_BYTES = 1 << 16
_USER_AGENT = "edgeledger-dataset-fetch/1 (+https://pypi.org/project/edgeledger/)"


def _has_valid_copy(path: Path, accepted: tuple[str, ...]) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() in accepted


def _fetch(url: str, part: Path, progress: Progress, timeout: float) -> str:
    """Stream ``url`` into ``part``; return the SHA-256 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout) as response, part.open("wb") as out:
        total = response.headers.get("Content-Length")
        task = progress.add_task(part.name.removesuffix(".part"), total=int(total) if total else None)
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            progress.advance(task, len(chunk))
    return digest.hexdigest()


def _download_file(source: Source, directory: Path, filename: str, progress: Progress, timeout: float) -> None:
    target = directory / filename
    accepted = source.files[filename]
    if _has_valid_copy(target, accepted):
        return
    part = target.with_name(filename + ".part")
    failures: list[str] = []
    for base in source.urls:
        url = base + filename
        try:
            actual = _fetch(url, part, progress, timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        if actual not in accepted:
            part.unlink(missing_ok=True)
            failures.append(f"{url}: sha256 {actual}, expected one of {list(accepted)}")
            continue
        part.replace(target)
        return
    part.unlink(missing_ok=True)
    raise DatasetError(
        f"could not download {source.name} file {filename!r} into {directory}: "
        + "; ".join(failures)
        + f". Check the connection, or fetch it by hand from {source.where_to_get()}"
    )


def download_dataset(
    name: str,
    data_root: str | Path,
    *,
    show_progress: bool = True,
    console: Console | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch every missing or corrupt file of data set ``name`` into ``<data_root>/<subdir>/``.

    Returns that folder. Data sets without files (``digits``, ``synthetic``) need nothing
    and return the folder unchanged; a name with no source raises :class:`DatasetError`.
    """
    if name not in SOURCES:
        raise DatasetError(f"data set {name!r} has no download source; expected one of {sorted(SOURCES)}")
    source = SOURCES[name]
    directory = Path(data_root) / source.subdir
    directory.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("[bold blue]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, disable=not show_progress, transient=False) as progress:
        for filename in sorted(source.files):
            _download_file(source, directory, filename, progress, timeout)
    return directory
