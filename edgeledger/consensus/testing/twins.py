"""Twins (Bano et al., "Twins: BFT Systems Made Robust", OPODIS 2021, arXiv 2004.10617).

A Byzantine replica is emulated by two honest instances sharing one identity and key
(``v0`` and ``v0'``), placed in different partitions, so equivocation, double votes,
conflicting certificates and amnesia arise from honest code. A scenario fixes, for a bounded
number of rounds R (here: PBFT views 0..R-1), the leader of each view and a partition of all
instances into groups; a message of view v only crosses between instances in one group of
round v's partition (view-less messages take the sender's current view). From view R on,
the network is whole; a liveness scenario also heals every fault at stabilisation.

As in the paper, scenarios are generated systematically: which f replicas are twinned, then
for each round a (leader, partition) pair from all leaders and all partitions of the n + f
instances into at most two groups, enumerated as one mixed-radix index, so
``twins:<n>:<R>:<index>`` names each scenario and ``0 .. size-1`` enumerates the whole space
(``twins:4:2:*`` is 16,384 scenarios). ``twins-random:<n>:<seed>`` samples beyond that: up to
five rounds, up to three groups, with loss, duplication, reordering and crashes.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache
from typing import Any

from edgeledger.consensus.testing.random_schedules import crash_triggers
from edgeledger.consensus.testing.scenario import Scenario, family, twin_name

__all__ = ["set_partitions", "twins_space_size", "twins_scenario", "twins_random"]


def set_partitions(items: tuple[str, ...], max_groups: int) -> list[tuple[tuple[str, ...], ...]]:
    """Every partition of ``items`` into at most ``max_groups`` non-empty groups (restricted growth
    strings, so each partition appears once, in a fixed order)."""
    out: list[tuple[tuple[str, ...], ...]] = []

    def grow(i: int, labels: list[int], used: int) -> None:
        if i == len(items):
            groups = [tuple(x for x, g in zip(items, labels) if g == k) for k in range(used)]
            out.append(tuple(groups))
            return
        for g in range(min(used + 1, max_groups)):
            labels.append(g)
            grow(i + 1, labels, max(used, g + 1))
            labels.pop()

    grow(0, [], 0)
    return out


def _names(n: int) -> list[str]:
    return [f"v{i}" for i in range(n)]


@lru_cache(maxsize=64)
def _space(n: int, max_groups: int) -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], list[Any]]]:
    f = (n - 1) // 3
    twin_sets = list(itertools.combinations(_names(n), f))
    partitions = {}
    for twins in twin_sets:
        instances = tuple(_names(n) + [twin_name(t) for t in twins])
        partitions[twins] = set_partitions(instances, max_groups)
    return twin_sets, partitions


def twins_space_size(n: int, rounds: int, max_groups: int = 2) -> int:
    """How many systematic scenarios ``twins:<n>:<rounds>:<index>`` has."""
    twin_sets, partitions = _space(n, max_groups)
    per_round = n * len(partitions[twin_sets[0]])
    size: int = len(twin_sets) * per_round ** rounds
    return size


def _extras(rng: random.Random, scenario_id: str, n: int, twins: tuple[str, ...], leaders: list[int],
            rounds: tuple[Any, ...], noisy: bool) -> Scenario:
    instances = _names(n) + [twin_name(t) for t in twins]
    mode = rng.choice(("safety", "liveness"))
    n_txs = rng.randint(3, 8)
    submits = sorted((rng.uniform(0, 2.5), i, rng.choice(instances)) for i in range(n_txs))
    honest = [v for v in _names(n) if v not in twins]
    order = tuple(leaders) + tuple(range(n))  # views 0..R-1: the scenario's leaders, then the default order
    return Scenario(id=scenario_id, n=n, mode=mode, leader_order=order, twins=twins, round_partitions=rounds,
                    n_txs=n_txs, submits=submits, gst_s=2.0 + 1.5 * len(rounds),
                    checkpoint_interval=rng.choice((2, 4)), jitter_s=rng.choice((0.0, 0.01, 0.1) if noisy else (0.0, 0.01)),
                    loss=rng.choice((0.0, 0.05, 0.2)) if noisy else 0.0,
                    duplicate=rng.choice((0.0, 0.1)) if noisy else 0.0,
                    crash_triggers=crash_triggers(rng, honest) if noisy else [],
                    net_seed=rng.randrange(2**32))


@family("twins", "twins:<n>:<rounds>:<index>")
def twins_scenario(args: list[str]) -> Scenario:
    n, rounds, index = int(args[0]), int(args[1]), int(args[2])
    size = twins_space_size(n, rounds)
    if not 0 <= index < size:
        raise ValueError(f"index must be in [0, {size}) for n={n} with {rounds} rounds, got {index}")
    twin_sets, partitions = _space(n, 2)
    twins = twin_sets[index % len(twin_sets)]
    rest = index // len(twin_sets)
    parts = partitions[twins]
    leaders, per_round = [], []
    for _ in range(rounds):
        combo, rest = rest % (n * len(parts)), rest // (n * len(parts))
        leaders.append(combo % n)
        per_round.append(parts[combo // n])
    rng = random.Random(f"twins/{n}/{rounds}/{index}")
    return _extras(rng, f"twins:{n}:{rounds}:{index}", n, twins, leaders, tuple(per_round), noisy=False)


@family("twins-random", "twins-random:<n>:<seed>")
def twins_random(args: list[str]) -> Scenario:
    n, seed = int(args[0]), int(args[1])
    rng = random.Random(f"twins-random/{n}/{seed}")
    f = (n - 1) // 3
    twins = tuple(sorted(rng.sample(_names(n), f)))
    instances = tuple(_names(n) + [twin_name(t) for t in twins])
    rounds = rng.randint(1, 5)
    leaders, per_round = [], []
    for _ in range(rounds):
        leaders.append(rng.randrange(n))
        labels = [rng.randrange(rng.choice((1, 2, 2, 3))) for _ in instances]
        groups = tuple(tuple(x for x, g in zip(instances, labels) if g == k) for k in sorted(set(labels)))
        per_round.append(groups)
    return _extras(rng, f"twins-random:{n}:{seed}", n, twins, leaders, tuple(per_round), noisy=True)
