from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeledger.errors import DecodeError
from edgeledger.fl.models import build_model
from edgeledger.fl.params import get_flat_params, params_from_bytes, params_to_bytes, set_flat_params


def test_flat_params_round_trip_through_model() -> None:
    source = build_model("mlp", (64,), 10, seed=1)
    target = build_model("mlp", (64,), 10, seed=2)
    vec = get_flat_params(source)
    assert vec.dtype == np.float32 and vec.shape == (64 * 64 + 64 + 64 * 10 + 10,)
    set_flat_params(target, vec)
    assert np.array_equal(get_flat_params(target), vec)
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(source(x), target(x))


def test_get_flat_params_is_a_copy() -> None:
    model = build_model("mlp", (64,), 10, seed=1)
    vec = get_flat_params(model)
    vec[:] = 0.0
    assert get_flat_params(model).any()


def test_flat_params_include_buffers_in_state_dict_order() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model[1].running_mean.fill_(5.0)
    vec = get_flat_params(model)
    # Linear weight (6), bias (2), BN weight (2), bias (2), running_mean (2), running_var (2), count (1)
    assert vec.shape == (17,) and np.array_equal(vec[12:14], [5.0, 5.0])
    other = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    set_flat_params(other, vec)
    assert torch.equal(other[1].running_mean, torch.full((2,), 5.0))


def test_set_flat_params_rejects_wrong_length_and_leaves_model_unchanged() -> None:
    model = build_model("mlp", (64,), 10, seed=1)
    before = get_flat_params(model)
    with pytest.raises(DecodeError, match="model expects"):
        set_flat_params(model, np.zeros(before.size - 1, np.float32))
    bad = before.copy()
    bad[-1] = np.nan
    with pytest.raises(DecodeError, match="NaN"):
        set_flat_params(model, bad)
    assert np.array_equal(get_flat_params(model), before)


def test_params_bytes_round_trip_is_exact_and_little_endian() -> None:
    vec = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    blob = params_to_bytes(vec)
    assert len(blob) == 8 + 4 * 1000
    assert blob[8:12] == np.float32(vec[0]).astype("<f4").tobytes()
    back = params_from_bytes(blob)
    assert back.dtype == np.float32 and np.array_equal(back, vec) and back.flags.writeable
    assert params_from_bytes(memoryview(blob)).size == 1000


def test_params_bytes_are_deterministic() -> None:
    vec = np.arange(5, dtype=np.float32)
    assert params_to_bytes(vec) == params_to_bytes(vec.astype(np.float64))


@pytest.mark.parametrize("cut", [0, 3, 8, 9, 8 + 4 * 9, 8 + 4 * 10 - 1])
def test_truncated_bytes_raise_decode_error(cut: int) -> None:
    blob = params_to_bytes(np.ones(10, np.float32))
    with pytest.raises(DecodeError):
        params_from_bytes(blob[:cut])


def test_malformed_bytes_raise_decode_error() -> None:
    blob = params_to_bytes(np.ones(10, np.float32))
    with pytest.raises(DecodeError, match="magic"):
        params_from_bytes(b"XXXX" + blob[4:])
    with pytest.raises(DecodeError, match="has 52 bytes"):
        params_from_bytes(blob + b"\x00\x00\x00\x00")
    with pytest.raises(DecodeError, match="NaN"):
        params_from_bytes(params_to_bytes(np.array([1.0, np.inf], np.float32)))
