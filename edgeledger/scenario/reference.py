"""The scenario reference, generated from the schema (so it cannot drift from the code).

:func:`scenario_reference` walks :class:`~edgeledger.scenario.schema.Scenario`'s pydantic
fields and writes one Markdown table per TOML table: key, type, default (from a default
scenario, so per-class defaults such as each link class's latency are the real ones) and the
field's description; keys that name a plug-in list the names registered when it runs. The
documentation site calls it at build time (``docs/hooks.py``); ``python -m
edgeledger.scenario.reference`` prints it.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel

from edgeledger.scenario.schema import Scenario

__all__ = ["scenario_reference", "leaf_keys"]


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the pydantic model inside ``annotation``, whether it is a list of them)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, origin is list
    return None, False


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table" if not args else f"table of {_type_name(args[1])}"
    return getattr(annotation, "__name__", str(annotation))


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "unset"
    text = json.dumps(value) if not isinstance(value, float) or value != int(value) or abs(value) >= 1e15 else f"{value:.1f}"
    return f"`{text}`"


def _registered() -> dict[str, list[str]]:
    """The plug-in names registered in this process, by the scenario key that names one."""
    import edgeledger.consensus.pbft  # noqa: F401  (registers pbft)
    import edgeledger.consensus.pow  # noqa: F401  (registers pow)
    from edgeledger.consensus import consensus_protocols
    from edgeledger.crypto.sealing import ciphers
    from edgeledger.fl.aggregators import aggregators
    from edgeledger.fl.attacks import attacks, data_attacks
    from edgeledger.fl.datasets import datasets
    from edgeledger.fl.models import models
    from edgeledger.scenario.topology import WIRE_ATTACKS

    return {"fl.dataset": datasets.names(), "fl.model": models.names(), "fl.aggregator": aggregators.names(),
            "consensus.protocol": consensus_protocols.names(),
            "attacks.kind": sorted([*attacks.names(), *data_attacks.names(), *WIRE_ATTACKS]),
            "security.payload_encryption": ciphers.names(), "security.wire_encryption": ciphers.names()}


def _rows(model: type[BaseModel], instance: Any, prefix: str, registered: dict[str, list[str]],
          sections: dict[str, tuple[str, list[list[str]]]], section: str) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub, is_list = _model_of(field.annotation)
        value = getattr(instance, name, None) if instance is not None else field.get_default(call_default_factory=True)
        if sub is not None:
            title = f"[[{key}]]" if is_list else f"[{key}]"
            doc = " ".join((sub.__doc__ or "").split()) if sub.__doc__ and sub is not model else ""
            sections.setdefault(title, (doc, []))
            _rows(sub, None if is_list else value, f"{key}.", registered, sections, title)
            continue
        meaning = field.description or ""
        names = registered.get(key.replace("attacks.", "attacks.", 1))
        if names:
            meaning += f" (registered now: {', '.join(f'`{n}`' for n in names)})"
        required = field.is_required()
        sections.setdefault(section, ("", []))[1].append(
            [f"`{key}`", _type_name(field.annotation), "required" if required else _default(value), meaning])


def leaf_keys() -> list[str]:
    """Every key a scenario file can set (dotted; ``attacks.kind`` for the ``[[attacks]]`` tables)."""
    sections: dict[str, tuple[str, list[list[str]]]] = {}
    _rows(Scenario, Scenario(), "", {}, sections, "top level")
    return [row[0].strip("`") for _, rows in sections.values() for row in rows]


def scenario_reference() -> str:
    """The scenario reference as Markdown (one table per TOML table)."""
    sections: dict[str, tuple[str, list[list[str]]]] = {"top level": ("", [])}
    _rows(Scenario, Scenario(), "", _registered(), sections, "top level")
    out = ["A scenario is a TOML file; every key has a default, so an empty file is a valid scenario. "
           "`edgeledger demo --write-scenario my.toml` writes a commented one; a results folder's "
           "`scenario.toml` holds every key of its run, resolved. Any key can be set on the command line with "
           "`--set key=value` (TOML values) or in Python with `Scenario.with_overrides({\"key\": value})`. "
           "A typo is refused before anything runs, naming the key, the value and the closest valid names.",
           "", "This page is generated from `edgeledger.scenario.schema` when the site is built "
           "(`edgeledger.scenario.reference`); it cannot drift from the code.", ""]
    for title, (doc, rows) in sections.items():
        if not rows:
            continue
        out += [f"## `{title}`" if title != "top level" else "## Top level", ""]
        if doc:
            out += [doc, ""]
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        out += ["| " + " | ".join(cell.replace("|", "\\|") if i != 1 else cell for i, cell in enumerate(row)) + " |"
                for row in rows]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(scenario_reference())
