"""Rate controllers (Hyperledger Caliper's): when may transaction ``i`` of a round be sent.

A controller is asked ``send_at(i, view)`` for each transaction in order and answers the
offset in seconds from the round's start at which it may go, or ``None`` for "not yet"
(the driver asks again after a transaction finishes). ``view`` carries what a closed-loop
controller needs: elapsed time, transactions in flight and the recent throughput. No clock
or I/O here, so every schedule is a pure function of its inputs and tested as such.

Controllers, with Caliper's option names: ``fixed-rate`` {tps}, ``linear-rate``
{startingTps, finishingTps}, ``fixed-load`` {transactionLoad}, ``maximum-rate`` {tps, step,
sampleInterval}, ``composite`` {weights, rateControllers}, ``replay`` {pathToTrace}.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError
from edgeledger.registry import Registry

__all__ = ["LoadView", "RateController", "controllers", "schedule", "FixedRate", "LinearRate", "FixedLoad",
           "MaximumRate", "Composite", "Replay"]


@dataclass(frozen=True)
class LoadView:
    elapsed: float  # seconds since the round started
    in_flight: int  # submitted and not finished
    throughput_tps: float  # finished transactions per second over the last sample


class RateController(ABC):
    """One controller instance drives one round; ``send_at`` is called with i = 0, 1, 2, ..."""

    def __init__(self, length: tuple[int | None, float | None]) -> None:
        self.tx_number, self.duration_s = length

    @classmethod
    @abstractmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> RateController:
        """Build from the TOML ``rate_control.opts``; raise ConfigError naming a bad option."""

    @abstractmethod
    def send_at(self, i: int, view: LoadView) -> float | None:
        """Offset (s from the round's start) at which transaction ``i`` may be sent, or None: not yet."""


controllers: Registry[type[RateController]] = Registry("rate controller")


def _num(opts: dict[str, Any], key: str, name: str, default: float | None = None, minimum: float = 0.0,
         strict: bool = True) -> float:
    value = opts.get(key, default)
    if value is None:
        raise ConfigError(f"rate_control.opts.{key}: {name} needs {key} (a number)")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < minimum or (strict and value == minimum):
        raise ConfigError(f"rate_control.opts.{key}: expected a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def _unknown(opts: dict[str, Any], known: set[str], name: str) -> None:
    extra = sorted(set(opts) - known)
    if extra:
        raise ConfigError(f"rate_control.opts: {name} has no option {extra[0]!r}; expected {sorted(known)}")


def _length(round_cfg: Any) -> tuple[int | None, float | None]:
    return (getattr(round_cfg, "tx_number", None), getattr(round_cfg, "tx_duration_s", None))


@controllers.register("fixed-rate")
class FixedRate(RateController):
    """Transaction i at i / tps: a constant input rate."""

    def __init__(self, tps: float, length: tuple[int | None, float | None] = (None, None)) -> None:
        super().__init__(length)
        self.tps = tps

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> FixedRate:
        _unknown(opts, {"tps"}, "fixed-rate")
        return cls(_num(opts, "tps", "fixed-rate", 10.0), _length(round_cfg))

    def send_at(self, i: int, view: LoadView) -> float | None:
        return i / self.tps


@controllers.register("linear-rate")
class LinearRate(RateController):
    """The rate moves linearly from startingTps to finishingTps over the round (by count or time)."""

    def __init__(self, start: float, finish: float, length: tuple[int | None, float | None]) -> None:
        super().__init__(length)
        self.start, self.finish = start, finish
        self._t = 0.0

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> LinearRate:
        _unknown(opts, {"startingTps", "finishingTps"}, "linear-rate")
        return cls(_num(opts, "startingTps", "linear-rate", 10.0), _num(opts, "finishingTps", "linear-rate", 20.0),
                   _length(round_cfg))

    def rate(self, i: int, t: float) -> float:
        if self.tx_number:
            frac = i / self.tx_number
        elif self.duration_s:
            frac = min(t / self.duration_s, 1.0)
        else:
            frac = 0.0
        return self.start + (self.finish - self.start) * frac

    def send_at(self, i: int, view: LoadView) -> float | None:
        if i == 0:
            self._t = 0.0
        else:
            self._t += 1.0 / self.rate(i - 1, self._t)
        return self._t


@controllers.register("fixed-load")
class FixedLoad(RateController):
    """Keep ``transactionLoad`` transactions unfinished: send whenever the backlog is below it."""

    def __init__(self, load: int, length: tuple[int | None, float | None] = (None, None)) -> None:
        super().__init__(length)
        self.load = load

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> FixedLoad:
        _unknown(opts, {"transactionLoad"}, "fixed-load")
        return cls(int(_num(opts, "transactionLoad", "fixed-load", 10)), _length(round_cfg))

    def send_at(self, i: int, view: LoadView) -> float | None:
        return view.elapsed if view.in_flight < self.load else None


@controllers.register("maximum-rate")
class MaximumRate(RateController):
    """Raise the rate by ``step`` every ``sampleInterval`` s while throughput rises; then step back and hold."""

    def __init__(self, tps: float, step: float, interval: float,
                 length: tuple[int | None, float | None] = (None, None)) -> None:
        super().__init__(length)
        self.tps, self.step, self.interval = tps, step, interval
        self._t = 0.0
        self._next_sample = interval
        self._best = 0.0
        self.holding = False

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> MaximumRate:
        _unknown(opts, {"tps", "step", "sampleInterval"}, "maximum-rate")
        return cls(_num(opts, "tps", "maximum-rate", 10.0), _num(opts, "step", "maximum-rate", 5.0),
                   _num(opts, "sampleInterval", "maximum-rate", 5.0), _length(round_cfg))

    def send_at(self, i: int, view: LoadView) -> float | None:
        if not self.holding and view.elapsed >= self._next_sample:
            self._next_sample = view.elapsed + self.interval
            if view.throughput_tps > self._best:
                self._best = view.throughput_tps
                self.tps += self.step
            else:
                self.tps = max(self.tps - self.step, self.step)
                self.holding = True
        if i > 0:
            self._t += 1.0 / self.tps
        return self._t


@controllers.register("composite")
class Composite(RateController):
    """A sequence of controllers, each driving a ``weights`` share of the round (count or time)."""

    def __init__(self, weights: list[float], parts: list[RateController],
                 length: tuple[int | None, float | None]) -> None:
        super().__init__(length)
        total = sum(weights)
        self.fractions = [w / total for w in weights]
        self.parts = parts
        self._part, self._first_i, self._offset = 0, 0, 0.0
        self._last = 0.0

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> Composite:
        _unknown(opts, {"weights", "rateControllers"}, "composite")
        weights, subs = opts.get("weights"), opts.get("rateControllers")
        if not isinstance(subs, list) or not subs or not isinstance(weights, list) or len(weights) != len(subs):
            raise ConfigError("rate_control.opts: composite needs rateControllers (a non-empty list of {type, opts}) "
                              f"and as many weights; got {len(subs or [])} controllers and {len(weights or [])} weights")
        if any(not isinstance(w, (int, float)) or w <= 0 for w in weights):
            raise ConfigError(f"rate_control.opts.weights: expected positive numbers, got {weights!r}")
        parts = []
        for sub in subs:
            if not isinstance(sub, dict) or sub.get("type") not in controllers or sub["type"] == "composite":
                raise ConfigError(f"rate_control.opts.rateControllers: each entry needs a type among "
                                  f"{[c for c in controllers.names() if c != 'composite']}, got {sub!r}")
            parts.append(controllers.get(sub["type"]).from_opts(dict(sub.get("opts", {})), round_cfg))
        return cls([float(w) for w in weights], parts, _length(round_cfg))

    def _boundary(self, k: int) -> float:
        return sum(self.fractions[:k + 1]) * (self.tx_number or self.duration_s or 0)

    def send_at(self, i: int, view: LoadView) -> float | None:
        while self._part < len(self.parts) - 1 and (
                (self.tx_number and i >= self._boundary(self._part))
                or (not self.tx_number and self.duration_s and self._last >= self._boundary(self._part))):
            self._part += 1
            self._first_i, self._offset = i, self._last
        sub_view = LoadView(view.elapsed - self._offset, view.in_flight, view.throughput_tps)
        t = self.parts[self._part].send_at(i - self._first_i, sub_view)
        if t is None:
            return None
        self._last = max(self._last, t + self._offset)
        return t + self._offset


@controllers.register("replay")
class Replay(RateController):
    """Send at the offsets of a recorded trace: one number (seconds from the start) per line."""

    def __init__(self, offsets: list[float], interval: float = 0.02,
                 length: tuple[int | None, float | None] = (None, None)) -> None:
        super().__init__(length)
        self.offsets, self.interval = offsets, interval

    @classmethod
    def from_opts(cls, opts: dict[str, Any], round_cfg: Any) -> Replay:
        _unknown(opts, {"pathToTrace", "defaultInterval"}, "replay")
        path = opts.get("pathToTrace")
        if not isinstance(path, str):
            raise ConfigError(f"rate_control.opts.pathToTrace: replay needs a trace file path, got {path!r}")
        try:
            lines = [ln.split(",")[0].strip() for ln in Path(path).read_text().splitlines()]
            offsets = [float(x) for x in lines if x and not x.startswith("#")]
        except FileNotFoundError:
            raise ConfigError(f"rate_control.opts.pathToTrace: trace file {path!r} does not exist") from None
        except ValueError as exc:
            raise ConfigError(f"rate_control.opts.pathToTrace: {path!r} must hold one number per line ({exc})") from None
        if not offsets or any(b < a for a, b in zip(offsets, offsets[1:])):
            raise ConfigError(f"rate_control.opts.pathToTrace: {path!r} needs non-decreasing offsets, got "
                              f"{len(offsets)} values")
        return cls(offsets, _num(opts, "defaultInterval", "replay", 0.02), _length(round_cfg))

    def send_at(self, i: int, view: LoadView) -> float | None:
        if i < len(self.offsets):
            return self.offsets[i] - self.offsets[0]
        return self.offsets[-1] - self.offsets[0] + (i - len(self.offsets) + 1) * self.interval


def schedule(ctl: RateController, n: int, throughput_tps: float = 0.0) -> list[float]:
    """The first ``n`` send offsets of an open-loop controller (nothing ever in flight)."""
    out: list[float] = []
    t = 0.0
    for i in range(n):
        at = ctl.send_at(i, LoadView(elapsed=t, in_flight=0, throughput_tps=throughput_tps))
        assert at is not None
        t = max(t, at)
        out.append(at)
    return out
