"""Model builders: a name -> ``builder(input_shape, n_classes) -> nn.Module`` registry.

:func:`build_model` seeds the initial weights from an explicit seed inside
``torch.random.fork_rng``, so every node that builds the same model with the same seed
starts from the same bits and the caller's global torch RNG is left untouched.

Any ``torch.nn.Module`` becomes a model by registering its builder; a scenario then names
it in ``fl.model``::

    from edgeledger.fl import models

    @models.register("tiny_mlp")
    def build_tiny(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), n_classes))

Everything in the module's ``state_dict()`` travels as one float32 vector
(:mod:`edgeledger.fl.params`), buffers included: batch-norm running statistics are
averaged like weights, and the integer ``num_batches_tracked`` survives the float32 round
trip exactly below 2**24 steps. Register before building the scenario (import the module
that holds the decorator), and keep builders deterministic given torch's seed.

The ``pedal_*`` builders are the three CNNs of the Pedal evaluation (Lin et al., SewingChain
/ Pedal, Tables I-III). The tables were not at hand when these were written, so each is the
standard architecture such a table describes, with the choices stated in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from edgeledger.errors import ConfigError
from edgeledger.registry import Registry

__all__ = [
    "ModelBuilder",
    "models",
    "build_model",
    "build_mlp",
    "build_mnist_cnn",
    "build_pedal_mnist_cnn",
    "build_pedal_fmnist_cnn",
    "build_pedal_cifar_vgg",
]

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


def _expect_shape(name: str, input_shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(input_shape) != expected:
        raise ConfigError(f"{name} expects input_shape {expected}, got {tuple(input_shape)}")


@models.register("pedal_mnist_cnn")
def build_pedal_mnist_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Pedal Table I (MNIST and KMNIST), assumed to be the FedAvg paper's "CNN" (McMahan et
    al. 2017, section 3): two 5x5 convolutions (32, 64 channels, 'same' padding) each with
    ReLU and 2x2 max-pooling, a 512-unit ReLU layer and a linear output; 1,663,370 weights."""
    _expect_shape("pedal_mnist_cnn", input_shape, (1, 28, 28))
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=5, padding=2),  # [B, 32, 28, 28]
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 32, 14, 14]
        nn.Conv2d(32, 64, kernel_size=5, padding=2),  # [B, 64, 14, 14]
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 64, 7, 7]
        nn.Flatten(),  # [B, 3136]
        nn.Linear(64 * 7 * 7, 512),
        nn.ReLU(),
        nn.Linear(512, n_classes),
    )


@models.register("pedal_fmnist_cnn")
def build_pedal_fmnist_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Pedal Table II (Fashion-MNIST, with batch norm), assumed to be the common two-block
    Conv(5x5, 'same') -> BatchNorm -> ReLU -> MaxPool(2) CNN (16 then 32 channels) with one
    linear layer on the 32x7x7 features; its BN running stats travel with the parameters."""
    _expect_shape("pedal_fmnist_cnn", input_shape, (1, 28, 28))
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5, padding=2),  # [B, 16, 28, 28]
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 16, 14, 14]
        nn.Conv2d(16, 32, kernel_size=5, padding=2),  # [B, 32, 14, 14]
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),  # [B, 32, 7, 7]
        nn.Flatten(),  # [B, 1568]
        nn.Linear(32 * 7 * 7, n_classes),
    )


def _vgg_block(c_in: int, c_out: int) -> list[nn.Module]:
    """Two 3x3 'same' convolutions with ReLU, then 2x2 max-pooling (Simonyan & Zisserman 2015)."""
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]


@models.register("pedal_cifar_vgg")
def build_pedal_cifar_vgg(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Pedal Table III (CIFAR-10), assumed VGG-style: three blocks of two 3x3 convolutions
    (64, 128, 256 channels) each followed by 2x2 max-pooling, then 4096 -> 512 -> n_classes
    fully connected layers with ReLU; no batch norm or dropout."""
    _expect_shape("pedal_cifar_vgg", input_shape, (3, 32, 32))
    return nn.Sequential(
        *_vgg_block(3, 64),  # [B, 64, 16, 16]
        *_vgg_block(64, 128),  # [B, 128, 8, 8]
        *_vgg_block(128, 256),  # [B, 256, 4, 4]
        nn.Flatten(),  # [B, 4096]
        nn.Linear(256 * 4 * 4, 512),
        nn.ReLU(),
        nn.Linear(512, n_classes),
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
