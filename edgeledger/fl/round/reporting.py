"""Which recorded metrics describe a round's global model, whoever closed the round.

The node that closes a round reports the new global model's scores (``fl.accuracy``,
``fl.loss``, ``fl.backdoor_asr``, ...) and the round's figures (``fl.updates_accepted``,
``fl.round_time_s``, ...). That node is the cloud under ``fl.aggregation = "cloud"``, but the
round's consensus winner (a different edge from round to round, under PoW or PBFT) under
``"consensus_winner"``: readers of a run's metrics must never pick them by the node "cloud".

Only a closer reports the round's scores, so a reader that shows a few of them (accuracy,
loss) selects them by name; :func:`round_closers` names each round's closer for the readers
that want all of its figures for the round, without those a winner reports as a trainer
(:data:`TRAINER_METRICS`).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CLOSE_MARK", "TRAINER_METRICS", "round_closers"]

CLOSE_MARK = "fl.round_time_s"  # reported once per round, with the scores, by the node that closed it
TRAINER_METRICS = frozenset({"fl.train_loss", "fl.colluded_update", "fl.download_rejected"})


def round_closers(rows: Iterable[tuple[str, int, str]]) -> dict[int, str]:
    """Round -> the node that closed it, from ``(node, round, metric)`` rows (the last closer
    reported, should two miners of a PoW fork both have closed it)."""
    return {int(r): node for node, r, metric in rows if metric == CLOSE_MARK}
