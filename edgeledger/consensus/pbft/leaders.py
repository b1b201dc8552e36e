"""Who leads PBFT: the primary of (view, height) and the leader that assembles a NEW-VIEW.

Castro & Liskov fix the primary of view v as ``v mod n``. Two variants are supported, both
deterministic functions of (view, height) that every replica computes alike:
- ``rotate``: the primary changes every height, ``(v + h) mod n`` (FISCO-BCOS: "the sealer is
  selected in turn");
- ``order``: an explicit primary order, the view's leader being ``order[v mod len(order)]``
  (an operator's sealer order, and how the Twins test engine picks the leader of each view).
The NEW-VIEW for view v is assembled by the view's leader without the height term.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeledger.errors import ConfigError

__all__ = ["LeaderRule"]


@dataclass(frozen=True)
class LeaderRule:
    rotate: bool = False
    order: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if any(i < 0 for i in self.order):
            raise ConfigError(f"PBFT leader_order holds validator indices >= 0, got {list(self.order)}")

    def _index(self, view: int) -> int:
        return self.order[view % len(self.order)] if self.order else view

    def primary(self, validators: Sequence[str], view: int, height: int) -> str:
        """The replica that pre-prepares ``height`` in ``view``."""
        i = self._index(view) + (height if self.rotate else 0)
        return validators[i % len(validators)]

    def view_leader(self, validators: Sequence[str], view: int) -> str:
        """The replica that assembles NEW-VIEW for ``view`` (and re-proposes its O set)."""
        return validators[self._index(view) % len(validators)]
