"""A K-client stacked program for plain ``nn.Sequential`` CNNs/MLPs, in GEMM-friendly layouts.

``torch.func.vmap`` over a conv net lowers to grouped convolutions and layout shuffles whose
memory traffic cancels the gain of batching on a CPU. This module instead rewrites a
``Sequential`` of ``Conv2d`` (stride 1, no padding, one group), ``MaxPool2d`` (stride =
kernel), ``ReLU``, ``Flatten`` and ``Linear`` into one program over K clients. Activations
are kept as ``[K, C, B, H, W]`` so each convolution is one batched GEMM
``W [K, O, C*k*k] @ patches [K, C*k*k, B*H'*W']`` whose output is already the next layer's
layout (the wide-output orientation, 2-3x faster than ``patches @ W`` for these shapes),
the weights are plain views of PyTorch's, and 2x2 pooling is a few vectorised passes.
Gradients of ``sum_k loss_k`` w.r.t. client k's weights are client k's own gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StackedProgram", "compile_stacked"]


class _Im2Col(torch.autograd.Function):
    """``[K, C, B, H, W] -> [K, C*k*k, B*H'*W']`` patches (rows c, i, j); backward = col2im."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, k: int) -> torch.Tensor:  # noqa: ANN001
        ctx.dims = (tuple(h.shape), k)
        return _patches(h, k)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        (kk, c, b, hh, ww), k = ctx.dims
        oh, ow = hh - k + 1, ww - k + 1
        g = grad.view(kk, c, k, k, b, oh, ow)
        dh = grad.new_zeros(kk, c, b, hh, ww)
        for i in range(k):
            for j in range(k):
                dh[..., i : i + oh, j : j + ow].add_(g[:, :, i, j])
        return dh, None


