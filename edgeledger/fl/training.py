"""Local training and evaluation: the compute a device does inside one FL round.

Plain mini-batch SGD on cross-entropy (McMahan et al. 2017, ClientUpdate), with optional
heavy-ball momentum and the FedProx proximal term mu/2 * ||w - w_global||^2 (Li et al.,
MLSys 2020). Batches are shuffled by a ``torch.Generator`` seeded from ``seed`` only, so one
seed gives the same weights bit for bit on one platform; the global torch RNG is not used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgeledger.errors import ConfigError, DatasetError, DecodeError
from edgeledger.fl.datasets import Dataset

__all__ = ["TrainResult", "train_local", "evaluate", "check_hyper"]


@dataclass(frozen=True)
class TrainResult:
    """What one local training call did: samples held, mean cross-entropy, SGD steps."""

    n_samples: int
    mean_loss: float
    steps: int


def _tensors(data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    if len(data) == 0:
        raise DatasetError(f"data set {data.name!r} is empty; expected at least one sample")
    return torch.from_numpy(np.ascontiguousarray(data.x)), torch.from_numpy(np.ascontiguousarray(data.y))


def _proximal_anchor(
    model: nn.Module, params: list[tuple[str, nn.Parameter]], global_params: np.ndarray | None
) -> list[torch.Tensor]:
    """Per-parameter tensors of w_global (the current weights when none is given)."""
    if global_params is None:
        return [p.detach().clone() for _, p in params]
    state = model.state_dict()
    vec = torch.from_numpy(np.ascontiguousarray(global_params, dtype=np.float32))
    expected = sum(t.numel() for t in state.values())
    if vec.ndim != 1 or vec.numel() != expected:
        raise DecodeError(f"global_params has shape {tuple(vec.shape)}; the model expects ({expected},)")
    slices: dict[str, torch.Tensor] = {}
    offset = 0
    for key, tensor in state.items():
        slices[key] = vec[offset : offset + tensor.numel()].view(tensor.shape)
        offset += tensor.numel()
    return [slices[name] for name, _ in params]


def check_hyper(epochs: int, batch_size: int, lr: float, momentum: float, proximal_mu: float) -> None:
    """Refuse local-training hyper-parameters no SGD run can use (a :class:`ConfigError` naming the value)."""
    if int(epochs) < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must lie in [0, 1), got {momentum}")
    if not proximal_mu >= 0.0:
        raise ConfigError(f"proximal_mu must be >= 0, got {proximal_mu}")


def _sgd_step(
    params: list[nn.Parameter],
    buffers: list[torch.Tensor | None],
    anchor: list[torch.Tensor] | None,
    lr: float,
    momentum: float,
    mu: float,
) -> None:
    """One in-place SGD step; ``buffers`` holds the momentum buffers between steps."""
    for i, p in enumerate(params):
        if p.grad is None:
            continue
        grad = p.grad
        if anchor is not None:
            grad = grad.add(p - anchor[i], alpha=mu)  # d/dw of mu/2 ||w - w_global||^2
        if momentum > 0:
            buf = buffers[i]
            buf = grad.clone() if buf is None else buf.mul_(momentum).add_(grad)
            buffers[i] = grad = buf
        p.add_(grad, alpha=-lr)


def train_local(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    momentum: float = 0.0,
    proximal_mu: float = 0.0,
    global_params: np.ndarray | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data``; ``mean_loss`` is the sample-weighted mean
    cross-entropy over all batches (without the proximal term).

    The update is PyTorch's SGD without dampening: ``buf = momentum * buf + g``,
    ``w -= lr * buf``, with ``g`` including ``mu * (w - w_global)`` when ``proximal_mu > 0``.
    """
    check_hyper(epochs, batch_size, lr, momentum, proximal_mu)
    x, y = _tensors(data)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    anchor = _proximal_anchor(model, named, global_params) if proximal_mu > 0 else None
    buffers: list[torch.Tensor | None] = [None] * len(params)
    generator = torch.Generator().manual_seed(int(seed))
    n = len(data)
    loss_sum = torch.zeros((), dtype=torch.float64)
    steps = 0
    model.train()
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=generator)  # [N]
        for start in range(0, n, int(batch_size)):
            idx = order[start : start + int(batch_size)]  # [B]
            for p in params:
                p.grad = None
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            with torch.no_grad():
                loss_sum += loss.detach() * idx.numel()
                _sgd_step(params, buffers, anchor, float(lr), float(momentum), float(proximal_mu))
            steps += 1
    for p in params:
        p.grad = None
    return TrainResult(n_samples=n, mean_loss=float(loss_sum) / (n * int(epochs)), steps=steps)


def _inference_net(model: nn.Module) -> nn.Module:
    """``model`` itself, or for a network with 2-d convolutions a channels-last copy of it.

    oneDNN runs NHWC convolutions and pooling without the layout reorders NCHW needs: Pedal's
    MNIST CNN evaluates 3x faster this way on one thread. A copy, so the training model keeps
    its layout (training must stay bit-identical across executors)."""
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return model
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 256) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on ``data``, without gradients.

    Convolutional networks run channels-last in batches of ``batch_size`` (256 keeps the
    activations of a batch in cache; 1024 was 3x slower on Pedal's CNN)."""
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    x, y = _tensors(data)
    net = _inference_net(model)
    channels_last = net is not model and x.ndim == 4
    was_training = model.training
    net.eval()
    correct = 0
    loss_sum = 0.0
    with torch.inference_mode():
        for start in range(0, len(data), int(batch_size)):
            xb, yb = x[start : start + int(batch_size)], y[start : start + int(batch_size)]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            logits = net(xb)
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return correct / len(data), loss_sum / len(data)
