"""Node ids of a large topology as lazy collections: a population of 100,000 devices costs
three integers here, not 100,000 strings, dict entries and list slots.

``NumberedIds("device-", 0, n)`` is the sequence ``device-0`` .. ``device-{n-1}``; membership,
position and indexing are O(1) arithmetic on the id's number. ``GroupedIds`` maps each id to
its group by position (device i -> edge ``i // per_group``), and ``RoleMap`` is the ordered
``node id -> role`` table of a topology with one numbered block in the middle. All three
behave like the list / dicts they replace (iteration order included), so code written for
small topologies keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

__all__ = ["NumberedIds", "GroupedIds", "RoleMap"]


class NumberedIds(Sequence[str]):
    """The ids ``{prefix}{start}`` .. ``{prefix}{stop - 1}`` in number order, stored as three values."""

    __slots__ = ("prefix", "start", "stop")

    def __init__(self, prefix: str, start: int, stop: int) -> None:
        if not 0 <= int(start) <= int(stop):
            raise ValueError(f"NumberedIds needs 0 <= start <= stop, got start={start} stop={stop}")
        self.prefix, self.start, self.stop = prefix, int(start), int(stop)

    def __len__(self) -> int:
        return self.stop - self.start

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            lo, hi, step = i.indices(len(self))
            if step == 1:
                return NumberedIds(self.prefix, self.start + lo, self.start + max(lo, hi))
            return [self[k] for k in range(lo, hi, step)]
        n = len(self)
        k = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= k < n:
            raise IndexError(f"id index {i} out of range for {n} ids")
        return f"{self.prefix}{self.start + k}"

    def __iter__(self) -> Iterator[str]:
        prefix = self.prefix
        return (f"{prefix}{k}" for k in range(self.start, self.stop))

    def number(self, node_id: object) -> int | None:
        """The number in ``node_id`` (``device-42`` -> 42) if it is one of these ids, else None."""
        if type(node_id) is not str or not node_id.startswith(self.prefix):
            return None
        digits = node_id[len(self.prefix):]
        if not digits.isdigit() or not digits.isascii() or (digits[0] == "0" and len(digits) > 1):
            return None  # "device-07" is not "device-7"; "device-٣" is not "device-3"
        k = int(digits)
        return k if self.start <= k < self.stop else None

    def position(self, node_id: object) -> int | None:
        """Where ``node_id`` sits in this sequence (O(1)), or None when it is not one of these ids."""
        k = self.number(node_id)
        return None if k is None else k - self.start

    def __contains__(self, node_id: object) -> bool:
        return self.number(node_id) is not None

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        k = self.position(value)
        if k is None or k < start or (stop is not None and k >= stop):
            raise ValueError(f"{value!r} is not in {self!r}")
        return k

    def count(self, value: Any) -> int:
        return int(value in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NumberedIds):
            return (len(self) == len(other) == 0) or (self.prefix, self.start, self.stop) == (
                other.prefix, other.start, other.stop)
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares equal to lists, which are unhashable

    def __add__(self, other: Sequence[str]) -> list[str]:
        return [*self, *other]

    def __radd__(self, other: Sequence[str]) -> list[str]:
        return [*other, *self]

    def __repr__(self) -> str:
        return f"NumberedIds({self.prefix!r}, {self.start}, {self.stop})"


class GroupedIds(Mapping[str, str]):
    """``id -> group``: the id at position i of ``ids`` belongs to ``groups[i // per_group]``
    (device i is attached to edge ``i // devices_per_edge``)."""

    def __init__(self, ids: NumberedIds, groups: Sequence[str], per_group: int) -> None:
        if per_group < 1 and len(ids):
            raise ValueError(f"GroupedIds needs per_group >= 1, got {per_group}")
        if len(ids) > len(groups) * per_group:
            raise ValueError(f"{len(ids)} ids do not fit {len(groups)} groups of {per_group}")
        self.ids, self.groups, self.per_group = ids, list(groups), int(per_group)

    def __getitem__(self, node_id: str) -> str:
        k = self.ids.position(node_id)
        if k is None:
            raise KeyError(node_id)
        return self.groups[k // self.per_group]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.ids

    def members(self, group: str) -> NumberedIds:
        """The ids of ``group`` (empty when it has none), in order."""
        try:
            g = self.groups.index(group)
        except ValueError:
            return NumberedIds(self.ids.prefix, self.ids.start, self.ids.start)
        return self.ids[g * self.per_group:(g + 1) * self.per_group]  # type: ignore[return-value]


class RoleMap(Mapping[str, str]):
    """An ordered ``node id -> role`` table: ``head`` entries, then every id of ``block`` with
    role ``block_role``, then ``tail`` entries (the order a plain dict built that way has)."""

    def __init__(self, head: Mapping[str, str], block: NumberedIds, block_role: str,
                 tail: Mapping[str, str] | None = None) -> None:
        self.head, self.block, self.block_role, self.tail = dict(head), block, block_role, dict(tail or {})
        clash = [n for n in [*self.head, *self.tail] if n in block]
        if clash or set(self.head) & set(self.tail):
            raise ValueError(f"RoleMap: ids {clash or sorted(set(self.head) & set(self.tail))} appear twice")

    def __getitem__(self, node_id: str) -> str:
        if self.block.number(node_id) is not None:  # the many first: one prefix test and a parse
            return self.block_role
        role = self.head.get(node_id)
        if role is None:
            role = self.tail.get(node_id)
            if role is None:
                raise KeyError(node_id)
        return role

    def get(self, node_id: str, default: Any = None) -> Any:
        try:
            return self[node_id]
        except KeyError:
            return default

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.head or node_id in self.tail or node_id in self.block

    def __iter__(self) -> Iterator[str]:
        yield from self.head
        yield from self.block
        yield from self.tail

    def __len__(self) -> int:
        return len(self.head) + len(self.block) + len(self.tail)