class _MaxPool2(torch.autograd.Function):
    """2x2 max pooling over the last two dims, ties to the first in scan order like
    ``F.max_pool2d``; a few vectorised passes instead of PyTorch's slow small-plane kernel."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        v = h.unflatten(-1, (-1, 2)).unflatten(-3, (-1, 2))  # [..., H/2, 2, W/2, 2]
        a, b, c, d = v[..., 0, :, 0], v[..., 0, :, 1], v[..., 1, :, 0], v[..., 1, :, 1]
        top, bottom = torch.maximum(a, b), torch.maximum(c, d)
        masks = [(b > a).to(h.dtype), (d > c).to(h.dtype), (bottom > top).to(h.dtype)]  # strict: first wins ties
        ctx.save_for_backward(*masks)
        ctx.shape = h.shape
        return torch.maximum(top, bottom)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        right_top, right_bottom, lower = ctx.saved_tensors
        dh = grad.new_empty(ctx.shape)
        v = dh.unflatten(-1, (-1, 2)).unflatten(-3, (-1, 2))
        g_bottom = grad * lower
        g_top = grad - g_bottom
        g_tr, g_br = g_top * right_top, g_bottom * right_bottom
        v[..., 0, :, 1] = g_tr
        v[..., 0, :, 0] = g_top - g_tr
        v[..., 1, :, 1] = g_br
        v[..., 1, :, 0] = g_bottom - g_br
        return dh


def _patches(h: torch.Tensor, k: int) -> torch.Tensor:
    h = h.contiguous()
    kk, c, b, hh, ww = h.shape
    oh, ow = hh - k + 1, ww - k + 1
    s = h.stride()
    view = h.as_strided((kk, c, k, k, b, oh, ow), (s[0], s[1], s[3], s[4], s[2], s[3], s[4]))
    return view.reshape(kk, c * k * k, b * oh * ow)


@dataclass(frozen=True)
class _Op:
    kind: str  # conv | pool | relu | flatten | linear
    k: int = 0  # conv / pool kernel size
    names: tuple[str, str] = ("", "")  # state-dict keys of weight and bias


class StackedProgram:
    """Forward pass of K stacked clients plus conversion between flat vectors and weights."""

    def __init__(self, ops: list[_Op], shapes: dict[str, torch.Size], input_shape: tuple[int, ...]) -> None:
        self.ops, self.shapes, self.input_shape = ops, shapes, input_shape

    def to_internal(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """``flat [K, P]`` (state-dict order) -> internal weights, each ``[K, ...]``, contiguous."""
        k, tensors, offset = flat.shape[0], {}, 0
        for name, shape in self.shapes.items():
            n = shape.numel()
            tensors[name] = flat[:, offset : offset + n].reshape(k, *shape)
            offset += n
        out = []
        for op in self.ops:
            if op.kind not in ("conv", "linear"):
                continue
            w, b = tensors[op.names[0]], tensors[op.names[1]]
            if op.kind == "conv":  # [K, O, C, kh, kw] -> [K, O, C*kh*kw]; bias [K, O, 1]
                out += [w.reshape(k, w.shape[1], -1).clone(), b.reshape(k, -1, 1).clone()]
            else:  # [K, O, F] -> [K, F, O]; bias [K, 1, O]
                out += [w.transpose(1, 2).contiguous(), b.reshape(k, 1, -1).clone()]
        return out

    def to_flat(self, weights: list[torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`to_internal`: ``[K, P]`` in state-dict order."""
        k, by_name, it = weights[0].shape[0], {}, iter(weights)
        for op in self.ops:
            if op.kind not in ("conv", "linear"):
                continue
            w, b = next(it), next(it)
            if op.kind == "linear":
                w = w.transpose(1, 2)
            by_name[op.names[0]], by_name[op.names[1]] = w, b
        return torch.cat([by_name[name].reshape(k, -1) for name in self.shapes], dim=1)

    def forward(self, weights: list[torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        """``xb [K, B, *input_shape]`` -> logits ``[K, B, n_classes]``."""
        k, b = xb.shape[:2]
        h = xb.transpose(1, 2).contiguous() if xb.dim() == 5 else xb  # images: [K, C, B, H, W]
        it = iter(weights)
        for op in self.ops:
            if op.kind == "conv":
                w, bias = next(it), next(it)
                oh, ow = h.shape[3] - op.k + 1, h.shape[4] - op.k + 1
                p = _Im2Col.apply(h, op.k) if h.requires_grad else _patches(h, op.k)  # [K, C*k*k, B*oh*ow]
                h = torch.baddbmm(bias, w, p).view(k, -1, b, oh, ow)  # [K, O, B, oh, ow]
            elif op.kind == "pool" and op.k == 2 and h.shape[3] % 2 == 0 and h.shape[4] % 2 == 0:
                h = _MaxPool2.apply(h)
            elif op.kind == "pool":  # each (client, channel) is one NCHW "sample" with B planes
                c, hh, ww = h.shape[1], h.shape[3], h.shape[4]
                h = F.max_pool2d(h.reshape(k * c, b, hh, ww), op.k).view(k, c, b, hh // op.k, ww // op.k)
            elif op.kind == "relu":
                h = F.relu(h)
            elif op.kind == "flatten":  # torch's (c, h, w) feature order per sample
                h = h.transpose(1, 2).reshape(k, b, -1) if h.dim() == 5 else h.reshape(k, b, -1)
            else:
                w, bias = next(it), next(it)
                h = torch.baddbmm(bias, h.reshape(k, b, -1), w)
        return h


def compile_stacked(model: nn.Module, input_shape: tuple[int, ...]) -> StackedProgram | None:
    """The stacked program of ``model``, or ``None`` when it holds a layer this cannot run."""
    if not isinstance(model, nn.Sequential) or any(True for _ in model.buffers()):
        return None
    ops: list[_Op] = []
    shape = tuple(input_shape)  # (C, H, W) or (F,)
    prefix = {id(m): name for name, m in model.named_children()}
    for layer in model:
        name = prefix[id(layer)]
        if isinstance(layer, nn.Conv2d):
            ks = layer.kernel_size
            plain = layer.stride == (1, 1) and layer.padding == (0, 0) and layer.dilation == (1, 1)
            if len(shape) != 3 or ks[0] != ks[1] or layer.groups != 1 or not plain or layer.bias is None:
                return None
            ops.append(_Op("conv", k=ks[0], names=(f"{name}.weight", f"{name}.bias")))
            shape = (layer.out_channels, shape[1] - ks[0] + 1, shape[2] - ks[0] + 1)
        elif isinstance(layer, nn.MaxPool2d):
            k, s = layer.kernel_size, layer.stride
            if len(shape) != 3 or not isinstance(k, int) or s not in (k, (k, k)) or layer.padding not in (0, (0, 0)):
                return None
            if layer.dilation not in (1, (1, 1)) or layer.ceil_mode:
                return None
            ops.append(_Op("pool", k=k))
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif isinstance(layer, nn.ReLU):
            ops.append(_Op("relu"))
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                return None
            ops.append(_Op("flatten"))
            shape = (int(torch.Size(shape).numel()),)
        elif isinstance(layer, nn.Linear) and len(shape) == 1 and layer.bias is not None:
            ops.append(_Op("linear", names=(f"{name}.weight", f"{name}.bias")))
            shape = (layer.out_features,)
        else:
            return None
    shapes = {key: t.shape for key, t in model.state_dict().items()}
    return StackedProgram(ops, shapes, tuple(input_shape))
