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

The ``pedal_*`` builders are the CNNs of the Pedal evaluation (Lin et al., SewingChain /
Pedal): ``pedal_mnist_cnn`` is Table I as printed (it is ``mnist_cnn``) and ``pedal_cifar_vgg``
Table III as printed (eight 3x3 convolutions, VGG-11's configuration A, then 512 -> 10).
``pedal_fmnist_cnn`` (Table II) is still our reading, stated in its docstring. McMahan et
al.'s "CNN" (which ``pedal_mnist_cnn`` was taken to be before Table I was read) keeps its own
name, ``mcmahan_cnn``.
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
    "build_mcmahan_cnn",
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
    """The two-conv MNIST CNN used by ChainFL and Pedal (the PyTorch MNIST example's shape);
    Pedal's Table I: conv 1->10 (5x5), pool, conv 10->20 (5x5), pool, linear 320->10 (8,490 weights)."""
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
    """Pedal Table I (MNIST and KMNIST) as printed: conv 1->10 (5x5), pool, conv 10->20 (5x5),
    pool, linear 320->10 -- the same network as :func:`build_mnist_cnn` (8,490 weights)."""
    _expect_shape("pedal_mnist_cnn", input_shape, (1, 28, 28))
    return build_mnist_cnn(input_shape, n_classes)


@models.register("mcmahan_cnn")
def build_mcmahan_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The FedAvg paper's "CNN" (McMahan et al. 2017, section 3): two 5x5 convolutions (32, 64
    channels, 'same' padding) each with ReLU and 2x2 max-pooling, a 512-unit ReLU layer and a
    linear output; 1,663,370 weights (what ``pedal_mnist_cnn`` meant before Table I was read)."""
    _expect_shape("mcmahan_cnn", input_shape, (1, 28, 28))
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


#: VGG-11's configuration A (Simonyan & Zisserman 2015, Table 1): 3x3 convolution widths, "M" a 2x2 max-pool
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


@models.register("pedal_cifar_vgg")
def build_pedal_cifar_vgg(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Pedal Table III (CIFAR-10) as printed: eight 3x3 'same' convolutions of 64, 128, 256, 256,
    512, 512, 512, 512 channels with ReLU, 2x2 max-pooling after the 1st, 2nd, 4th, 6th and 8th
    (VGG-11's configuration A), then linear 512 -> n_classes; no batch norm, no dropout."""
    _expect_shape("pedal_cifar_vgg", input_shape, (3, 32, 32))
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for width in VGG11:  # [B, 3, 32, 32] -> ... -> [B, 512, 1, 1]
        if width == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, int(width), kernel_size=3, padding=1), nn.ReLU()]
            channels = int(width)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, n_classes))  # [B, 512] -> [B, n_classes]


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
