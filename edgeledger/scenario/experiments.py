"""Experiments: a base scenario, a grid of settings, one command, results with plots.

An experiment file is TOML with an ``[experiment]`` table (files without one, such as the
shared ``base.toml``, are scenarios, not experiments)::

    [experiment]
    name = "fbfl-clients"                    # default: <folder>-<file stem>
    description = "accuracy vs rounds for 5/10/20 clients"
    base = "base.toml"                       # scenario file, relative to this file
    set = ["fl.rounds=20"]                   # overrides for every setting
    quick = ['fl.dataset="digits"']          # applied before each setting's own overrides
    metric = "accuracy"                      # the headline metric of the table
    target_accuracy = 0.97                   # optional: report rounds-to-target
    repeats = 5                              # optional: runs per setting (seeds derived from the
    quick_repeats = 1                        #   base seed; mean ± std), and in --quick runs

    [[experiment.axes]]                      # settings = cartesian product of the axes
    name = "clients"
    values = [{ label = "5", set = ["topology.edges=5"], quick = [] }]

A setting's scenario is ``base <- set <- quick (if --quick) <- setting.set <- setting.quick``,
so quick mode shrinks data, rounds and model without erasing what the setting varies. A
setting whose aggregator or attack is not registered (yet) is *pending*: listed, skipped.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeledger.errors import ConfigError
from edgeledger.scenario.schema import Scenario, apply_overrides, parse_scenario

__all__ = ["Setting", "Experiment", "discover", "find_experiment", "experiments_root", "load_experiment",
           "EXPERIMENTS_ENV_VAR"]

EXPERIMENTS_ENV_VAR = "EDGELEDGER_EXPERIMENTS"


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a label and the overrides that make it."""

    label: str
    overrides: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9.]+", "-", self.label).strip("-").lower() or "default"


@dataclass(frozen=True)
class Experiment:
    """A base scenario plus a grid of settings; see the module docstring for the file format."""

    name: str
    description: str
    path: Path
    base: Path
    axes: tuple[tuple[Setting, ...], ...]
    common: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    metric: str = "accuracy"
    target_accuracy: float | None = None
    axis_names: tuple[str, ...] = field(default=())
    repeats: int = 1  # runs per setting, seeds derived from the base seed (edgeledger.scenario.repeats)
    quick_repeats: int = 1  # runs per setting in --quick (CI) runs

    def repeats_for(self, quick: bool) -> int:
        """How many runs stand behind each setting's figures at this size."""
        return self.quick_repeats if quick else self.repeats

    def settings(self) -> list[Setting]:
        """The cartesian product of the axes, first axis slowest; labels joined by ' / '."""
        out = []
        for combo in itertools.product(*self.axes):
            out.append(Setting(" / ".join(s.label for s in combo),
                               tuple(o for s in combo for o in s.overrides),
                               tuple(o for s in combo for o in s.quick)))
        return out

    def scenario(self, setting: Setting, quick: bool = False, extra: tuple[str, ...] = ()) -> Scenario:
        """The validated scenario of ``setting`` (named ``<experiment>-<setting slug>``); ``extra``
        overrides (``key=value``) go last, e.g. an executor that suits this machine."""
        data = _read_toml(self.base)
        overrides = [*self.common, *(self.quick if quick else ()), *setting.overrides,
                     *(setting.quick if quick else ()), *extra]
        data = apply_overrides(copy.deepcopy(data), overrides)
        data["name"] = f"{self.name}-{setting.slug}"
        fl = data.setdefault("fl", {})
        if "data_root" not in fl and not os.environ.get("EDGELEDGER_DATA") and (shared := self.shared_data()):
            fl["data_root"] = str(shared)
        return parse_scenario(data)

    def shared_data(self) -> Path | None:
        """``../shared/datasets`` beside the checkout holding this experiment, when it exists."""
        from edgeledger.fl.datasets import shared_datasets_beside

        return shared_datasets_beside(self.path)

    def pending_reason(self, scenario: Scenario) -> str | None:
        """Why ``scenario`` cannot run yet (an unregistered aggregator or attack), or None."""
        from edgeledger.fl.aggregators import aggregators
        from edgeledger.fl.attacks import attacks, data_attacks

        if scenario.fl.aggregator not in aggregators:
            return f"aggregator {scenario.fl.aggregator!r} is not registered yet"
        from edgeledger.scenario.topology import WIRE_ATTACKS

        for a in scenario.attacks:
            if a.kind not in attacks and a.kind not in data_attacks and a.kind not in WIRE_ATTACKS:
                return f"attack {a.kind!r} is not registered yet"
        return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {exc}") from None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of KEY=VALUE strings, got {value!r}")
    return tuple(value)


