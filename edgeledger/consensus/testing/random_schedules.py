"""Random fault schedules (VOPR / FoundationDB style): ``random:<size>:<seed>``.

One seed draws the cluster size, leader mode, transactions, loss, duplication, delay,
partitions and heals, crashes and restarts of honest replicas (at random times, or right
after a chosen message: the worst moment), and up to f Byzantine replicas each with a
scripted strategy. ``small`` (CI): n in {4, 5}, at most 10 transactions; ``large``: n up to 7,
at most 24. The draws of the first campaign come first and unchanged, so its seeds name the
same base schedule; new draws (more strategies, crash triggers) follow them.
"""

from __future__ import annotations

import random

from edgeledger.consensus.testing.scenario import SAFETY_RUN_S, Scenario, family
from edgeledger.consensus.testing.strategies import LEGACY_BEHAVIOURS, STRATEGIES

__all__ = ["random_schedule", "crash_triggers"]

TRIGGER_KINDS = ("PrePrepare", "Prepare", "Commit", "ViewChange", "NewView")


def crash_triggers(rng: random.Random, honest: list[str], most: int = 1) -> list[tuple[str, str, int, float]]:
    """Crash an honest replica right after its nth message of one kind (votes in flight, then amnesia
    unless its log is durable); it restarts after a short or long outage."""
    out = []
    for victim in rng.sample(honest, rng.randint(0, min(most, len(honest)))):
        out.append((victim, rng.choice(TRIGGER_KINDS), rng.randint(1, 6), rng.choice((0.05, 0.3, 1.5))))
    return out


@family("random", "random:<small|large>:<seed>")
def random_schedule(args: list[str]) -> Scenario:
    size, seed = (args[0], int(args[1])) if len(args) == 2 else ("small", int(args[0]))
    if size not in ("small", "large"):
        raise ValueError(f"size must be small or large, got {size!r}")
    rng = random.Random(seed)
    n = rng.choice((4, 4, 4, 5, 7) if size == "large" else (4, 4, 5))
    f = (n - 1) // 3
    names = [f"v{i}" for i in range(n)]
    n_byz = rng.randint(0, f)
    byz_names = rng.sample(names, n_byz)
    byzantine = {b: rng.choice(LEGACY_BEHAVIOURS) for b in sorted(byz_names)}
    honest = [m for m in names if m not in byzantine]
    mode = rng.choice(("safety", "liveness"))
    gst = rng.uniform(1.0, 4.0)
    horizon = gst if mode == "liveness" else SAFETY_RUN_S
    partitions = []
    for _ in range(rng.randint(0, 2)):
        start = rng.uniform(0, horizon)
        side = tuple(sorted(rng.sample(names, rng.randint(1, n // 2))))
        partitions.append((start, min(horizon, start + rng.uniform(0.2, 3.0)), side))
    crashes = []
    for victim in rng.sample(honest, rng.randint(0, min(2, len(honest)))):
        at = rng.uniform(0, horizon)
        crashes.append((at, min(horizon, at + rng.uniform(0.1, 3.0)), victim))
    n_txs = rng.randint(3, 24 if size == "large" else 10)
    submits = [(rng.uniform(0, horizon * 0.9), i, rng.choice(names)) for i in range(n_txs)]
    rotate = rng.random() < 0.4
    loss, dup = rng.choice((0.0, 0.02, 0.1, 0.25)), rng.choice((0.0, 0.05, 0.2))
    jitter, ckpt, closs = rng.choice((0.0, 0.01, 0.1, 0.4)), rng.choice((2, 4, 16)), rng.choice((0.0, 0.0, 0.3, 0.6))
    # draws added after the first campaign's
    newer = sorted(STRATEGIES)
    byzantine = {b: (rng.choice(newer) if rng.random() < 0.5 else name) for b, name in byzantine.items()}
    triggers = crash_triggers(rng, honest)
    return Scenario(id=f"random:{size}:{seed}", n=n, mode=mode, rotate_leader=rotate, byzantine=byzantine,
                    n_txs=n_txs, loss=loss, duplicate=dup, jitter_s=jitter, commit_loss=closs, gst_s=gst,
                    partitions=partitions, crashes=crashes, crash_triggers=triggers, submits=sorted(submits),
                    checkpoint_interval=ckpt, net_seed=seed * 7919 + 1)
