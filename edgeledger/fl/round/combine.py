"""What every aggregating role does with a round's uploads: check one, combine them, score the result.

Shared by the cloud's :class:`~edgeledger.fl.round.core.AggregatorCore` and the consensus
winner's :class:`~edgeledger.fl.round.winner.WinnerCore`, so both refuse the same uploads and
compute the same global model from the same updates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from edgeledger.codec import decode
from edgeledger.crypto.hashing import sha256
from edgeledger.effects import Effect, Rejected
from edgeledger.errors import EdgeLedgerError
from edgeledger.fl.aggregators.base import Aggregator
from edgeledger.fl.learner import Learner
from edgeledger.fl.round.events import KIND_UPDATE, UpdateRecord, UpdateUpload
from edgeledger.ledger.identity import Membership

__all__ = ["upload_problem", "combine_updates", "chain_score"]


def upload_problem(msg: UpdateUpload, membership: Membership, round_: int, participants: Collection[str],
                   seen: Collection[str], verify: bool) -> str | None:
    """Why ``msg`` is not a usable update for round ``round_`` (wrong kind, not a participant,
    a second upload, another round, a bad signature or blob digest), or None."""
    tx = msg.tx
    if tx.kind != KIND_UPDATE:
        return f"upload carries a {tx.kind!r} transaction, expected {KIND_UPDATE!r}"
    if tx.sender not in participants:
        return f"{tx.sender!r} is not a participant of round {round_}"
    if tx.sender in seen:
        return f"{tx.sender!r} already uploaded in round {round_}"
    try:
        body = decode(tx.payload, UpdateRecord)
    except EdgeLedgerError as exc:
        return str(exc)
    if body.round != round_:
        return f"update for round {body.round}, collecting round {round_}"
    if verify:
        if not membership.verify(tx.sender, tx.signing_bytes(), tx.signature):
            return f"bad signature on the update of {tx.sender!r}"
        if sha256(msg.update) != body.update_digest:
            return f"update blob of {tx.sender!r} does not match its signed digest"
    return None


def combine_updates(node_id: str, aggregator: Aggregator, global_params: np.ndarray, contributors: list[str],
                    updates: Mapping[str, tuple[np.ndarray, int]], claims: Mapping[str, float]
                    ) -> tuple[np.ndarray, list[Effect]]:
    """The new global model (float32) from the ``contributors``' updates, and the rejections the
    aggregator reported (refuted claims; a failed aggregation keeps ``global_params``)."""
    effects: list[Effect] = []
    if not contributors:
        return global_params, effects
    stacked = np.stack([updates[c][0] for c in contributors])  # (n_clients, n_params)
    weights = np.array([updates[c][1] for c in contributors], dtype=np.float64)  # (n_clients,)
    try:
        extra = ({"claims": np.array([claims.get(c, np.nan) for c in contributors])}
                 if getattr(aggregator, "wants_claims", False) else {})
        if getattr(aggregator, "wants_global", False):  # e.g. norm_bounded clips around it
            extra["global_params"] = global_params
        result = aggregator.aggregate(stacked, weights, **extra).astype(np.float32)
        for row, claimed, actual in getattr(aggregator, "last_rejected", []):
            effects.append(Rejected(contributors[row], "fl.claim", f"claimed loss {claimed:.6f}, re-executed {actual:.6f}"))
        return result, effects
    except EdgeLedgerError as exc:
        return global_params, [Rejected(node_id, "aggregation", str(exc))]


def chain_score(learner: Learner, params: np.ndarray) -> tuple[dict[str, float], int]:
    """The learner's scores of ``params`` and the round's [0, 1] score in basis points for the
    chain: test accuracy, or for the offloading DQN (no accuracy) its gain ratio."""
    scores = learner.evaluate(params)
    accuracy = scores.get("accuracy", scores.get("gain_ratio", 0.0))
    accuracy = accuracy if np.isfinite(accuracy) else 0.0
    return scores, int(round(accuracy * 10000))
