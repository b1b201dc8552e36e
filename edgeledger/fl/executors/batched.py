"""Train the K clients of a round as one stacked model: one vectorised SGD step for all.

Each client keeps its own parameters (a leading K axis on every tensor) and its own
minibatch order, drawn exactly as :func:`~edgeledger.fl.training.train_local` draws it
(``torch.randperm`` per epoch from ``torch.Generator().manual_seed(seed)``). The
per-client gradient comes from the stacked program of
:mod:`~edgeledger.fl.executors.stacked` (one grouped network, its own backward pass) where
the model allows it, else from ``torch.func.vmap(grad(loss))`` over ``functional_call``
(the "model ensembling" recipe of torch.func); either way per-step Python and dispatch
overhead is paid once for the K clients, and the result equals sequential training up to
float rounding.

Clients are grouped by step count (``epochs * ceil(n / batch_size)``) and hyper-parameters;
inside a group a client whose batch is short (the last batch of an epoch when sizes differ)
is padded with zero-weight samples, and its loss is the weighted mean over its real ones.
Models with buffers (batch norm) are not vmap-safe in training mode and fall back to
sequential training.

``device="cuda"`` (``fl.executor_options.device``) runs the stacked program on a CUDA device:
weights, data and minibatch indices live there for the whole group and only the trained
parameters come back (the shuffling is drawn on the CPU, so the minibatch order is the
same). Where no CUDA device is present the executor says so in one line and trains on the CPU.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap

from edgeledger.errors import ConfigError
from edgeledger.fl.executors.base import Executor, ModelSpec, TrainOutput, TrainSpec, add_claims, executors
from edgeledger.fl.executors.sequential import train_one
from edgeledger.fl.executors.stacked import compile_stacked
from edgeledger.fl.training import check_hyper

__all__ = ["BatchedExecutor", "batch_plan", "parse_device", "resolve_device"]

log = logging.getLogger("edgeledger.fl.executors")


def parse_device(requested: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` -> a torch device (``auto``: CUDA when there is one);
    anything else is a :class:`ConfigError` naming the key (the scenario's preflight calls this)."""
    name = str(requested).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"fl.executor_options.device: {requested!r} is not a device; expected 'cpu', 'cuda', "
                          "'cuda:N' or 'auto'") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"fl.executor_options.device: {requested!r}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return device


def resolve_device(requested: str) -> torch.device:
    """:func:`parse_device`, then the device to train on: a CUDA device that is not there falls back
    to the CPU with a one-line warning."""
    device = parse_device(requested)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            log.warning("fl.executor_options.device=%r: no such CUDA device here (torch sees %d); training on the CPU",
                        requested, count)
            return torch.device("cpu")
    return device


