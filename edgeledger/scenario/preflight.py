"""Check every plug-in name and parameter of a scenario before anything is built.

The schema (:mod:`edgeledger.scenario.schema`) checks types and ranges; the names a scenario
gives to registries (data set, model, aggregator, attack kinds) and the keyword parameters it
passes them are only known once the plug-in modules are imported. A typo there used to surface
minutes into a run, without the key; :func:`check_scenario` finds it first and raises one
:class:`~edgeledger.errors.ConfigError` naming the key, the value and the closest valid names
(``difflib``), e.g. ``fl.aggregator: 'krum2' is not a registered aggregator; did you mean 'krum'?``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from typing import Any

from edgeledger.errors import ConfigError, EdgeLedgerError
from edgeledger.registry import import_plugins
from edgeledger.scenario.schema import Scenario

__all__ = ["check_scenario", "closest", "unknown_name"]


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The up to ``n`` valid names nearest to ``word`` (difflib ratio >= 0.5)."""
    return difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.5)


def unknown_name(key: str, value: str, what: str, choices: Iterable[str]) -> ConfigError:
    """``key: 'value' is not a registered <what>; did you mean ...? expected one of ...``."""
    names = sorted(choices)
    near = closest(value, names)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    return ConfigError(f"{key}: {value!r} is not a registered {what}; {hint}expected one of: {', '.join(names)}")


def _check_params(key: str, target: Any, what: str, params: dict[str, Any], injected: Iterable[str] = ()) -> None:
    """Every key of ``params`` must be a keyword of ``target``'s signature (difflib hint otherwise)."""
    signature = inspect.signature(target)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    allowed = [name for name, p in signature.parameters.items()
               if name not in set(injected) and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in params:
        if name not in allowed:
            near = closest(name, allowed)
            hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
            raise ConfigError(f"{key}.{name}: {what} takes no parameter {name!r} (value {params[name]!r}); "
                              f"{hint}expected some of: {', '.join(allowed) or 'none'}")


def _build(key: str, build: Any, name: str, params: dict[str, Any]) -> None:
    """Instantiate once so that the constructor's own value checks run now, with the key named."""
    try:
        build(name, **params)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {name!r} refused its parameters {params}: {exc}") from None


def _check_fl(scenario: Scenario) -> None:
    fl = scenario.fl
    from edgeledger.fl.aggregators import aggregators
    from edgeledger.fl.server_eval import injected_parameters

    if fl.aggregator not in aggregators:
        raise unknown_name("fl.aggregator", fl.aggregator, "aggregator", aggregators.names())
    cls = aggregators.get(fl.aggregator)
    hooks = injected_parameters(fl.aggregator)
    _check_params("fl.aggregator_params", cls, f"aggregator {fl.aggregator!r}", dict(fl.aggregator_params), hooks)
    if fl.executor != "inline" and fl.executor_options:
        from edgeledger.fl.executors import executors

        if fl.executor in executors:  # ray registers only when installed; assembly says how to get it
            _check_params("fl.executor_options", executors.get(fl.executor), f"executor {fl.executor!r}",
                          dict(fl.executor_options), ["model"])
    if fl.task != "classification":
        return
    from edgeledger.fl.datasets import datasets
    from edgeledger.fl.models import models

    if fl.dataset not in datasets:
        raise unknown_name("fl.dataset", fl.dataset, "data set", datasets.names())
    if fl.model not in models:
        raise unknown_name("fl.model", fl.model, "model", models.names())


def _check_attacks(scenario: Scenario) -> None:
    from edgeledger.fl.attacks import attacks, build_attack, build_data_attack, data_attacks
    from edgeledger.scenario.topology import WIRE_ATTACKS

    topo = scenario.topology
    edges = [f"edge-{e}" for e in range(topo.edges)]
    for i, attack in enumerate(scenario.attacks):
        key = f"attacks.{i}"
        kinds = [*attacks.names(), *data_attacks.names(), *WIRE_ATTACKS]
        if attack.kind not in kinds:
            raise unknown_name(f"{key}.kind", attack.kind, "attack", kinds)
        params = dict(attack.params)
        if attack.kind in WIRE_ATTACKS:
            if params:
                raise ConfigError(f"{key}.params: {attack.kind} takes no parameters, got {sorted(params)}")
        else:
            registry, build = (attacks, build_attack) if attack.kind in attacks else (data_attacks, build_data_attack)
            _check_params(f"{key}.params", registry.get(attack.kind), f"attack {attack.kind!r}", params)
            _build(f"{key}.params", build, attack.kind, params)
        if attack.nodes is not None:
            wire = attack.kind in WIRE_ATTACKS
            for node in attack.nodes:
                valid = node in edges if wire else _is_device(node, topo.n_devices)
                if not valid:
                    sample = edges if wire else [f"device-{d}" for d in range(min(topo.n_devices, 1000))]
                    near = closest(node, sample)
                    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
                    last = f"edge-{topo.edges - 1}" if wire else f"device-{topo.n_devices - 1}"
                    first = "edge-0" if wire else "device-0"
                    raise ConfigError(f"{key}.nodes: {node!r} is not {'an edge' if wire else 'a device'} of this "
                                      f"topology; {hint}expected ids {first}..{last}")


def _is_device(node: str, n_devices: int) -> bool:
    number = node.removeprefix("device-")
    return node.startswith("device-") and number.isdigit() and str(int(number)) == number and int(number) < n_devices


def check_scenario(scenario: Scenario) -> Scenario:
    """Raise :class:`ConfigError` for the first unknown plug-in name or parameter in ``scenario``.

    Imports ``plugins`` first (their decorators register names), then checks the data set, model,
    aggregator and its parameters, every attack's kind, parameters (by instantiating it) and node
    ids. Returns ``scenario`` so it can be chained."""
    import_plugins(scenario.plugins)
    protocol = scenario.consensus.protocol
    if protocol not in ("pbft", "pow") and scenario.consensus.params:
        from edgeledger.consensus import consensus_protocols

        _check_params("consensus.params", consensus_protocols.get(protocol), f"consensus protocol {protocol!r}",
                      dict(scenario.consensus.params), ["node_id", "key", "membership", "genesis_hash"])
    if scenario.fl.enabled:
        try:
            _check_fl(scenario)
            _check_attacks(scenario)
        except ConfigError:
            raise
        except EdgeLedgerError as exc:  # a plug-in's own error type: still a bad-input line
            raise ConfigError(str(exc)) from None
    return scenario
