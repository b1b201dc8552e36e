"""The chain's clock: a Byzantine-tolerant time that contracts can compare deadlines against.

Why not the block timestamp: the primary alone writes it and no replica checks it, so one
faulty primary could jump the time forward and end a payment channel's challenge window
(or an election window) before the other side had its say. Instead every validator posts
its own signed reading of its clock, a ``clock.tick`` transaction, and the chain time is

    the (f+1)-th largest of the latest ticks of the validators in force

(f = floor((n-1)/3)): at least one honest validator reported that time or later, so f
faulty validators cannot move the chain time past every honest clock, and the honest
2f+1 alone keep it moving. The chain time never decreases. This is CometBFT's "BFT time"
(the weighted median of the precommit timestamps) carried by transactions, because our
PBFT does not timestamp its votes.

PBFT makes blocks only when there are transactions, so a chain that idles has no time
either: validators run :class:`~edgeledger.node.heartbeat.HeartbeatService`, which ticks
when no block has committed for ``heartbeat_s`` (CometBFT's ``create_empty_blocks_interval``;
FISCO-BCOS seals empty blocks only to rotate its leader). A tick block is the empty block.
"""

from __future__ import annotations

from edgeledger.codec import Record, decode, encode
from edgeledger.ledger.state import TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction

__all__ = ["ClockTick", "KIND_CLOCK_TICK", "CLOCK_KEY", "chain_time_ms", "last_tick_ms", "bft_time"]

KIND_CLOCK_TICK = "clock.tick"
CLOCK_KEY = "clock/time_ms"
_TICK_PREFIX = "clock/tick/"


class ClockTick(Record):
    """A validator's reading of its own clock, in integer milliseconds (no floats on chain)."""

    time_ms: int


def chain_time_ms(view: object) -> int:
    """The chain time in milliseconds as of ``view`` (0 until f+1 validators have ticked)."""
    raw = view.get(CLOCK_KEY)  # type: ignore[attr-defined]
    return 0 if raw is None else decode(raw, int)


def last_tick_ms(view: object, validator: str) -> int:
    """``validator``'s latest committed tick (0: none)."""
    raw = view.get(_TICK_PREFIX + validator)  # type: ignore[attr-defined]
    return 0 if raw is None else decode(raw, int)


def bft_time(ticks: list[int], n: int) -> int:
    """The (f+1)-th largest of ``ticks`` (missing validators count as 0), f = (n-1)//3."""
    f = (n - 1) // 3
    ranked = sorted(ticks + [0] * max(0, n - len(ticks)), reverse=True)
    return ranked[f] if ranked else 0


@tx_kinds.register(KIND_CLOCK_TICK)
def apply_tick(ctx: TxContext, tx: Transaction) -> None:
    """A validator in force at this height moves its own reading forward; the chain time follows."""
    tick = decode(tx.payload, ClockTick)
    validators = ctx.membership.validators_at(ctx.height)
    if tx.sender not in validators:
        raise TransactionRejected(f"clock.tick from {tx.sender!r}: only the validators in force at height "
                                  f"{ctx.height} tick the chain clock ({list(validators)})")
    previous = last_tick_ms(ctx, tx.sender)
    if not isinstance(tick.time_ms, int) or tick.time_ms <= previous:
        raise TransactionRejected(f"clock.tick time_ms={tick.time_ms!r} of {tx.sender!r} must exceed its last tick "
                                  f"{previous}")
    ctx.put(_TICK_PREFIX + tx.sender, encode(tick.time_ms))
    now = bft_time([last_tick_ms(ctx, v) for v in validators], len(validators))
    ctx.put(CLOCK_KEY, encode(max(now, chain_time_ms(ctx))))