def batch_plan(n: int, epochs: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``train_local``'s minibatch order as ``(idx [S, B] int64, weight [S, B] float32)``.

    Row ``s`` holds the sample indices of step ``s``; short batches are padded with index 0
    and weight 0. ``S = epochs * ceil(n / batch_size)``.
    """
    per_epoch = -(-n // batch_size)
    generator = torch.Generator().manual_seed(int(seed))
    idx = torch.zeros(epochs, per_epoch * batch_size, dtype=torch.int64)
    weight = torch.zeros(epochs, per_epoch * batch_size, dtype=torch.float32)
    for e in range(epochs):
        idx[e, :n] = torch.randperm(n, generator=generator)  # [n], the same draw as train_local
        weight[e, :n] = 1.0
    return idx.view(-1, batch_size), weight.view(-1, batch_size)


def _weighted_ce(module: torch.nn.Module):  # noqa: ANN202
    def loss(params: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor):
        logits = functional_call(module, params, (xb,))  # [B, C]
        ce = F.cross_entropy(logits, yb, reduction="none")  # [B]
        return (ce * wb).sum() / wb.sum()

    return loss


@executors.register("batched")
class BatchedExecutor(Executor):
    """Vectorised training of up to ``max_group`` clients at once (all of a group by default).

    ``stacked=True`` runs models that :func:`compile_stacked` accepts as one grouped
    network (fastest on CPU); other models, or ``stacked=False``, use ``vmap``.

    ``threads`` sets torch's intra-op threads while :meth:`train_many` runs (restored after);
    ``None`` leaves the caller's setting alone. ``device`` is where the groups train (see the
    module docstring).
    """

    name = "batched"

    def __init__(
        self,
        model: ModelSpec,
        *,
        max_group: int | None = None,
        threads: int | None = None,
        stacked: bool = True,
        device: str = "cpu",
    ) -> None:
        super().__init__(model)
        self.device = resolve_device(device)
        if max_group is not None and int(max_group) < 1:
            raise ConfigError(f"max_group must be >= 1 or None, got {max_group}")
        if threads is not None and int(threads) < 1:
            raise ConfigError(f"threads must be >= 1 or None, got {threads}")
        self.max_group = None if max_group is None else int(max_group)
        self.threads = None if threads is None else int(threads)
        self._module = model.build()  # stays on the CPU: only its structure is used on the device
        self._vectorisable = not any(True for _ in self._module.buffers())
        self._step = vmap(grad_and_value(_weighted_ce(self._module)))
        self._program = compile_stacked(self._module, model.input_shape) if stacked else None
        self._shapes = {name: t.shape for name, t in self._module.state_dict().items()}
        bounds = np.cumsum([0] + [t.numel() for t in self._shapes.values()])
        self._slices = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

    def train_many(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            return add_claims(self._module, jobs, self._train_all(jobs))
        finally:
            torch.set_num_threads(previous)

    def _train_all(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        outputs: list[TrainOutput | None] = [None] * len(jobs)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, job in enumerate(jobs):
            check_hyper(job.epochs, job.batch_size, job.lr, job.momentum, job.proximal_mu)
            if len(job.data) == 0 or not self._vectorisable:
                outputs[i] = train_one(self._module, job)  # raises train_local's own errors
                continue
            key = (job.steps(), int(job.epochs), int(job.batch_size), float(job.lr))
            groups[key + (float(job.momentum), float(job.proximal_mu))].append(i)
        size = self.max_group or max((len(g) for g in groups.values()), default=1)
        for members in groups.values():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                for i, out in zip(chunk, self._train_group([jobs[i] for i in chunk]), strict=True):
                    outputs[i] = out
        return [out for out in outputs if out is not None]

    def _stacked_flat(self, jobs: list[TrainSpec]) -> torch.Tensor:
        flat = torch.from_numpy(np.stack([np.asarray(j.params, dtype=np.float32) for j in jobs])).to(self.device)
        expected = sum(t.numel() for t in self._module.state_dict().values())
        if flat.shape[1] != expected:
            raise ConfigError(
                f"job params have {flat.shape[1]} values; model {self.model.name!r} expects {expected}"
            )
        return flat

    def _vmap_grads(self, weights: list[torch.Tensor], xb, yb, wb):  # noqa: ANN001, ANN202
        """Per-client gradients and losses via ``vmap(grad(loss))``; any stateless model."""
        params = dict(zip(self._shapes, weights, strict=True))
        grads, losses = self._step(params, xb, yb, wb)
        return [grads[name] for name in self._shapes], losses

    def _train_group(self, jobs: list[TrainSpec]) -> list[TrainOutput]:
        """Every job here has the same step count, batch size, epochs and hyper-parameters."""
        k, first = len(jobs), jobs[0]
        lr, momentum, mu = float(first.lr), float(first.momentum), float(first.proximal_mu)
        bsz = int(first.batch_size)
        flat = self._stacked_flat(jobs)
        if self._program is not None:
            weights = self._program.to_internal(flat)
            grad_fn = self._program.grads  # its own backward pass; ``wb [K, B]`` masks padding
        else:
            weights = [
                flat[:, a:b].reshape(k, *shape).clone()
                for (a, b), shape in zip(self._slices, self._shapes.values(), strict=True)
            ]
            grad_fn = self._vmap_grads
        anchor = [w.detach().clone() for w in weights] if mu > 0 else None
        buffers: list[torch.Tensor | None] = [None] * len(weights)
        n_max = max(len(j.data) for j in jobs)
        x = torch.zeros((k, n_max, *first.data.x.shape[1:]), dtype=torch.float32)  # [K, N, *in]
        y = torch.zeros((k, n_max), dtype=torch.int64)  # [K, N]
        for c, job in enumerate(jobs):
            x[c, : len(job.data)] = torch.from_numpy(np.ascontiguousarray(job.data.x))
            y[c, : len(job.data)] = torch.from_numpy(np.ascontiguousarray(job.data.y))
        plans = [batch_plan(len(j.data), int(j.epochs), bsz, int(j.seed)) for j in jobs]
        idx = torch.stack([p[0] for p in plans]).to(self.device)  # [K, S, B]
        weight = torch.stack([p[1] for p in plans]).to(self.device)  # [K, S, B]
        x, y = x.to(self.device), y.to(self.device)
        rows = torch.arange(k, device=self.device).unsqueeze(1)  # [K, 1]
        step_losses = torch.empty((idx.shape[1], k), dtype=torch.float32, device=self.device)  # [S, K]
        plain_sgd = anchor is None and momentum <= 0
        for s in range(idx.shape[1]):
            sel = idx[:, s]  # [K, B]
            grads, losses = grad_fn(weights, x[rows, sel], y[rows, sel], weight[:, s])
            with torch.no_grad():
                step_losses[s] = losses
                if plain_sgd:  # one fused call for every weight tensor
                    torch._foreach_add_(weights, grads, alpha=-lr)
                    continue
                for i, (p, g) in enumerate(zip(weights, grads, strict=True)):
                    if anchor is not None:
                        g = g.add(p - anchor[i], alpha=mu)
                    if momentum > 0:
                        buf = buffers[i]
                        g = buffers[i] = g.clone() if buf is None else buf.mul_(momentum).add_(g)
                    p.add_(g, alpha=-lr)
        # sum over steps of (mean loss x samples in the step), as train_local accumulates it
        loss_sum = (step_losses.double() * weight.sum(2).double().T).sum(0).cpu()  # [K]
        with torch.no_grad():
            if self._program is not None:
                out = self._program.to_flat([w.detach() for w in weights], k).cpu().numpy()  # [K, P]
            else:
                out = torch.cat([w.reshape(k, -1) for w in weights], dim=1).cpu().numpy()
        return [
            TrainOutput(
                params=out[c].copy(),
                n_samples=len(job.data),
                mean_loss=float(loss_sum[c]) / (len(job.data) * int(job.epochs)),
                steps=idx.shape[1],
            )
            for c, job in enumerate(jobs)
        ]
