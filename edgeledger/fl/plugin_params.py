"""Check a scenario's keyword parameters against a plug-in's signature before calling it.

A misspelt or missing parameter then becomes a :class:`ConfigError` naming the plug-in and
the parameters it takes, instead of a bare ``TypeError`` from deep inside a run.
"""

from __future__ import annotations

from typing import Any

from edgeledger.errors import ConfigError
from edgeledger.registry import bind_params

__all__ = ["bind_params", "require_int"]


def require_int(what: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low`` (an integral float such as 2.0 from a scenario file is
    accepted), else :class:`ConfigError` naming ``what``, e.g. ``"krum f"``."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    if not ok or int(value) < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)
