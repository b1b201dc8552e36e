"""One device's own slot stream: its task and its radio channel, slot after slot.

The analytical environment draws every device's task and channel from one generator; on the
network each device draws its own (docs/offloading.md's distributions): its distance to its
access point once (``U[d_min, d_max]``), then per slot a Rician fading gain and a QECO task.
:class:`SlotDraw` is what the device sees of slot ``s`` before it decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeledger.offload.channel import path_loss, rician_gain, shannon_rate
from edgeledger.offload.config import OffloadConfig

__all__ = ["SlotDraw", "DeviceStream"]


@dataclass(frozen=True)
class SlotDraw:
    """Device's task (size, cycles per bit, cycles, output, deadline) and channel rates in one slot."""

    slot: int
    size_bits: float
    cycles_per_bit: float
    cycles: float
    output_bits: float
    deadline_s: float
    rate_up_bps: float
    rate_down_bps: float


class DeviceStream:
    """Draws a device's slots from ``rng`` (its own generator, seeded from the scenario)."""

    def __init__(self, config: OffloadConfig, rng: np.random.Generator) -> None:
        self.config, self.rng = config, rng
        distance = rng.uniform(config.distance_min_m, config.distance_max_m)
        self.mean_gain = np.array([float(path_loss(config, np.asarray(distance)))])

    def draw(self, slot: int) -> SlotDraw:
        cfg, rng = self.config, self.rng
        gain = rician_gain(self.mean_gain, cfg.rician_k, rng)
        size = float(rng.uniform(cfg.task_size_min_bits, cfg.task_size_max_bits))
        phi = float(rng.choice(np.asarray(cfg.cycles_per_bit, dtype=float)))
        return SlotDraw(slot=slot, size_bits=size, cycles_per_bit=phi, cycles=phi * size,
                        output_bits=cfg.output_ratio * size, deadline_s=cfg.deadline_s,
                        rate_up_bps=float(shannon_rate(cfg, gain, cfg.tx_power_w)[0]),
                        rate_down_bps=float(shannon_rate(cfg, gain, cfg.ap_power_w)[0]))
