"""Content-addressed blob store: sha256 -> bytes (docs/design.md rule 3, big data off-chain).

``get`` re-hashes what it returns, so a blob tampered with at rest is detected as an
:class:`IntegrityError` instead of being served.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import EdgeLedgerError, IntegrityError
from edgeledger.registry import Registry

__all__ = ["BlobStore", "MemoryBlobStore", "DirectoryBlobStore", "check_blob", "blob_references", "named_blobs"]

#: transaction kind -> ``payload -> [digests of the blobs it names]`` (a node accepts uploads of those)
blob_references: Registry[Callable[[bytes], list[bytes]]] = Registry("blob reference")


def named_blobs(tx: Any) -> list[bytes]:
    """The blob digests transaction ``tx`` names (its kind registered a reader); [] otherwise."""
    if tx.kind not in blob_references:
        return []
    try:
        return [d for d in blob_references.get(tx.kind)(tx.payload) if isinstance(d, bytes) and len(d) == 32]
    except EdgeLedgerError:
        return []


def check_blob(data: bytes, digest: bytes) -> None:
    """Raise :class:`IntegrityError` unless ``sha256(data) == digest``."""
    actual = sha256(data)
    if actual != digest:
        raise IntegrityError(f"blob digest {actual.hex()[:16]} does not match expected {digest.hex()[:16]}")


class BlobStore(ABC):
    @abstractmethod
    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its sha256 digest."""

    @abstractmethod
    def get(self, digest: bytes) -> bytes:
        """Return the verified bytes for ``digest``; KeyError when absent."""

    @abstractmethod
    def has(self, digest: bytes) -> bool:
        """True when the store holds ``digest``."""

    def discard(self, digest: bytes) -> None:
        """Forget ``digest`` if held (an upload no transaction came to name)."""


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self._blobs: dict[bytes, bytes] = {}

    def put(self, data: bytes) -> bytes:
        digest = sha256(data)
        self._blobs[digest] = bytes(data)
        return digest

    def get(self, digest: bytes) -> bytes:
        data = self._blobs[digest]
        check_blob(data, digest)
        return data

    def has(self, digest: bytes) -> bool:
        return digest in self._blobs

    def discard(self, digest: bytes) -> None:
        self._blobs.pop(digest, None)

    def __len__(self) -> int:
        return len(self._blobs)


class DirectoryBlobStore(BlobStore):
    """Blobs as files ``<root>/<aa>/<digest hex>``, written atomically (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: bytes) -> Path | None:
        """The file holding ``digest`` (for streaming it out), or None."""
        path = self._path(digest)
        return path if path.exists() else None

    def _path(self, digest: bytes) -> Path:
        h = digest.hex()
        return self.root / h[:2] / h

    def put(self, data: bytes) -> bytes:
        digest = sha256(data)
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        return digest

    def get(self, digest: bytes) -> bytes:
        path = self._path(digest)
        if not path.exists():
            raise KeyError(digest.hex())
        data = path.read_bytes()
        check_blob(data, digest)
        return data

    def has(self, digest: bytes) -> bool:
        return self._path(digest).exists()

    def discard(self, digest: bytes) -> None:
        self._path(digest).unlink(missing_ok=True)
