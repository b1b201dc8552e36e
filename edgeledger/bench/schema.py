"""The benchmark file (TOML): which network to load and the rounds to run on it.

Mirrors Hyperledger Caliper's benchmark configuration: every round names a workload
module, a length (``tx_number`` or ``tx_duration_s``), a number of workers and a rate
controller. Unknown keys are errors that name the key, like the scenario schema.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeledger.bench.rate import controllers
from edgeledger.bench.workloads import workloads
from edgeledger.errors import ConfigError

__all__ = ["NetworkConfig", "WorkloadConfig", "RateControlConfig", "RoundConfig", "BenchConfig",
           "parse_bench", "load_bench"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkConfig(_Strict):
    """``local``: start a scenario as processes; ``remote``: a running network's center; ``sim``: in-process."""

    kind: Literal["local", "remote", "sim"] = "local"
    scenario: str | None = None  # scenario TOML for local/sim (default: 4 validators, 4 devices, no FL, a
    # consortium); remote: the scenario the network runs, for its [consortium] accounts
    set: list[str] = []  # scenario overrides, as edgeledger run --set
    center: str | None = None  # remote: the center URL
    keys_dir: str | None = None  # remote: folder with <node>/identity.seed (an `edgeledger up --dir`)
    submit_to: list[str] = []  # node ids that receive transactions (default: the validators)
    plugins: list[str] = []  # modules the node processes import (extra tx kinds and contracts)
    startup_timeout_s: float = Field(90.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> NetworkConfig:
        if self.kind == "remote" and not self.center:
            raise ValueError("network.kind='remote' needs network.center (the center URL, e.g. http://host:8700)")
        if self.kind != "remote" and self.center:
            raise ValueError(f"network.center is only for kind='remote', got kind={self.kind!r}")
        return self


class WorkloadConfig(_Strict):
    name: str
    params: dict[str, Any] = {}


class RateControlConfig(_Strict):
    type: str = "fixed-rate"
    opts: dict[str, Any] = {}


class RoundConfig(_Strict):
    label: str
    description: str = ""
    workload: WorkloadConfig
    tx_number: int | None = Field(None, gt=0)
    tx_duration_s: float | None = Field(None, gt=0)
    workers: int = Field(1, ge=1)
    rate_control: RateControlConfig = RateControlConfig()
    timeout_s: float = Field(30.0, gt=0)  # wait this long after the last submission for commits

    @model_validator(mode="after")
    def _one_length(self) -> RoundConfig:
        if (self.tx_number is None) == (self.tx_duration_s is None):
            raise ValueError(f"round {self.label!r}: give exactly one of tx_number or tx_duration_s, "
                             f"got tx_number={self.tx_number}, tx_duration_s={self.tx_duration_s}")
        return self


class BenchConfig(_Strict):
    name: str = "benchmark"
    description: str = ""
    seed: int = 0
    network: NetworkConfig = NetworkConfig()
    monitor_interval_s: float = Field(0.5, gt=0)
    rounds: list[RoundConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_labels(self) -> BenchConfig:
        labels = [r.label for r in self.rounds]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"round labels must be unique, repeated: {dup}")
        return self


def _format(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "benchmark"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key (value {err.get('input')!r}); check the spelling against the bench reference"
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg} (got {err.get('input')!r})" if err["type"] != "value_error" else f"{where}: {msg}"


def parse_bench(data: dict[str, Any]) -> BenchConfig:
    """Validate a benchmark dict; raise :class:`ConfigError` naming the first bad key.

    Also checks that every workload and rate controller name is registered.
    """
    try:
        cfg = BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    for i, r in enumerate(cfg.rounds):
        if r.workload.name not in workloads:
            raise ConfigError(f"rounds.{i}.workload.name: unknown workload {r.workload.name!r}; "
                              f"expected one of: {', '.join(workloads.names())}")
        if r.rate_control.type not in controllers:
            raise ConfigError(f"rounds.{i}.rate_control.type: unknown rate controller {r.rate_control.type!r}; "
                              f"expected one of: {', '.join(controllers.names())}")
        controllers.get(r.rate_control.type).from_opts(r.rate_control.opts, r)  # checks the options
    return cfg


def load_bench(path: str | Path) -> BenchConfig:
    """Read and validate a benchmark TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"benchmark file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"benchmark file {str(path)!r} is not valid TOML: {exc}") from None
    return parse_bench(data)
