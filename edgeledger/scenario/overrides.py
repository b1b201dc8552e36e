"""``--set key.path=value`` overrides of a scenario's raw TOML table (values parsed as TOML)."""

from __future__ import annotations

import tomllib
from typing import Any

from edgeledger.errors import ConfigError

__all__ = ["apply_overrides"]


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as TOML, else taken as strings)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. fl.rounds=5")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a table")
            node = child
        text = value.strip()
        parsed = _parse_value(text)
        if isinstance(parsed, str) and text[:1] in "[{" and text:
            raise ConfigError(f"--set {item!r}: {text!r} is not a TOML value; strings inside need double quotes, so "
                              f"quote the whole option for the shell, e.g. --set '{key.strip()}=[{{kind=\"sign_flip\", "
                              "fraction=0.1}]'" if parts[-1] == "attacks" else
                              f"--set {item!r}: {text!r} is not a TOML value; strings inside need double quotes, "
                              f"so quote the whole option for the shell, e.g. --set '{key.strip()}=[\"a\", \"b\"]'")
        node[parts[-1]] = parsed
    return data
