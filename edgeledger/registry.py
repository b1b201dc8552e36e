"""Named plug-in registries (docs/design.md rule 4).

Each plug-in kind (aggregator, attack, consensus, model, data set, policy, ...) owns one
:class:`Registry`; a scenario names a plug-in by string and a user adds their own with the
registry's decorator::

    @aggregators.register("my_mean")
    class MyMean(Aggregator): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from edgeledger.errors import ConfigError, RegistryError

__all__ = ["Registry", "bind_params", "import_plugins"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> plug-in table for one kind of plug-in."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a duplicate name is an error."""

        def decorate(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Return the plug-in called ``name`` or raise naming the known choices."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def build(self, name: str, **params: Any) -> Any:
        """Instantiate the plug-in called ``name`` with keyword ``params`` from a scenario; parameters
        that do not fit its signature are a :class:`ConfigError` listing the ones it takes."""
        cls = self.get(name)
        bind_params(cls, f"{self.kind} {name!r}", params)  # type: ignore[arg-type]
        return cls(**params)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def import_plugins(modules: list[str]) -> None:
    """Import the modules a scenario names in ``plugins``: their decorators register contracts,
    transaction kinds, aggregators, ... in this process (every node process does the same)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"plugins: cannot import {name!r} ({exc}); expected an importable module") from None


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
