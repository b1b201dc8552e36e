"""PoW miner core (FBFL's proof-of-work chain; Nakamoto 2008), sans-IO.

Rules implemented here:
- a block is valid when its header hash (``sha256d`` of the header bytes, see ``events``)
  is at most the target its ``bits`` state, the bits equal the retarget rule's value for
  its parent, its timestamp is not before its parent's nor more than ``max_future_s``
  ahead of the receiver's clock, its Merkle root and transaction signatures check, and
  none of its transactions is already on its branch;
- fork choice is most cumulative work; blocks with an unknown parent wait as orphans and
  the parent is requested from whoever sent the child;
- a block is final (``CommitPowBlock``) once it is ``confirmations`` deep on the best chain
  (the tip counts as 1 confirmation); a final block is never reorganised away;
- mining is ``real`` (hash ``hashes_per_tick`` nonces per timer tick, prefix serialised
  once per template) or ``modelled`` (the time to the next block is exponential with rate
  ``hash_rate / expected hashes``, drawn from the injected generator; blocks carry no real
  work and receivers skip the hash check — simulation only).
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from edgeledger.codec import decode, encode
from edgeledger.consensus.base import CommitBlock, Consensus, consensus_protocols
from edgeledger.consensus.pow.difficulty import (
    bits_from_target, block_work, meets_target, retarget, target_for_zero_bits, target_from_bits,
)
from edgeledger.consensus.pow.events import (
    NONCE_BYTES, POW_MESSAGES, GetPowBlock, PowBlock, PowHeader, PowTransaction, header_prefix,
)
from edgeledger.consensus.pow.state import BlockTree, TreeNode
from edgeledger.crypto.keys import PrivateKey
from edgeledger.effects import Broadcast, Effect, Metric, Rejected, Send, SetTimer
from edgeledger.errors import ChainValidationError, ConfigError, SignatureError
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.transaction import Transaction, verify_transaction
from edgeledger.ledger.validation import validate_body

__all__ = ["PowConfig", "PowMiner", "CommitPowBlock", "MINE_TIMER", "FOUND_TIMER", "ledger_header"]

MINE_TIMER = "pow.mine"  # real mining: hash the next slice of nonces
FOUND_TIMER = "pow.found"  # modelled mining: the exponential clock ran out, a block is found


@dataclass(frozen=True)
class PowConfig:
    mining: str = "modelled"  # "real" | "modelled"
    initial_zero_bits: int = 16  # genesis difficulty: leading zero bits of the target
    limit_zero_bits: int = 1  # the easiest target ever allowed (Bitcoin's powLimit)
    target_block_interval_s: float = 10.0
    retarget_interval: int = 16  # K: blocks per difficulty period
    max_adjust_factor: int = 4
    confirmations: int = 6
    hash_rate: float = 1e5  # hashes/s of this miner (modelled mining)
    hashes_per_tick: int = 2000  # real mining: attempts per timer tick
    tick_s: float = 0.01  # real mining: simulated time one tick takes
    max_block_txs: int = 100
    max_future_s: float = 7200.0
    max_orphans: int = 256

    def __post_init__(self) -> None:
        if self.mining not in ("real", "modelled"):
            raise ConfigError(f"pow mining must be 'real' or 'modelled', got {self.mining!r}")
        if not 1 <= self.limit_zero_bits <= self.initial_zero_bits <= 255:
            raise ConfigError(f"pow needs 1 <= limit_zero_bits <= initial_zero_bits <= 255, got "
                              f"{self.limit_zero_bits} and {self.initial_zero_bits}")
        if self.confirmations < 1 or self.retarget_interval < 1 or self.max_adjust_factor < 1:
            raise ConfigError("pow confirmations, retarget_interval and max_adjust_factor must be >= 1, got "
                              f"{self.confirmations}, {self.retarget_interval}, {self.max_adjust_factor}")
        if self.hash_rate <= 0 or self.hashes_per_tick < 1 or self.tick_s <= 0 or self.target_block_interval_s <= 0:
            raise ConfigError("pow hash_rate, hashes_per_tick, tick_s and target_block_interval_s must be positive")


@dataclass(frozen=True, slots=True)
class CommitPowBlock(CommitBlock):
    """``block`` is final; ``pow_block`` is its proof (the ledger block has no certificate)."""

    pow_block: PowBlock


def ledger_header(pow_header: PowHeader, ledger_prev_hash: bytes) -> BlockHeader:
    """The ledger header of a final PoW block; ledger blocks chain by their own hashes."""
    return BlockHeader(chain_id=pow_header.chain_id, height=pow_header.height, prev_hash=ledger_prev_hash,
                       tx_root=pow_header.tx_root, tx_count=pow_header.tx_count, proposer=pow_header.miner,
                       timestamp_ms=pow_header.timestamp_ms)


@dataclass
class _Template:
    """The block being mined: its prefix's SHA-256 midstate and the next nonce to try."""

    parent: bytes
    header: PowHeader
    transactions: list[Transaction]
    midstate: Any
    target: int
    next_nonce: int = 0


