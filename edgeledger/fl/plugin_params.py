"""Check a scenario's keyword parameters against a plug-in's signature before calling it.

A misspelt or missing parameter then becomes a :class:`ConfigError` naming the plug-in and
the parameters it takes, instead of a bare ``TypeError`` from deep inside a run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from edgeledger.errors import ConfigError

__all__ = ["bind_params", "require_int"]


def bind_params(
    target: Callable[..., Any], what: str, params: Mapping[str, Any], *args: Any, **fixed: Any
) -> None:
    """Raise :class:`ConfigError` unless ``target(*args, **fixed, **params)`` fits its signature.

    ``params`` are the user's (from a scenario); ``args``/``fixed`` are supplied by the caller.
    ``what`` names the plug-in in the message, e.g. ``"aggregator 'krum'"``.
    """
    signature = inspect.signature(target)
    try:
        signature.bind(*args, **fixed, **params)
    except TypeError as exc:
        supplied = set(list(signature.parameters)[: len(args)]) | set(fixed)
        allowed = [p for p in signature.parameters if p not in supplied]
        raise ConfigError(
            f"{what} got parameters {sorted(params)}: {exc}; expected some of {allowed}"
        ) from None


def require_int(what: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low`` (an integral float such as 2.0 from a scenario file is
    accepted), else :class:`ConfigError` naming ``what``, e.g. ``"krum f"``."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    if not ok or int(value) < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)
