"""Shared fixtures for the FL tests: the digits split, loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from edgeledger.fl.datasets import Dataset, load_dataset

# Tiny models on a shared 2-core box: with more than one intra-op thread, OpenMP
# spin-waits make each op ~1000x slower whenever another process holds a core. The
# library never sets this (it is the application's choice); the test process does.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> tuple[Dataset, Dataset]:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding mnist/ ($EDGELEDGER_DATA, else the shared copy); skip if absent."""
    root = Path(os.environ.get("EDGELEDGER_DATA") or "/work/shared/datasets")
    if not (root / "mnist").is_dir():
        pytest.skip(f"no MNIST files under {root}; set EDGELEDGER_DATA to run these tests")
    return root
