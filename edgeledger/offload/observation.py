"""The per-device state vector of docs/offloading.md's DQN section (DMRO/ChainFL agent).

``[d / 7 Mbit, phi / 397, c / 2.8e9, tau, r_up / 30 Mbit/s (or g / h0(d_min)), f_l / 1 GHz,
last slot's k / N, n_m / N for each m, n_c / N]``: ``M + 8`` features, every normaliser a
config field. Devices without a task this slot see zeros for the task features.
"""

from __future__ import annotations

import numpy as np

from edgeledger.offload.channel import path_loss
from edgeledger.offload.config import OffloadConfig
from edgeledger.offload.env import SlotCounts, SlotState

__all__ = [
    "OBS_HIGH",
    "observation_size",
    "sequential_observation_size",
    "device_observations",
    "progress_features",
    "sequential_observation",
    "LOOKAHEAD_SIZE",
    "solo_savings",
    "lookahead_features",
]

#: Length of :func:`lookahead_features`.
LOOKAHEAD_SIZE = 4

#: Upper bound of every feature (ratios; a rate would need ~30 Tbit/s to reach it).
OBS_HIGH = 1e6


def observation_size(config: OffloadConfig) -> int:
    """Length of one device's state vector: ``M + 8``."""
    return config.n_edges + 8


def sequential_observation_size(config: OffloadConfig) -> int:
    """Length of the sequential formulation's state: DQN state plus ``M + 3`` in-slot features."""
    return observation_size(config) + config.n_edges + 3


def device_observations(config: OffloadConfig, state: SlotState) -> np.ndarray:
    """State vectors of every device for ``state``; shape ``(N, M + 8)``, float32."""
    n = config.n_devices
    tasks, counts = state.tasks, state.last_counts
    if config.obs_channel == "rate":
        link = state.channel.rate_up_bps / config.obs_rate_scale_bps
    else:
        link = state.channel.gain / path_loss(config, np.asarray(config.distance_min_m))
    on = tasks.active.astype(float)
    columns = [
        on * tasks.size_bits / config.obs_size_scale_bits,
        on * tasks.cycles_per_bit / config.obs_cycles_per_bit_scale,
        on * tasks.cycles / config.obs_cycles_scale,
        on * tasks.deadline_s,
        link,
        np.full(n, config.local_cpu_hz / config.obs_cpu_scale_hz),
        counts.ap_users[state.topology.ap] / n,
    ]
    shared = np.concatenate([counts.edge_tasks / n, [counts.cloud_tasks / n]])
    obs = np.concatenate([np.stack(columns, axis=1), np.broadcast_to(shared, (n, shared.size))], axis=1)
    return np.clip(obs, 0.0, OBS_HIGH).astype(np.float32)


def progress_features(
    config: OffloadConfig, state: SlotState, so_far: SlotCounts, device: int, position: int
) -> np.ndarray:
    """In-slot context for the sequential formulation: choices made so far this slot.

    ``[k at my AP / N, n_m / N for each m, n_c / N, position in the order / N]``: ``M + 3``
    features.
    """
    n = config.n_devices
    ap = state.topology.ap[device]
    feats = [[so_far.ap_users[ap] / n], so_far.edge_tasks / n, [so_far.cloud_tasks / n, position / n]]
    return np.concatenate(feats).astype(np.float32)


def sequential_observation(
    config: OffloadConfig,
    state: SlotState,
    slot_obs: np.ndarray,
    actions: np.ndarray,
    decided: np.ndarray,
    device: int,
    position: int,
) -> np.ndarray:
    """State of ``device`` on its turn: its row of ``slot_obs`` (from
    :func:`device_observations`) plus the choices of the ``decided`` devices so far."""
    so_far = SlotCounts.of(config, state.topology.ap, actions, decided)
    return np.concatenate([slot_obs[device], progress_features(config, state, so_far, device, position)])


def solo_savings(state: SlotState) -> np.ndarray:
    """Per device, how much its cost would drop by offloading alone: ``max(0, Q_local -
    min_a Q_a)`` over the offloading actions with no other device offloading; shape (N,)."""
    model = state.model
    n, n_actions = model.n_devices, model.config.n_actions
    joints = np.zeros(((n_actions - 1) * n, n), dtype=np.int64)
    rows = np.arange(joints.shape[0])
    joints[rows, rows % n] = 1 + rows // n  # row (a - 1) * n + j: device j alone on action a
    solo = model.evaluate(joints).cost[rows, rows % n].reshape(n_actions - 1, n).min(axis=0)
    local = model.evaluate(np.zeros(n, dtype=np.int64)).cost[0]
    return np.where(model.active, np.maximum(local - solo, 0.0), 0.0)


def lookahead_features(config: OffloadConfig, state: SlotState, savings: np.ndarray, waiting: np.ndarray) -> np.ndarray:
    """What the devices still to decide this slot bring (an extension of docs/offloading.md's state,
    ``dqn.lookahead_features``): ``[count / N, sum c / (N c_scale), sum solo savings / N,
    count with a positive solo saving / N]`` over the ``waiting`` (N,) bool devices.

    The access point already knows every announced task (it orders the devices by workload),
    so this summary needs no information a device could not be sent; it tells an early
    device how much TDMA and processor-sharing contention is still to come.
    """
    n = config.n_devices
    w = waiting & state.tasks.active
    return np.array(
        [w.sum() / n, state.tasks.cycles[w].sum() / (n * config.obs_cycles_scale), savings[w].sum() / n,
         np.sum(savings[w] > 0) / n],
        dtype=np.float32,
    )
