"""A pydantic validation error as one line a person can act on (docs/style.md rule 5).

Each error names its key, the value given and what is expected; an unknown key or a value
outside a fixed set also names the closest valid ones (``difflib``), e.g. ``fl.roundz: unknown
key (value 3); did you mean fl.rounds?``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import ValidationError

__all__ = ["describe_validation_error", "close_keys"]


def close_keys(root: Any, loc: tuple[Any, ...]) -> list[str]:
    """The valid keys nearest to the unknown last part of ``loc`` (its siblings in the schema)."""
    model: Any = root
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            if isinstance(part, int):
                continue  # an index into a list of tables, e.g. attacks.0
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if hasattr(a, "model_fields")), None)
        if model is None:
            return []
    siblings = list(getattr(model, "model_fields", {}))
    prefix = ".".join(str(p) for p in loc[:-1])
    return [f"{prefix}.{k}" if prefix else k for k in difflib.get_close_matches(str(loc[-1]), siblings, n=2, cutoff=0.6)]


def describe_validation_error(exc: ValidationError, root: Any) -> str:
    """``key: what is wrong`` for every error of ``exc`` (a validation of the pydantic model ``root``)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "scenario"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            near = close_keys(root, err["loc"])
            hint = f"did you mean {' or '.join(near)}? " if near else ""
            parts.append(f"{loc}: unknown key (value {err['input']!r}); {hint}check the spelling against the "
                         "scenario reference")
        elif err["type"] == "literal_error":
            expected = [str(v) for v in (err.get("ctx") or {}).get("expected", "").replace("'", "").replace(
                " or ", ", ").split(", ") if v]
            near = difflib.get_close_matches(str(err["input"]), expected, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            parts.append(f"{loc}: got {err['input']!r}; expected {msg[0].lower() + msg[1:]}{hint}")
        elif err["type"] in ("value_error", "assertion_error"):
            keyed = re.match(r"[\w.\-]+: ", msg)  # the message names its key below ``loc`` (or from the top)
            parts.append(msg if keyed and not err["loc"] else f"{loc}.{msg}" if keyed else f"{loc}: {msg}")
        else:
            parts.append(f"{loc}: got {err['input']!r}; expected {msg[0].lower() + msg[1:]}")
    return "; ".join(parts)
