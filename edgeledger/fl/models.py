"""Model builders: a name -> ``builder(input_shape, n_classes) -> nn.Module`` registry.

:func:`build_model` seeds the initial weights from an explicit seed inside
``torch.random.fork_rng``, so every node that builds the same model with the same seed
starts from the same bits and the caller's global torch RNG is left untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from edgeledger.errors import ConfigError
from edgeledger.registry import Registry

__all__ = ["ModelBuilder", "models", "build_model", "build_mlp", "build_mnist_cnn"]

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]

models: Registry[ModelBuilder] = Registry("model")


@models.register("mlp")
def build_mlp(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Flatten -> Linear(in, 64) -> ReLU -> Linear(64, n_classes): small enough for a Pi."""
    n_in = math.prod(input_shape)
    return nn.Sequential(
        nn.Flatten(),  # [B, *input_shape] -> [B, in]
        nn.Linear(n_in, 64),
        nn.ReLU(),
        nn.Linear(64, n_classes),
    )


@models.register("mnist_cnn")
def build_mnist_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The two-conv MNIST CNN used by ChainFL and Pedal (the PyTorch MNIST example's shape)."""
    if tuple(input_shape) != (1, 28, 28):
        raise ConfigError(f"mnist_cnn expects input_shape (1, 28, 28), got {tuple(input_shape)}")
    return nn.Sequential(
        nn.Conv2d(1, 10, kernel_size=5),  # [B, 10, 24, 24]
        nn.MaxPool2d(2),  # [B, 10, 12, 12]
        nn.ReLU(),
        nn.Conv2d(10, 20, kernel_size=5),  # [B, 20, 8, 8]
        nn.MaxPool2d(2),  # [B, 20, 4, 4]
        nn.ReLU(),
        nn.Flatten(),  # [B, 320]
        nn.Linear(320, n_classes),
    )


def build_model(name: str, input_shape: tuple[int, ...], n_classes: int, seed: int) -> nn.Module:
    """Build model ``name`` with initial weights determined by ``seed`` alone."""
    builder = models.get(name)
    if int(n_classes) < 2:
        raise ConfigError(f"n_classes must be >= 2, got {n_classes}")
    if not input_shape or any(int(d) < 1 for d in input_shape):
        raise ConfigError(f"input_shape must be non-empty positive sizes, got {tuple(input_shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = builder(tuple(int(d) for d in input_shape), int(n_classes))
    return model
