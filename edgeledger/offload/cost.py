"""Delay, device energy and normalised cost of joint offloading decisions (docs/offloading.md).

For a slot, device i with task (d, c, d_out, tau) and action a_i (0 local, 1..M edge m,
M+1 cloud through its AP), with k_i devices offloading through its AP (TDMA), n_m tasks at
edge m (processor sharing) and n_c tasks on the WAN:

- local: ``T = wait_local + c / f_l``, ``E = kappa f_l^2 c``
- edge m: ``T = wait_up + d k_i / r_up + wait_edge_m + c n_m / f_e + d_out k_i / r_dl``
- cloud: ``T = wait_up + d k_i / r_up + (d + d_out) n_c / R_wan + 2 delta_wan + c / f_cloud
  + d_out k_i / r_dl``
- offload energy: ``E = P_tx (upload time) + P_rx (download time) + P_idle (rest of T)``
- cost: ``Q_i = w_T T / T_loc + w_E E / E_loc + zeta 1[T > tau]`` with the all-local values
  ``T_loc = c / f_l``, ``E_loc = kappa f_l^2 c``.

Waits are zero in slot mode. Radio after DROO/LyDROO, tiers after DDLO, WAN after
EdgeCloudSim, deadlines after QECO. Everything is vectorised over a batch of joint
decisions of shape ``(J, N)`` so exhaustive search costs a few array passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.offload.channel import SlotChannel, Topology
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.tasks import TaskBatch

__all__ = ["SlotModel", "CostBreakdown", "build_slot_model", "normalised_cost"]

DEFAULT_CHUNK = 16384  # joints per pass: bounds memory to a few tens of MB for N = 10


@dataclass(frozen=True)
class CostBreakdown:
    """Per-device outcome of ``J`` joint decisions; every array has shape ``(J, N)``."""

    actions: np.ndarray  # (J, N) int, inactive devices forced to 0
    delay_s: np.ndarray
    energy_j: np.ndarray
    cost: np.ndarray  # Q_i, zero for devices without a task
    miss: np.ndarray  # bool, T_i > tau_i for devices with a task

    @property
    def total(self) -> np.ndarray:
        """Total slot cost ``sum_i Q_i`` per joint, shape ``(J,)``."""
        return self.cost.sum(axis=1)


@dataclass(frozen=True)
class SlotModel:
    """Everything that fixes the cost of a slot's decisions; :meth:`evaluate` is pure."""

    config: OffloadConfig
    ap: np.ndarray  # (N,) access point of each device
    active: np.ndarray  # (N,) bool, device has a task this slot
    size_bits: np.ndarray  # (N,)
    cycles: np.ndarray  # (N,)
    output_bits: np.ndarray  # (N,)
    deadline_s: np.ndarray  # (N,)
    rate_up_bps: np.ndarray  # (N,)
    rate_down_bps: np.ndarray  # (N,)
    wait_local_s: np.ndarray  # (N,)
    wait_uplink_s: np.ndarray  # (N,)
    wait_edge_s: np.ndarray  # (M,)
    _const: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cfg = self.config
        t_loc = self.cycles / cfg.local_cpu_hz
        c = {
            "e_loc": cfg.kappa * cfg.local_cpu_hz**2 * self.cycles,
            "up": self.size_bits / self.rate_up_bps,
            "down": self.output_bits / self.rate_down_bps,
            "edge": self.cycles / cfg.edge_cpu_hz,
            "wan": (self.size_bits + self.output_bits) / cfg.wan_rate_bps,
            "cloud_fixed": 2.0 * cfg.wan_delay_s + self.cycles / cfg.cloud_cpu_hz,
            "local_delay": self.wait_local_s + t_loc,
            "wait_edge": np.concatenate([[0.0], self.wait_edge_s, [0.0]]),  # indexed by action
            "ap_onehot": np.eye(cfg.n_edges)[self.ap],  # (N, M)
        }
        object.__setattr__(self, "_const", c)

    @property
    def n_devices(self) -> int:
        return int(self.active.shape[0])

    def evaluate(self, actions: np.ndarray) -> CostBreakdown:
        """Delay, energy, cost and misses of each joint in ``actions`` (shape (J, N) or (N,))."""
        a = self._check(actions)
        cfg, k = self.config, self._const
        a = np.where(self.active, a, 0)
        off = a > 0
        share = (off.astype(float) @ k["ap_onehot"])[:, self.ap]  # (J, N) k_i, TDMA users of my AP
        same = _same_action_counts(a, cfg.n_actions)  # (J, N) n_m for edge, n_c for cloud
        t_up = k["up"] * share
        t_down = k["down"] * share
        server = np.where(
            a == cfg.cloud_action,
            k["wan"] * same + k["cloud_fixed"],
            k["wait_edge"][a] + k["edge"] * same,
        )
        delay = np.where(off, self.wait_uplink_s + t_up + server + t_down, k["local_delay"])
        energy = np.where(
            off,
            cfg.tx_power_w * t_up + cfg.rx_power_w * t_down + cfg.idle_power_w * (delay - t_up - t_down),
            k["e_loc"],
        )
        miss = (delay > self.deadline_s) & self.active
        cost = np.where(self.active, normalised_cost(cfg, delay, energy, self.cycles, miss), 0.0)
        zero = ~self.active
        return CostBreakdown(
            actions=a,
            delay_s=np.where(zero, 0.0, delay),
            energy_j=np.where(zero, 0.0, energy),
            cost=cost,
            miss=miss,
        )

    def total_cost(self, actions: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
        """``sum_i Q_i`` for each joint, computed ``chunk`` joints at a time; shape ``(J,)``."""
        a = self._check(actions)
        out = np.empty(a.shape[0])
        for start in range(0, a.shape[0], chunk):
            out[start : start + chunk] = self.evaluate(a[start : start + chunk]).total
        return out

    def all_local_cost(self) -> float:
        """All-local total: ``(w_T + w_E)`` per device with a task, plus its misses."""
        return float(self.evaluate(np.zeros(self.n_devices, dtype=np.int64)).total[0])

    def _check(self, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions)
        if a.ndim == 1:
            a = a[None, :]
        n, n_actions = self.n_devices, self.config.n_actions
        if a.ndim != 2 or a.shape[1] != n:
            raise ConfigError(f"actions: shape {np.shape(actions)}; expected (J, {n}) or ({n},)")
        if a.size and (a.min() < 0 or a.max() >= n_actions):
            raise ConfigError(f"actions: values in [{a.min()}, {a.max()}]; expected integers in [0, {n_actions})")
        return a.astype(np.int64, copy=False)


def normalised_cost(
    config: OffloadConfig, delay_s: np.ndarray, energy_j: np.ndarray, cycles: np.ndarray, miss: np.ndarray
) -> np.ndarray:
    """``Q = w_T T / T_loc + w_E E / E_loc + zeta 1[miss]`` with ``T_loc = c / f_l`` and
    ``E_loc = kappa f_l^2 c``, so all-local costs ``w_T + w_E`` plus misses."""
    t_loc = cycles / config.local_cpu_hz
    e_loc = config.kappa * config.local_cpu_hz**2 * cycles
    energy_term = config.weight_energy * energy_j / e_loc if config.weight_energy > 0 else 0.0
    return config.weight_delay * delay_s / t_loc + energy_term + config.miss_penalty * miss


def _same_action_counts(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """For each device, how many devices of the same joint took the same action."""
    counts = np.stack([(actions == v).sum(axis=1) for v in range(n_actions)], axis=1)  # (J, M+2)
    return np.take_along_axis(counts, actions, axis=1)


def build_slot_model(
    config: OffloadConfig,
    topology: Topology,
    channel: SlotChannel,
    tasks: TaskBatch,
    wait_local_s: np.ndarray | None = None,
    wait_uplink_s: np.ndarray | None = None,
    wait_edge_s: np.ndarray | None = None,
) -> SlotModel:
    """Assemble a :class:`SlotModel`; waits default to zero (slot mode)."""
    n, m = config.n_devices, config.n_edges
    return SlotModel(
        config=config,
        ap=topology.ap,
        active=tasks.active,
        size_bits=tasks.size_bits,
        cycles=tasks.cycles,
        output_bits=tasks.output_bits,
        deadline_s=tasks.deadline_s,
        rate_up_bps=channel.rate_up_bps,
        rate_down_bps=channel.rate_down_bps,
        wait_local_s=np.zeros(n) if wait_local_s is None else wait_local_s,
        wait_uplink_s=np.zeros(n) if wait_uplink_s is None else wait_uplink_s,
        wait_edge_s=np.zeros(m) if wait_edge_s is None else wait_edge_s,
    )
