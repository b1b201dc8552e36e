"""Shared fixtures: a tiny hand-checkable slot (N = 3, M = 1)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.cost import SlotModel


def make_model(config: OffloadConfig, **overrides: np.ndarray) -> SlotModel:
    """Three devices on AP 0 with round numbers: d = 2, 4, 6 Mbit, c = 0.4, 1.2, 2.4 Gcycles."""
    n = config.n_devices
    values = dict(
        ap=np.zeros(n, dtype=np.int64),
        active=np.ones(n, bool),
        size_bits=np.array([2e6, 4e6, 6e6]),
        cycles=np.array([0.4e9, 1.2e9, 2.4e9]),
        output_bits=np.array([1e5, 2e5, 3e5]),
        deadline_s=np.ones(n),
        rate_up_bps=np.array([20e6, 10e6, 40e6]),
        rate_down_bps=np.array([50e6, 40e6, 100e6]),
        wait_local_s=np.zeros(n),
        wait_uplink_s=np.zeros(n),
        wait_edge_s=np.zeros(config.n_edges),
    )
    values.update(overrides)
    return SlotModel(config=config, **values)


@pytest.fixture
def tiny_config() -> OffloadConfig:
    return OffloadConfig(n_devices=3, n_edges=1)


@pytest.fixture
def model_factory():
    """:func:`make_model` as a fixture, so tests need not import this conftest."""
    return make_model


@pytest.fixture
def tiny_model(tiny_config: OffloadConfig) -> SlotModel:
    return make_model(tiny_config)
