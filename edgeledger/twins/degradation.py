"""A synthetic machine-degradation model: what the plant's sensors measure, and when a machine fails.

This is a *generator*, stated as such: no plant data ships with edgeledger. It follows the
Wiener-process degradation model of the prognostics literature (Si, Wang, Hu, Zhou, "Remaining
useful life estimation -- a review on the statistical data driven approaches", EJOR 213(1), 2011,
section 4.1; Whitmore 1995): a machine's wear ``X`` (dimensionless, 0 new, ``D = 1`` failed) grows as

    X(t + h) = X(t) + mu_i * s * h + sigma * sqrt(s * h) * N(0, 1)        (h in operating hours)

with a unit-specific drift ``mu_i = mu_company * exp(N(0, unit_spread^2))`` (unit-to-unit variability;
companies run different loads, so their fleets differ: the federated data are non-IID) and a load
factor ``s = (speed / nominal_speed) ** load_exponent`` (a slower spindle wears slower, which is
what a "slow spindle 3 to 800 rpm" command buys). The machine fails at the first hour its wear
reaches ``D`` (first passage; for constant speed the lifetime is inverse-Gaussian distributed).

Sensors sample once per operating hour (Gaussian measurement noise on each):

    vibration_rms  [mm/s] = 1.8 + 4.5 * X ** 1.5                      (bearing wear shows late)
    temperature    [degC] = 38 + 12 * X + 6 * (s - 1)               (+ coolant off: +5)
    motor_current  [A]    = 12 + 3 * X * s + 2 * (s - 1)
    spindle_speed  [rpm]  = set point

Readings are fixed-point integers in milli-units, as everything that reaches the chain.
Everything is drawn from a ``numpy.random.Generator`` the caller seeds, so a run replays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeledger.errors import ConfigError

__all__ = ["FAILURE_WEAR", "SENSOR_FIELDS", "DegradationModel", "MachineState", "draw_drift", "simulate_life"]

#: the sensor fields every machine twin carries, in sample order (values are milli-units)
SENSOR_FIELDS = ("vibration_rms", "temperature", "motor_current", "spindle_speed")
FAILURE_WEAR = 1.0


@dataclass(frozen=True)
class DegradationModel:
    """The model's parameters (defaults: mean lives of 160 to 250 operating hours at nominal speed)."""

    company_drift: tuple[float, ...] = (1 / 160, 1 / 200, 1 / 250)  # wear per hour, per company
    unit_spread: float = 0.2  # log-normal unit-to-unit variability of the drift
    diffusion: float = 0.025  # sigma: wear per sqrt(hour)
    nominal_speed: float = 1200.0  # rpm
    load_exponent: float = 1.5
    noise: tuple[float, float, float, float] = (0.25, 0.6, 0.3, 5.0)  # per SENSOR_FIELDS

    def __post_init__(self) -> None:
        if not self.company_drift or min(self.company_drift) <= 0:
            raise ConfigError(f"company_drift must hold positive wear rates, got {self.company_drift}")
        if self.diffusion < 0 or self.unit_spread < 0 or self.nominal_speed <= 0:
            raise ConfigError("diffusion and unit_spread must be >= 0 and nominal_speed > 0, got "
                              f"{self.diffusion}, {self.unit_spread}, {self.nominal_speed}")

    def load(self, speed: float) -> float:
        return (max(speed, 0.0) / self.nominal_speed) ** self.load_exponent

    def samples(self, wear: np.ndarray, speed: float, coolant: bool, noise: np.ndarray) -> list[list[int]]:
        """Hourly samples of every sensor field (milli-units) for the wear path ``wear`` (hours,) at
        ``speed``; ``noise`` (hours, 4) is standard normal, scaled here by each field's noise."""
        s = self.load(speed)
        x = np.clip(wear, 0.0, FAILURE_WEAR)  # (hours,)
        clean = np.stack([1.8 + 4.5 * x ** 1.5, 38.0 + 12.0 * x + 6.0 * (s - 1.0) + (0.0 if coolant else 5.0),
                          12.0 + 3.0 * x * s + 2.0 * (s - 1.0), np.full_like(x, speed)], axis=1)  # (hours, 4)
        return np.rint((clean + noise * np.asarray(self.noise)) * 1000).astype(np.int64).tolist()


def draw_drift(model: DegradationModel, company: int, rng: np.random.Generator) -> float:
    """A unit's drift mu_i for ``company`` (index into ``company_drift``, modulo its length)."""
    base = model.company_drift[company % len(model.company_drift)]
    return base * math.exp(rng.normal(0.0, model.unit_spread))


@dataclass
class MachineState:
    """One machine's degradation as it runs: advance hour by hour at the current set points."""

    model: DegradationModel
    drift: float
    rng: np.random.Generator
    speed: float = 1200.0
    coolant: bool = True
    wear: float = 0.0
    hours: int = 0
    failed_at_hour: int | None = None

    @property
    def failed(self) -> bool:
        return self.failed_at_hour is not None

    def run_hours(self, hours: int) -> list[list[int]]:
        """Run ``hours`` operating hours (or until failure); the hourly samples taken.

        One block of ``hours x 5`` standard normals is drawn per call whether or not the machine
        fails inside it, so two copies of a machine fed the same calls stay on the same stream."""
        if self.failed or hours <= 0:
            return []
        z = self.rng.normal(0.0, 1.0, size=(hours, 5))  # (hours, wear step + 4 sensor noises)
        s = self.model.load(self.speed)
        wear = np.empty(hours)
        x = self.wear
        n = hours
        for k in range(hours):
            x = max(x + self.drift * s + self.model.diffusion * math.sqrt(s) * z[k, 0], 0.0)
            wear[k] = x
            if x >= FAILURE_WEAR:
                n = k + 1
                break
        self.wear = x
        self.hours += n
        if x >= FAILURE_WEAR:
            self.failed_at_hour = self.hours
        return self.model.samples(wear[:n], self.speed, self.coolant, z[:n, 1:])


def simulate_life(model: DegradationModel, company: int, rng: np.random.Generator, speed: float = 1200.0,
                  max_hours: int = 5000) -> tuple[list[list[int]], int | None]:
    """A run to failure at a constant ``speed``: hourly samples and the failure hour (None: censored)."""
    machine = MachineState(model, draw_drift(model, company, rng), rng, speed=speed)
    samples = machine.run_hours(max_hours)
    return samples, machine.failed_at_hour
