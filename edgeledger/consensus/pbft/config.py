"""PBFT replica settings (Castro & Liskov, TOCS 2002: batching, the watermark window, checkpoint
interval K, the view-change timer and its doubling; FISCO-BCOS's rotating leader)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeledger.consensus.pbft.leaders import LeaderRule
from edgeledger.errors import ConfigError

__all__ = ["PbftConfig"]


@dataclass(frozen=True)
class PbftConfig:
    max_block_txs: int = 100
    max_block_bytes: int = 1_000_000
    batch_timeout_s: float = 0.05
    window: int = 64  # high watermark = low watermark (stable checkpoint) + window
    checkpoint_interval: int = 16  # K: a CHECKPOINT every K blocks
    view_change_timeout_s: float = 2.0  # request timer T; doubles per failed view change
    view_change_timeout_max_s: float = 120.0  # cap of the doubling (must exceed the worst message delay)
    rotate_leader: bool = False  # primary changes every height (FISCO-BCOS sealer in turn)
    leader_order: tuple[int, ...] = ()  # explicit primary order (validator indices), one per view, cyclic
    fetch_timeout_s: float = 0.5  # state transfer retry
    fetch_limit: int = 64  # blocks per BLOCKS reply
    max_pending_txs: int = 10_000  # mempool bound: a client request beyond it is refused (the API answers 503)
    keep_blocks: int = 0  # committed blocks held in memory once the node's ledger serves older ones (0: window + K)

    @property
    def leaders(self) -> LeaderRule:
        return LeaderRule(self.rotate_leader, tuple(self.leader_order))

    def __post_init__(self) -> None:
        LeaderRule(self.rotate_leader, tuple(self.leader_order))  # validates the order
        if self.window < 2 * self.checkpoint_interval:
            raise ConfigError(f"PBFT window must be >= 2 * checkpoint_interval = {2 * self.checkpoint_interval}, "
                              f"got window={self.window}")
