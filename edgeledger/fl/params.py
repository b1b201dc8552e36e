"""Model state as one flat float32 vector, and its canonical byte form for blobs.

The vector holds every entry of ``model.state_dict()`` (parameters *and* buffers, so
batch-norm statistics travel too) in state-dict order. Its bytes are what the blob store
hashes and the chain names by digest: an 8-byte header (magic ``ELPV``, little-endian
uint32 count) then ``count`` little-endian float32 values.
"""

from __future__ import annotations

import struct

import numpy as np
import torch
from torch import nn

from edgeledger.errors import ConfigError, DecodeError

__all__ = ["get_flat_params", "set_flat_params", "params_to_bytes", "params_from_bytes", "PARAMS_MAGIC"]

PARAMS_MAGIC = b"ELPV"
_HEADER = struct.Struct("<4sI")  # magic, count


def get_flat_params(model: nn.Module) -> np.ndarray:
    """Every state-dict entry flattened and concatenated, as a new float32 vector."""
    tensors = [t.detach().reshape(-1).to(torch.float32) for t in model.state_dict().values()]
    if not tensors:
        return np.zeros(0, dtype=np.float32)
    return torch.cat(tensors).numpy()


def set_flat_params(model: nn.Module, vec: np.ndarray) -> None:
    """Load ``vec`` (from :func:`get_flat_params`) into ``model`` in place.

    A vector of the wrong length or with non-finite values raises :class:`DecodeError`
    and leaves the model unchanged.
    """
    state = model.state_dict()
    expected = sum(t.numel() for t in state.values())
    vec = np.asarray(vec)
    if vec.ndim != 1 or vec.size != expected:
        raise DecodeError(f"parameter vector has shape {vec.shape}; the model expects ({expected},)")
    source = torch.from_numpy(np.ascontiguousarray(vec, dtype=np.float32))
    if not bool(torch.isfinite(source).all()):
        raise DecodeError("parameter vector holds NaN or infinite values; expected finite float32")
    offset = 0
    with torch.no_grad():
        for tensor in state.values():
            n = tensor.numel()
            tensor.copy_(source[offset : offset + n].view(tensor.shape))
            offset += n


def params_to_bytes(vec: np.ndarray) -> bytes:
    """Canonical bytes of a flat parameter vector (header + little-endian float32)."""
    flat = np.asarray(vec)
    if flat.ndim != 1:
        raise ConfigError(f"parameter vector must be 1-D, got shape {flat.shape}")
    if flat.size >= 2**32:
        raise ConfigError(f"parameter vector of {flat.size} values exceeds the 2**32 - 1 limit")
    body = np.ascontiguousarray(flat, dtype="<f4").tobytes()
    return _HEADER.pack(PARAMS_MAGIC, flat.size) + body


def params_from_bytes(b: bytes) -> np.ndarray:
    """Decode :func:`params_to_bytes` output; wrong magic, length or non-finite values raise
    :class:`DecodeError`. Returns a new writable float32 vector."""
    data = bytes(b) if not isinstance(b, bytes) else b
    if len(data) < _HEADER.size:
        raise DecodeError(
            f"parameter blob of {len(data)} bytes is shorter than its {_HEADER.size}-byte header"
        )
    magic, count = _HEADER.unpack_from(data)
    if magic != PARAMS_MAGIC:
        raise DecodeError(f"parameter blob starts with {magic!r}; expected magic {PARAMS_MAGIC!r}")
    expected = _HEADER.size + 4 * count
    if len(data) != expected:
        raise DecodeError(
            f"parameter blob declares {count} values ({expected} bytes) but has {len(data)} bytes"
        )
    vec = np.frombuffer(data, dtype="<f4", count=count, offset=_HEADER.size).astype(np.float32)
    if not np.all(np.isfinite(vec)):
        raise DecodeError("parameter blob holds NaN or infinite values; expected finite float32")
    return vec