def load_experiment(path: str | Path) -> Experiment | None:
    """The experiment of ``path``, or None when the file has no ``[experiment]`` table."""
    path = Path(path)
    spec = _read_toml(path).get("experiment")
    if spec is None:
        return None
    where = f"{path}: experiment"
    known = {"name", "description", "base", "set", "quick", "metric", "target_accuracy", "axes", "repeats",
             "quick_repeats"}
    if unknown := sorted(set(spec) - known):
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    axes, names = [], []
    for i, axis in enumerate(spec.get("axes", [])):
        values = axis.get("values") or []
        if not values:
            raise ConfigError(f"{where}.axes[{i}]: needs at least one value {{ label = ..., set = [...] }}")
        axes.append(tuple(Setting(str(v["label"]), _strings(v.get("set"), f"{where}.axes[{i}].set"),
                                  _strings(v.get("quick"), f"{where}.axes[{i}].quick")) for v in values))
        names.append(str(axis.get("name", f"axis{i}")))
    return Experiment(
        name=str(spec.get("name", f"{path.parent.name}-{path.stem}")),
        description=str(spec.get("description", "")),
        path=path,
        base=(path.parent / str(spec.get("base", "base.toml"))).resolve(),
        axes=tuple(axes) or ((Setting("default"),),),
        common=_strings(spec.get("set"), f"{where}.set"),
        quick=_strings(spec.get("quick"), f"{where}.quick"),
        metric=str(spec.get("metric", "accuracy")),
        target_accuracy=float(spec["target_accuracy"]) if "target_accuracy" in spec else None,
        axis_names=tuple(names) or ("setting",),
        repeats=_repeats(spec.get("repeats", 1), f"{where}.repeats"),
        quick_repeats=_repeats(spec.get("quick_repeats", 1), f"{where}.quick_repeats"),
    )


def _repeats(value: Any, where: str) -> int:
    from edgeledger.scenario.repeats import MAX_REPEATS

    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPEATS:
        raise ConfigError(f"{where}: got {value!r}; expected an integer in [1, {MAX_REPEATS}] (runs per setting)")
    return value


def experiments_root(explicit: str | Path | None = None) -> Path:
    """Where experiment files live: ``explicit``, $EDGELEDGER_EXPERIMENTS, ./experiments or the
    source checkout's ``experiments/`` (first that exists)."""
    candidates = [explicit, os.environ.get(EXPERIMENTS_ENV_VAR), Path.cwd() / "experiments",
                  Path(__file__).resolve().parents[2] / "experiments"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    raise ConfigError("no experiments folder found: pass --dir, set $EDGELEDGER_EXPERIMENTS, or run from a "
                      "checkout that has experiments/")


def discover(root: str | Path | None = None) -> list[Experiment]:
    """Every experiment under ``root`` (``<root>/<set>/<name>.toml``), sorted by name."""
    base = experiments_root(root)
    found = [e for p in sorted(base.glob("*/*.toml")) if (e := load_experiment(p)) is not None]
    return sorted(found, key=lambda e: e.name)


def find_experiment(name: str, root: str | Path | None = None) -> Experiment:
    """The experiment called ``name``; the error lists the known names."""
    known = discover(root)
    for e in known:
        if e.name == name:
            return e
    raise ConfigError(f"unknown experiment {name!r}; known: {[e.name for e in known]} "
                      "(see edgeledger experiment list)")
