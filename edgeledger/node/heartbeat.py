"""A validator's heartbeat: it ticks the chain clock when no block has committed for a while.

PBFT makes blocks only when transactions arrive, so on an idle chain neither the height nor
the chain time (:mod:`edgeledger.ledger.clock`) moves, and a deadline written as "60 s after
the channel closed" would never pass. Every validator in force commits a ``clock.tick`` every
``interval_s``: on a busy chain the ticks ride in the blocks that are made anyway, on an idle
one the ticks of a heartbeat batch into one block of their own -- the empty block, carrying
the time (CometBFT's ``create_empty_blocks_interval``). The chain time so trails the
validators' clocks by at most one interval (plus the commit latency), busy or idle.

A node whose services sign other transactions with the same key shares one :class:`Signer`
between them, so their nonces never collide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Effect, SetTimer, SubmitTransaction
from edgeledger.errors import ConfigError
from edgeledger.ledger.clock import KIND_CLOCK_TICK, ClockTick
from edgeledger.ledger.transaction import Transaction, make_transaction
from edgeledger.node.service import Service

__all__ = ["Signer", "HeartbeatService", "HEARTBEAT_TIMER"]

HEARTBEAT_TIMER = "clock.heartbeat"


@dataclass
class Signer:
    """Transactions of one identity with increasing nonces (one per node, shared by its services)."""

    key: PrivateKey
    node_id: str
    nonce: int = 0

    def sign(self, kind: str, payload: Any) -> Transaction:
        self.nonce += 1
        return make_transaction(self.key, self.node_id, self.nonce, kind, payload)


class HeartbeatService(Service):
    """Tick the chain clock every ``interval_s`` while ``ticking()`` holds (the node is a validator
    in force) and ``wanted()`` holds (default: always)."""

    timer_prefix = "clock."

    def __init__(self, signer: Signer, interval_s: float, ticking: Callable[[], bool],
                 wanted: Callable[[], bool] = lambda: True) -> None:
        if not interval_s > 0:
            raise ConfigError(f"heartbeat interval must be > 0 seconds, got {interval_s!r}")
        self.signer, self.interval_s, self.ticking, self.wanted = signer, interval_s, ticking, wanted
        self.last_tick_ms = 0
        self.ticks = 0

    def start(self, now: float) -> list[Effect]:
        return [SetTimer(HEARTBEAT_TIMER, 0.0)]  # a first tick at once: the chain has a time from the start

    def on_message(self, sender: str, message: Any, now: float) -> list[Effect]:
        return []

    def on_timer(self, name: str, now: float) -> list[Effect]:
        if name != HEARTBEAT_TIMER:
            return []
        effects: list[Effect] = [SetTimer(HEARTBEAT_TIMER, self.interval_s)]
        if self.ticking() and self.wanted():
            self.last_tick_ms = max(int(now * 1000), self.last_tick_ms + 1)
            self.ticks += 1
            effects.append(SubmitTransaction(self.signer.sign(KIND_CLOCK_TICK, ClockTick(time_ms=self.last_tick_ms))))
        return effects
