"""One scripted Byzantine strategy against honest replicas under faults: ``strategy:<name>:<seed>``.

The seed draws the cluster (n in {4, 4, 4, 7}), which replicas are Byzantine (often a primary
of the first views, where most attacks bite), leader mode, transactions, loss, duplication,
reordering, partitions, crashes (also right after a chosen message) and stabilisation;
``mixed:<seed>`` gives each of up to f Byzantine replicas its own strategy.
"""

from __future__ import annotations

import random

from edgeledger.consensus.testing.random_schedules import crash_triggers
from edgeledger.consensus.testing.scenario import SAFETY_RUN_S, Scenario, family
from edgeledger.consensus.testing.strategies import STRATEGIES

__all__ = ["scripted_scenario", "mixed_scenario"]


def _draw(rng: random.Random, scenario_id: str, pick: list[str] | None) -> Scenario:
    n = rng.choice((4, 4, 4, 7))
    f = (n - 1) // 3
    names = [f"v{i}" for i in range(n)]
    count = f if pick is None else rng.randint(1, f)
    first = rng.choice(("v0", "v1", rng.choice(names)))
    byz_names = sorted({first} | set(rng.sample([m for m in names if m != first], count - 1)))
    strategies = sorted(STRATEGIES)
    byzantine = {b: (rng.choice(strategies) if pick is None else pick[0]) for b in byz_names}
    honest = [m for m in names if m not in byzantine]
    mode = rng.choice(("safety", "liveness"))
    gst = rng.uniform(2.0, 5.0)
    horizon = gst if mode == "liveness" else SAFETY_RUN_S
    partitions = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        start = rng.uniform(0, horizon)
        side = tuple(sorted(rng.sample(names, rng.randint(1, n // 2))))
        partitions.append((start, min(horizon, start + rng.uniform(0.2, 3.0)), side))
    crashes = []
    for victim in rng.sample(honest, rng.choice((0, 0, 1))):
        at = rng.uniform(0, horizon)
        crashes.append((at, min(horizon, at + rng.uniform(0.1, 3.0)), victim))
    n_txs = rng.randint(3, 12)
    submits = sorted((rng.uniform(0, horizon * 0.9), i, rng.choice(names)) for i in range(n_txs))
    rotate = rng.random() < 0.3
    order = () if rotate or rng.random() < 0.5 else tuple(rng.randrange(n) for _ in range(rng.randint(1, 4))) \
        + tuple(range(n))  # an explicit leader order: the same primary in consecutive views
    return Scenario(id=scenario_id, n=n, mode=mode, rotate_leader=rotate, leader_order=order, byzantine=byzantine,
                    n_txs=n_txs, loss=rng.choice((0.0, 0.0, 0.05, 0.2)), duplicate=rng.choice((0.0, 0.1)),
                    jitter_s=rng.choice((0.0, 0.01, 0.1, 0.3)), commit_loss=rng.choice((0.0, 0.0, 0.3, 0.6)),
                    gst_s=gst, partitions=partitions, crashes=crashes, crash_triggers=crash_triggers(rng, honest),
                    submits=submits, checkpoint_interval=rng.choice((2, 4, 16)), net_seed=rng.randrange(2**32))


@family("strategy", "strategy:<name>:<seed>")
def scripted_scenario(args: list[str]) -> Scenario:
    name, seed = args[0], int(args[1])
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {sorted(STRATEGIES)}")
    return _draw(random.Random(f"strategy/{name}/{seed}"), f"strategy:{name}:{seed}", [name])


@family("mixed", "mixed:<seed>")
def mixed_scenario(args: list[str]) -> Scenario:
    seed = int(args[0])
    return _draw(random.Random(f"mixed/{seed}"), f"mixed:{seed}", None)
