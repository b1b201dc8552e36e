"""The FL round's transaction kinds: deterministic chain rules (no floats, no clock).

- ``fl.round_open``: by an aggregator, for round = last round + 1, when no round is open;
- ``fl.update``: by a trainer (device or edge) listed as a participant of the open round, once per round;
- ``fl.round_close``: by an aggregator, for the open round; every contributor it names must
  already have its update recorded on chain.
- ``fl.winner_open`` / ``fl.winner_close`` (consensus-winner aggregation, FBFL): the same rules,
  but the sender must be the proposer of the block that carries them (the PoW miner, the PBFT
  primary) and a validator, so the block's winner aggregates and its block carries the result.

A chain runs one aggregation mode: the first round's open fixes it (state ``fl/mode``), and the
other mode's opens and closes are refused from then on.
"""

from __future__ import annotations

from edgeledger.codec import decode, encode
from edgeledger.fl.round.events import (
    KIND_CLOSE,
    KIND_OPEN,
    KIND_UPDATE,
    KIND_WINNER_CLOSE,
    KIND_WINNER_OPEN,
    RoundClose,
    RoundOpen,
    UpdateRecord,
)
from edgeledger.ledger.blobs import blob_references
from edgeledger.ledger.state import TransactionRejected, TxContext, tx_kinds
from edgeledger.ledger.transaction import Transaction

__all__ = ["AGGREGATOR_ROLES", "TRAINER_ROLES", "open_round", "current_round", "aggregation_mode"]

AGGREGATOR_ROLES = frozenset({"cloud"})
TRAINER_ROLES = frozenset({"device", "edge"})  # who may train a round (fl.trainers)
MODE_KEY = "fl/mode"
MODE_OF = {KIND_OPEN: b"aggregator", KIND_CLOSE: b"aggregator", KIND_WINNER_OPEN: b"winner", KIND_WINNER_CLOSE: b"winner"}


def _int(ctx: TxContext, key: str) -> int:
    raw = ctx.get(key)
    return decode(raw, int) if raw is not None else 0


def current_round(ctx: TxContext) -> int:
    return _int(ctx, "fl/round")


def open_round(ctx: TxContext) -> int:
    """The round that is open now, or 0."""
    return _int(ctx, "fl/open")


def aggregation_mode(ctx: TxContext) -> bytes | None:
    """``b"aggregator"`` or ``b"winner"`` once the chain's first round opened, else None."""
    return ctx.get(MODE_KEY)


def _require_role(ctx: TxContext, tx: Transaction, roles: frozenset[str]) -> None:
    role = ctx.membership.role(tx.sender)
    if role not in roles:
        raise TransactionRejected(
            f"{tx.kind} from {tx.sender!r} (role {role}); expected role in {sorted(roles)}"
        )


def _require_aggregator(ctx: TxContext, tx: Transaction) -> None:
    """The sender may aggregate: the aggregator role, or (winner kinds) this block's proposer and a
    validator; and the kind is of the chain's aggregation mode."""
    mode = aggregation_mode(ctx)
    if mode is not None and mode != MODE_OF[tx.kind]:
        raise TransactionRejected(f"{tx.kind} refused: this chain's rounds are aggregated by the "
                                  f"{'consensus winner' if mode == b'winner' else 'aggregator role'}")
    if tx.kind in (KIND_OPEN, KIND_CLOSE):
        _require_role(ctx, tx, AGGREGATOR_ROLES)
        return
    if tx.sender != ctx.proposer or not ctx.membership.is_validator_at(tx.sender, ctx.height):
        raise TransactionRejected(f"{tx.kind} from {tx.sender!r}: only the proposer of the block that carries it "
                                  f"({ctx.proposer!r}), a validator, aggregates")


@tx_kinds.register(KIND_OPEN)
@tx_kinds.register(KIND_WINNER_OPEN)
def apply_round_open(ctx: TxContext, tx: Transaction) -> None:
    _require_aggregator(ctx, tx)
    body = decode(tx.payload, RoundOpen)
    if open_round(ctx):
        raise TransactionRejected(
            f"round {open_round(ctx)} is still open; close it before opening {body.round}"
        )
    if body.round != current_round(ctx) + 1:
        raise TransactionRejected(f"round_open for round {body.round}, expected {current_round(ctx) + 1}")
    unknown = [p for p in body.participants if ctx.membership.role(p) not in TRAINER_ROLES]
    if unknown or not body.participants:
        raise TransactionRejected(f"participants must be registered devices or edges; got {unknown or 'none'}")
    if aggregation_mode(ctx) is None:
        ctx.put(MODE_KEY, MODE_OF[tx.kind])
    ctx.put("fl/round", encode(body.round))
    ctx.put("fl/open", encode(body.round))
    ctx.put(f"fl/global/{body.round}", body.global_digest)
    for p in body.participants:
        ctx.put(f"fl/participant/{body.round}/{p}", b"\x01")


@tx_kinds.register(KIND_UPDATE)
def apply_update(ctx: TxContext, tx: Transaction) -> None:
    body = decode(tx.payload, UpdateRecord)
    if body.round != open_round(ctx):
        raise TransactionRejected(f"update for round {body.round}, but the open round is {open_round(ctx)}")
    if ctx.get(f"fl/participant/{body.round}/{tx.sender}") is None:
        raise TransactionRejected(f"{tx.sender!r} is not a participant of round {body.round}")
    key = f"fl/update/{body.round}/{tx.sender}"
    if ctx.get(key) is not None:
        raise TransactionRejected(f"{tx.sender!r} already recorded an update for round {body.round}")
    ctx.put(key, body.update_digest)


@tx_kinds.register(KIND_CLOSE)
@tx_kinds.register(KIND_WINNER_CLOSE)
def apply_round_close(ctx: TxContext, tx: Transaction) -> None:
    _require_aggregator(ctx, tx)
    body = decode(tx.payload, RoundClose)
    if body.round != open_round(ctx):
        raise TransactionRejected(
            f"round_close for round {body.round}, but the open round is {open_round(ctx)}"
        )
    missing = [c for c in body.contributors if ctx.get(f"fl/update/{body.round}/{c}") is None]
    if missing:
        raise TransactionRejected(f"contributors without a recorded update in round {body.round}: {missing}")
    ctx.put(f"fl/close/{body.round}", body.global_digest)
    ctx.delete("fl/open")


@blob_references.register(KIND_OPEN)
def _open_blobs(payload: bytes) -> list[bytes]:
    return [decode(payload, RoundOpen).global_digest]


@blob_references.register(KIND_UPDATE)
def _update_blobs(payload: bytes) -> list[bytes]:
    return [decode(payload, UpdateRecord).update_digest]


@blob_references.register(KIND_CLOSE)
def _close_blobs(payload: bytes) -> list[bytes]:
    return [decode(payload, RoundClose).global_digest]
