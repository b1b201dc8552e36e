"""MkDocs hook: the scenario reference page is generated from the pydantic schema at build time.

The page ``reference/scenario.md`` holds a marker comment; this hook replaces it with
:func:`edgeledger.scenario.reference.scenario_reference`, so the published reference is
always the one the code validates against.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- scenario-reference: generated from edgeledger.scenario.schema by docs/hooks.py -->"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    from edgeledger.scenario.reference import scenario_reference

    return markdown.replace(MARKER, scenario_reference())
