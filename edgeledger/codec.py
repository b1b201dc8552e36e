"""Canonical encoding of every message and record (docs/design.md: "one place").

msgspec MessagePack with deterministic map ordering: structs encode as arrays in field
order (``array_like``), dicts with sorted keys, so equal values always give equal bytes.
The same bytes are hashed, signed and sent on the wire. Decoding is typed and validated:
bytes that do not fit the expected struct raise :class:`DecodeError` and change nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar, dataclass_transform, overload

import msgspec

from edgeledger.errors import DecodeError

__all__ = ["Record", "encode", "decode", "to_builtins", "MAX_MESSAGE_BYTES"]

T = TypeVar("T")

#: Hard upper bound on a decoded message; larger inputs are refused before parsing.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder(order="deterministic")
_decoders: dict[Any, msgspec.msgpack.Decoder] = {}


# frozen_default: a subclass (``class Vote(Record, tag=...)``) inherits frozen=True at run time; this
# tells type checkers so (msgspec's own stub would make each subclass a non-frozen dataclass)
@dataclass_transform(frozen_default=True, field_specifiers=(msgspec.field,))
class Record(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Base for every frozen, canonically encoded message and record."""


def encode(obj: Any) -> bytes:
    """Canonical bytes of ``obj`` (a :class:`Record`, or builtins of them)."""
    return _encoder.encode(obj)


@overload
def decode(data: bytes, type_: type[T]) -> T: ...
@overload
def decode(data: bytes, type_: Any) -> Any: ...  # a Union of records: annotate the result


def decode(data: bytes, type_: Any) -> Any:
    """Decode ``data`` as ``type_``; anything malformed raises :class:`DecodeError`."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.msgpack.Decoder(type_)
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        name = getattr(type_, "__name__", str(type_))
        raise DecodeError(f"cannot decode {name}: {exc}") from None


def to_builtins(obj: Any) -> Any:
    """JSON-friendly form of a record for exports and logs: named fields, bytes as hex."""
    if isinstance(obj, msgspec.Struct):
        return {f.name: to_builtins(getattr(obj, f.name)) for f in msgspec.structs.fields(obj)}
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, dict):
        return {str(k): to_builtins(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [to_builtins(v) for v in obj]
    return obj