class PowMiner(Consensus):
    """One PoW miner. ``rng`` drives modelled block times; ``check_tx`` is ABCI CheckTx."""

    message_types = POW_MESSAGES
    timer_prefix = "pow."

    def __init__(self, node_id: str, key: PrivateKey | None, membership: Membership, genesis_hash: bytes,
                 config: PowConfig | None = None, check_tx: Callable[[Transaction], str | None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config or PowConfig()
        if self.config.mining == "modelled" and rng is None:
            raise ConfigError("modelled PoW mining needs a seeded rng (random.Random), got None")
        if not membership.is_validator(node_id):
            raise ConfigError(f"miner {node_id!r} is not in the validator (miner) set {membership.validators}")
        self.node_id, self.key, self.membership, self.check_tx, self.rng = node_id, key, membership, check_tx, rng
        self.limit = target_for_zero_bits(self.config.limit_zero_bits)
        self.tree = BlockTree(genesis_hash, membership.genesis.timestamp_ms,
                              target_for_zero_bits(self.config.initial_zero_bits), self.config.max_orphans)
        self.mempool: OrderedDict[bytes, Transaction] = OrderedDict()
        self.ledger_prev_hash = genesis_hash
        self.peers = tuple(v for v in membership.validators if v != node_id)
        self._template: _Template | None = None

    def resume(self, blocks: list[Block], durable: list[bytes] | None = None) -> None:
        """Rebuild the final part of the tree from the node's stored blocks and their seals (restart)."""
        for block in blocks:
            if block.seal is None:
                raise ChainValidationError(f"stored block {block.height} has no PoW seal to resume from")
            pow_block = PowBlock(header=decode(block.seal, PowHeader),
                                 transactions=block.transactions)
            parent = self.tree.nodes[pow_block.header.prev_hash]
            target = target_from_bits(pow_block.header.bits)
            node = TreeNode(hash=pow_block.hash, parent=parent.hash, height=parent.height + 1,
                            work=parent.work + block_work(target), timestamp_ms=pow_block.header.timestamp_ms,
                            target=target, block=pow_block, tx_ids=frozenset(tx.tx_id for tx in block.transactions))
            self.tree.insert(node)
            self.tree.final_height = node.height
            self.ledger_prev_hash = block.hash

    # -- inputs ------------------------------------------------------------------------------
    def start(self, now: float) -> list[Effect]:
        """Begin mining (the driver calls this once)."""
        if self.config.mining == "real":
            return [SetTimer(MINE_TIMER, self.config.tick_s)]
        return [self._schedule_found()]

    def submit(self, tx: Transaction, now: float) -> list[Effect]:
        return self._on_transaction(self.node_id, tx)

    def receive(self, sender: str, message: Any, now: float) -> list[Effect]:
        if isinstance(message, PowBlock):
            return self._on_block(sender, message, now)
        if isinstance(message, PowTransaction):
            return self._on_transaction(sender, message.tx)
        if isinstance(message, GetPowBlock):
            node = self.tree.nodes.get(message.block_hash)
            block = node.block if node is not None else self.tree.orphans.get(message.block_hash)
            return [Send(sender, block)] if block is not None else []
        return [Rejected(sender, type(message).__name__, "not a PoW message")]

    def timer(self, name: str, now: float) -> list[Effect]:
        if name == MINE_TIMER and self.config.mining == "real":
            block = self._mine_slice(now)
            effects = self._on_block(self.node_id, block, now) if block is not None else []
            return effects + [SetTimer(MINE_TIMER, self.config.tick_s)]
        if name == FOUND_TIMER and self.config.mining == "modelled":
            block = self._seal(self._build_template(now), nonce=0)
            effects = self._on_block(self.node_id, block, now)  # a new tip schedules the next find
            if not any(isinstance(e, SetTimer) for e in effects):
                effects.append(self._schedule_found())  # never stop mining
            return effects
        return []

    # -- transactions ------------------------------------------------------------------------
    def _on_transaction(self, sender: str, tx: Transaction) -> list[Effect]:
        tx_id = tx.tx_id
        if tx_id in self.mempool or tx_id in self.tree.best_txs:
            return []
        try:
            verify_transaction(tx, self.membership)
        except SignatureError as exc:
            return [Rejected(sender, "transaction", str(exc))]
        reason = self.check_tx(tx) if self.check_tx else None
        if reason is not None:
            return [Rejected(sender, "transaction", reason)]
        self.mempool[tx_id] = tx
        self._template = None  # include it in the next template
        to = tuple(p for p in self.peers if p != sender)
        return [Broadcast(to, PowTransaction(tx=tx))] if to else []

    # -- mining ------------------------------------------------------------------------------
    def next_target(self, parent: TreeNode) -> int:
        """Target of ``parent``'s child: retarget at heights 1 + k*K, else the parent's."""
        k = self.config.retarget_interval
        height = parent.height + 1
        if height == 1 or (height - 1) % k != 0:
            return parent.target
        first = self.tree.ancestor(parent, height - 1 - k)
        expected_ms = int(round(k * self.config.target_block_interval_s * 1000))
        return retarget(parent.target, parent.timestamp_ms - first.timestamp_ms, expected_ms,
                        self.config.max_adjust_factor, self.limit)

    def _build_template(self, now: float) -> _Template:
        parent = self.tree.tip
        best = self.tree.best_txs
        txs = [tx for tx_id, tx in self.mempool.items() if tx_id not in best][: self.config.max_block_txs]
        txs = self.with_extras(txs, self.prepare_proposal, parent.height + 1, self._unfinal_txs(parent), now,
                               self.config.max_block_txs)
        target = self.next_target(parent)
        header = PowHeader(chain_id=self.membership.chain_id, height=parent.height + 1, prev_hash=parent.hash,
                           tx_root=transactions_root(txs), tx_count=len(txs), miner=self.node_id,
                           timestamp_ms=max(int(round(now * 1000)), parent.timestamp_ms),
                           bits=bits_from_target(target))
        return _Template(parent=parent.hash, header=header, transactions=txs,
                         midstate=hashlib.sha256(header_prefix(header)), target=target)

    def _unfinal_txs(self, parent: TreeNode) -> list[Transaction]:
        """Transactions of the blocks from the last final one (exclusive) up to ``parent``, in order:
        on this branch, but not yet in the node's committed state."""
        out: list[Transaction] = []
        node = parent
        while node.height > self.tree.final_height and node.block is not None and node.parent is not None:
            out[0:0] = node.block.transactions
            node = self.tree.nodes[node.parent]
        return out

    def _mine_slice(self, now: float) -> PowBlock | None:
        """Try the next ``hashes_per_tick`` nonces of the current template (header-only hashing)."""
        if self._template is None or self._template.parent != self.tree.tip.hash:
            self._template = self._build_template(now)
        t = self._template
        midstate, target, sha = t.midstate, t.target, hashlib.sha256
        end = t.next_nonce + self.config.hashes_per_tick
        for nonce in range(t.next_nonce, end):
            inner = midstate.copy()
            inner.update(nonce.to_bytes(NONCE_BYTES, "big"))
            if int.from_bytes(sha(inner.digest()).digest(), "big") <= target:
                self._template = None
                return self._seal(t, nonce)
        t.next_nonce = end
        return None

    @staticmethod
    def _seal(template: _Template, nonce: int) -> PowBlock:
        return PowBlock(header=msgspec.structs.replace(template.header, nonce=nonce), transactions=template.transactions)

    def _schedule_found(self) -> SetTimer:
        assert self.rng is not None
        work = block_work(self.next_target(self.tree.tip))
        return SetTimer(FOUND_TIMER, self.rng.expovariate(self.config.hash_rate / work))

    # -- blocks ------------------------------------------------------------------------------
    def _on_block(self, sender: str, block: PowBlock, now: float) -> list[Effect]:
        block_hash = block.hash
        if block_hash in self.tree or block_hash in self.tree.orphans:
            return []
        reason = self._check_stateless(block, block_hash)
        if reason is not None:
            return [Rejected(sender, "PowBlock", reason)]
        if block.header.prev_hash not in self.tree:
            self.tree.buffer_orphan(block_hash, block)
            return [Send(sender, GetPowBlock(block_hash=block.header.prev_hash))] if sender != self.node_id else []
        effects: list[Effect] = []
        tip_before = self.tree.tip.hash
        pending = [(block_hash, block)]
        while pending:
            h, b = pending.pop()
            parent = self.tree.nodes[b.header.prev_hash]
            reason = self._check_contextual(b, parent, now)
            if reason is not None:
                effects.append(Rejected(sender, "PowBlock", reason))
                continue
            target = target_from_bits(b.header.bits)
            node = TreeNode(hash=h, parent=parent.hash, height=parent.height + 1, work=parent.work + block_work(target),
                            timestamp_ms=b.header.timestamp_ms, target=target, block=b,
                            tx_ids=frozenset(tx.tx_id for tx in b.transactions))
            reorg = self.tree.insert(node)
            if reorg is not None and reorg.depth:
                effects.append(Metric("pow.reorg_depth", float(reorg.depth)))
            if b.header.miner == self.node_id:
                effects.append(Metric("pow.block_mined", float(node.height)))
            to = tuple(p for p in self.peers if p != sender)
            if to:
                effects.append(Broadcast(to, b))
            pending.extend(self.tree.take_children(h))
        if self.tree.tip.hash != tip_before:
            self._template = None
            effects += self._finalise()
            if self.config.mining == "modelled":
                effects.append(self._schedule_found())
        return effects

    def _check_stateless(self, block: PowBlock, block_hash: bytes) -> str | None:
        header = block.header
        if header.chain_id != self.membership.chain_id:
            return f"chain_id {header.chain_id!r}, expected {self.membership.chain_id!r}"
        if not self.membership.is_validator(header.miner):
            return f"block {header.height}: miner {header.miner!r} is not in the miner set"
        if not 0 <= header.nonce < 2 ** (8 * NONCE_BYTES):
            return f"block {header.height}: nonce {header.nonce} out of range [0, 2**64)"
        if len(block.transactions) > self.config.max_block_txs:
            return f"block {header.height}: {len(block.transactions)} transactions, at most {self.config.max_block_txs}"
        try:
            target = target_from_bits(header.bits)
            if self.config.mining == "real" and not meets_target(block_hash, target):
                return f"block {header.height}: hash {block_hash.hex()[:16]} does not meet target {target:#066x}"
            validate_body(block, self.membership)  # type: ignore[arg-type]  # same header fields as Block
        except ChainValidationError as exc:
            return str(exc)
        return None

    def _check_contextual(self, block: PowBlock, parent: TreeNode, now: float) -> str | None:
        header = block.header
        if header.height != parent.height + 1:
            return f"block height {header.height}, expected {parent.height + 1} after its parent"
        expected = self.next_target(parent)
        if target_from_bits(header.bits) != expected:
            return f"block {header.height}: bits {header.bits:#x}, expected {bits_from_target(expected):#x}"
        if header.timestamp_ms < parent.timestamp_ms:
            return f"block {header.height}: timestamp {header.timestamp_ms} before its parent's {parent.timestamp_ms}"
        if header.timestamp_ms > now * 1000 + self.config.max_future_s * 1000:
            return f"block {header.height}: timestamp {header.timestamp_ms} ms is too far in the future"
        branch, fork_height = self.tree.txs_on_branch(parent)
        for tx in block.transactions:
            tx_id = tx.tx_id
            on_chain = self.tree.best_txs.get(tx_id)
            if tx_id in branch or (on_chain is not None and on_chain <= fork_height):
                return f"block {header.height}: transaction {tx_id.hex()[:16]} is already on its branch"
        return None

    def _finalise(self) -> list[Effect]:
        """Emit every best-chain block that is now ``confirmations`` deep, in height order."""
        effects: list[Effect] = []
        tree = self.tree
        last = tree.tip.height - self.config.confirmations + 1
        for height in range(tree.final_height + 1, last + 1):
            node = tree.nodes[tree.best_chain[height]]
            assert node.block is not None
            header = ledger_header(node.block.header, self.ledger_prev_hash)
            block = Block(header=header, transactions=node.block.transactions, seal=encode(node.block.header))
            self.ledger_prev_hash = block.hash
            tree.final_height = height
            for tx_id in node.tx_ids:
                self.mempool.pop(tx_id, None)
            effects.append(CommitPowBlock(block=block, pow_block=node.block))
        return effects


consensus_protocols.register("pow")(PowMiner)
