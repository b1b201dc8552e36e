"""Radio model: path loss, Rician block fading and Shannon rates (DROO/LyDROO).

Path loss ``h0 = A_d (c / (4 pi f_c dist))^d_e``; each slot the gain is redrawn as
``g = (sigma n1 + beta)^2 + (sigma n2)^2`` with ``beta = sqrt(K h0)``,
``sigma = sqrt((1-K) h0 / 2)``; rates are ``(B / v_u) log2(1 + P g / N0)`` (Huang, Bi,
Zhang, DROO, IEEE TMC 2020; LyDROO, IEEE JSAC 2021). The up- and downlink of a device share
the slot's gain (block fading, reciprocal channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.offload.config import OffloadConfig

__all__ = [
    "Topology",
    "SlotChannel",
    "path_loss",
    "noise_power_w",
    "rician_gain",
    "shannon_rate",
    "draw_topology",
    "draw_slot_channel",
]


@dataclass(frozen=True)
class Topology:
    """Where devices sit: device-to-AP distances, each device's AP and its mean gain."""

    distances_m: np.ndarray  # (N, M)
    ap: np.ndarray  # (N,) index of the attached access point / edge, 0..M-1
    mean_gain: np.ndarray  # (N,) path loss h0 to the attached AP


@dataclass(frozen=True)
class SlotChannel:
    """One slot's block-fading draw for every device's link to its AP."""

    gain: np.ndarray  # (N,)
    rate_up_bps: np.ndarray  # (N,)
    rate_down_bps: np.ndarray  # (N,)


def path_loss(config: OffloadConfig, distance_m: np.ndarray) -> np.ndarray:
    """Free-space-style path loss ``A_d (c / (4 pi f_c dist))^d_e`` (DROO)."""
    wavelength_term = config.light_speed_m_s / (4.0 * np.pi * config.carrier_hz * np.asarray(distance_m))
    return config.antenna_gain * wavelength_term**config.path_loss_exponent


def noise_power_w(config: OffloadConfig) -> float:
    """Thermal noise over the band: ``10^(N0_dBm/10) * 1e-3 * B`` watts."""
    return 10.0 ** (config.noise_dbm_per_hz / 10.0) * 1e-3 * config.bandwidth_hz


def rician_gain(mean_gain: np.ndarray, k_factor: float, rng: np.random.Generator) -> np.ndarray:
    """One Rician block-fading draw per link with LOS ratio ``K``; ``E[g] = h0``."""
    beta = np.sqrt(k_factor * mean_gain)
    sigma = np.sqrt((1.0 - k_factor) * mean_gain / 2.0)
    n1 = rng.standard_normal(mean_gain.shape)
    n2 = rng.standard_normal(mean_gain.shape)
    return (sigma * n1 + beta) ** 2 + (sigma * n2) ** 2


def shannon_rate(config: OffloadConfig, gain: np.ndarray, power_w: float) -> np.ndarray:
    """Achievable rate ``(B / v_u) log2(1 + P g / N0)`` in bit/s."""
    snr = power_w * gain / noise_power_w(config)
    return config.bandwidth_hz / config.rate_overhead * np.log2(1.0 + snr)


def draw_topology(config: OffloadConfig, rng: np.random.Generator) -> Topology:
    """Distances ``U[d_min, d_max]`` to every AP; attach each device to the nearest AP
    (``attachment="nearest"``) or to AP ``i mod M`` (``"round_robin"``)."""
    n, m = config.n_devices, config.n_edges
    distances = rng.uniform(config.distance_min_m, config.distance_max_m, size=(n, m))
    if config.attachment == "nearest":
        ap = np.argmin(distances, axis=1)
    else:
        ap = np.arange(n) % m
    own = distances[np.arange(n), ap]
    return Topology(distances_m=distances, ap=ap.astype(np.int64), mean_gain=path_loss(config, own))


def draw_slot_channel(config: OffloadConfig, topology: Topology, rng: np.random.Generator) -> SlotChannel:
    """Redraw the fading of every device's AP link and derive up/downlink rates."""
    gain = rician_gain(topology.mean_gain, config.rician_k, rng)
    return SlotChannel(
        gain=gain,
        rate_up_bps=shannon_rate(config, gain, config.tx_power_w),
        rate_down_bps=shannon_rate(config, gain, config.ap_power_w),
    )
