"""Label flipping: relabel local training samples by a fixed class mapping.

Tolpegin, Truex, Gursoy and Liu, "Data Poisoning Attacks Against Federated Learning
Systems", ESORICS 2020, section 3: malicious participants train on data whose labels of a
source class are replaced by a target class. The default mapping flips every class,
l -> C - 1 - l (9 - l on the ten digit classes), as in FBFL's label-flipping experiment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgeledger.errors import ConfigError
from edgeledger.fl.attacks.base import DataAttack, data_attacks
from edgeledger.fl.datasets import Dataset

__all__ = ["LabelFlip", "parse_label_mapping"]


def parse_label_mapping(mapping: Mapping[int, int] | str) -> dict[int, int]:
    """``{src: dst}`` from a mapping or a scenario string ``"src:dst,src:dst"`` (e.g. ``"1:7,7:1"``)."""
    if isinstance(mapping, str):
        pairs: dict[int, int] = {}
        for item in filter(None, (p.strip() for p in mapping.split(","))):
            src, sep, dst = item.partition(":")
            try:
                if not sep:
                    raise ValueError(item)
                pairs[int(src)] = int(dst)
            except ValueError:
                raise ConfigError(f"label_flip mapping entry {item!r} is not 'src:dst' with integer labels, "
                                  f"e.g. mapping = \"1:7,7:1\"") from None
        return pairs
    return {int(k): int(v) for k, v in mapping.items()}


@data_attacks.register("label_flip")
class LabelFlip(DataAttack):
    """Relabel every sample by ``mapping`` (unmapped labels kept); default ``l -> C - 1 - l``."""

    name = "label_flip"

    def __init__(self, mapping: Mapping[int, int] | str | None = None) -> None:
        self.mapping = None if mapping is None else parse_label_mapping(mapping)

    def table(self, n_classes: int) -> np.ndarray:
        """(n_classes,) int64 lookup: ``table[l]`` is the poisoned label of class ``l``."""
        if self.mapping is None:
            return np.arange(n_classes - 1, -1, -1, dtype=np.int64)
        bad = {k: v for k, v in self.mapping.items() if not (0 <= k < n_classes and 0 <= v < n_classes)}
        if bad:
            raise ConfigError(f"label_flip mapping {bad} names labels outside [0, {n_classes})")
        table = np.arange(n_classes, dtype=np.int64)
        for src, dst in self.mapping.items():
            table[src] = dst
        return table

    def poison_data(self, data: Dataset, rng: np.random.Generator) -> Dataset:
        y = self.table(data.n_classes)[data.y]  # (n,)
        return Dataset(x=data.x.copy(), y=y, n_classes=data.n_classes, name=data.name)
