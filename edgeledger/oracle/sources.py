"""Simulated industrial data sources for the data oracle (Fig. 2's off-chain side).

A source answers ``read(sensor, node_id, request_id, time_ms)`` with a fixed-point reading
(milli-units) and how long the read took. Readings are drawn from a generator seeded by
(source seed, sensor, node, request), so a run replays exactly and no global RNG is used.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from edgeledger.crypto.hashing import derive_seed

__all__ = ["Reading", "Source", "NoisySensor", "LyingSource", "SlowSource", "sensor_series"]


@dataclass(frozen=True)
class Reading:
    value_milli: int
    delay_s: float


class Source(ABC):
    @abstractmethod
    def read(self, sensor: str, node_id: str, request_id: str, time_ms: int) -> Reading:
        """One reading of ``sensor`` as seen by ``node_id``."""


@dataclass(frozen=True)
class NoisySensor(Source):
    """A sinusoidal process value (e.g. a temperature) plus Gaussian measurement noise."""

    seed: int
    base: float = 50.0
    amplitude: float = 5.0
    period_s: float = 600.0
    noise_std: float = 0.2
    latency_s: float = 0.02

    def true_value(self, time_ms: int) -> float:
        return self.base + self.amplitude * math.sin(2 * math.pi * time_ms / 1000 / self.period_s)

    def read(self, sensor: str, node_id: str, request_id: str, time_ms: int) -> Reading:
        rng = np.random.default_rng(derive_seed(self.seed, sensor, node_id, request_id))
        value = self.true_value(time_ms) + rng.normal(0.0, self.noise_std)
        return Reading(round(value * 1000), self.latency_s)


@dataclass(frozen=True)
class LyingSource(Source):
    """A compromised gateway: reports the honest value times ``factor`` plus ``offset``."""

    inner: Source
    factor: float = 3.0
    offset: float = 100.0

    def read(self, sensor: str, node_id: str, request_id: str, time_ms: int) -> Reading:
        honest = self.inner.read(sensor, node_id, request_id, time_ms)
        return Reading(round(honest.value_milli * self.factor + self.offset * 1000), honest.delay_s)


@dataclass(frozen=True)
class SlowSource(Source):
    """A congested source: correct readings, ``extra_delay_s`` late."""

    inner: Source
    extra_delay_s: float = 2.0

    def read(self, sensor: str, node_id: str, request_id: str, time_ms: int) -> Reading:
        honest = self.inner.read(sensor, node_id, request_id, time_ms)
        return Reading(honest.value_milli, honest.delay_s + self.extra_delay_s)


def sensor_series(sensor: NoisySensor, name: str, n_samples: int, step_ms: int = 1000) -> list[int]:
    """A recorded series of ``n_samples`` readings (milli-units), for the storage layer."""
    return [sensor.read(name, "recorder", f"t{i}", i * step_ms).value_milli for i in range(n_samples)]
