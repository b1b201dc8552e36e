import pytest

from edgeledger.codec import Record, decode, encode, to_builtins
from edgeledger.errors import DecodeError


class Point(Record):
    x: int
    label: str
    data: bytes


def test_codec_round_trip_and_canonical_bytes():
    p = Point(x=3, label="a", data=b"\x00\xff")
    assert decode(encode(p), Point) == p
    assert encode({"b": 1, "a": 2}) == encode({"a": 2, "b": 1})  # maps are ordered
    assert encode(p) == encode(Point(x=3, label="a", data=b"\x00\xff"))


def test_codec_rejects_wrong_types_and_trailing_garbage():
    with pytest.raises(DecodeError, match="cannot decode Point"):
        decode(encode((1, 2, 3)), Point)
    with pytest.raises(DecodeError):
        decode(encode(Point(x=1, label="a", data=b"")) + b"\x00", Point)
    with pytest.raises(DecodeError):
        decode(b"\xc1", Point)


def test_to_builtins_names_fields_and_hexes_bytes():
    assert to_builtins(Point(x=1, label="l", data=b"\xab")) == {"x": 1, "label": "l", "data": "ab"}
