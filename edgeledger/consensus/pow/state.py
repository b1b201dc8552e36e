"""The PoW block tree: every valid block seen, cumulative work, the best chain, orphans.

Fork choice is *most cumulative work* (not most blocks; Nakamoto 2008 §4 as implemented
by Bitcoin): a new tip replaces the best one only with strictly more work, so ties keep
the first-seen tip. A reorganisation is the walk from the old and the new tip back to
their fork point. Finalised heights are a floor: a branch forking below the last
final block is kept but never becomes best (a final block is never reverted).
Blocks whose parent is unknown wait in a bounded orphan buffer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from edgeledger.consensus.pow.events import PowBlock

__all__ = ["TreeNode", "BlockTree", "Reorg"]


@dataclass
class TreeNode:
    hash: bytes
    parent: bytes | None  # None for the genesis node
    height: int
    work: int  # cumulative work up to and including this block
    timestamp_ms: int
    target: int
    block: PowBlock | None = None  # None for the genesis node
    tx_ids: frozenset[bytes] = frozenset()


@dataclass
class Reorg:
    """How the best chain changed: blocks taken off (old branch) and put on, both by height."""

    removed: list[TreeNode] = field(default_factory=list)
    added: list[TreeNode] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.removed)


class BlockTree:
    def __init__(self, genesis_hash: bytes, genesis_timestamp_ms: int, genesis_target: int,
                 max_orphans: int = 256) -> None:
        root = TreeNode(hash=genesis_hash, parent=None, height=0, work=0, timestamp_ms=genesis_timestamp_ms,
                        target=genesis_target)
        self.nodes: dict[bytes, TreeNode] = {genesis_hash: root}
        self.best_chain: list[bytes] = [genesis_hash]  # hash of the best block at each height
        self.best_txs: dict[bytes, int] = {}  # tx id -> height on the best chain
        self.orphans: OrderedDict[bytes, PowBlock] = OrderedDict()  # hash -> block
        self.max_orphans = max_orphans
        self.final_height = 0

    @property
    def tip(self) -> TreeNode:
        return self.nodes[self.best_chain[-1]]

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self.nodes

    def on_best_chain(self, node: TreeNode) -> bool:
        return node.height < len(self.best_chain) and self.best_chain[node.height] == node.hash

    def ancestor(self, node: TreeNode, height: int) -> TreeNode:
        """The ancestor of ``node`` at ``height`` (``height <= node.height``)."""
        while node.height > height:
            if self.on_best_chain(node):
                return self.nodes[self.best_chain[height]]
            assert node.parent is not None
            node = self.nodes[node.parent]
        return node

    def fork_point(self, node: TreeNode) -> TreeNode:
        while not self.on_best_chain(node):
            assert node.parent is not None
            node = self.nodes[node.parent]
        return node

    def txs_on_branch(self, parent: TreeNode) -> tuple[set[bytes], int]:
        """Tx ids on ``parent``'s branch above its fork point with the best chain, and that height."""
        seen: set[bytes] = set()
        node = parent
        while not self.on_best_chain(node):
            seen |= node.tx_ids
            assert node.parent is not None
            node = self.nodes[node.parent]
        return seen, node.height

    def insert(self, node: TreeNode) -> Reorg | None:
        """Add a validated block; return the reorg when it becomes the best tip."""
        self.nodes[node.hash] = node
        if node.work <= self.tip.work:
            return None
        fork = self.fork_point(node)
        if fork.height < self.final_height:
            return None  # would revert a final block
        reorg = Reorg()
        for h in range(len(self.best_chain) - 1, fork.height, -1):
            old = self.nodes[self.best_chain[h]]
            reorg.removed.append(old)
            for tx_id in old.tx_ids:
                self.best_txs.pop(tx_id, None)
        reorg.removed.reverse()
        path: list[TreeNode] = []
        walk = node
        while walk.hash != fork.hash:
            path.append(walk)
            assert walk.parent is not None
            walk = self.nodes[walk.parent]
        path.reverse()
        del self.best_chain[fork.height + 1:]
        for added in path:
            self.best_chain.append(added.hash)
            for tx_id in added.tx_ids:
                self.best_txs[tx_id] = added.height
        reorg.added = path
        return reorg

    def buffer_orphan(self, block_hash: bytes, block: PowBlock) -> None:
        self.orphans[block_hash] = block
        while len(self.orphans) > self.max_orphans:
            self.orphans.popitem(last=False)

    def take_children(self, parent_hash: bytes) -> list[tuple[bytes, PowBlock]]:
        """Remove and return the orphans waiting for ``parent_hash``."""
        ready = [(h, b) for h, b in self.orphans.items() if b.header.prev_hash == parent_hash]
        for h, _ in ready:
            del self.orphans[h]
        return ready
