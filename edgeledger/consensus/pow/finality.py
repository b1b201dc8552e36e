"""Checking a final PoW block by its seal: the proof every observer, light client and restarted
miner re-runs (the ledger block has no certificate; Nakamoto 2008 §4, §8).

A final ledger block carries ``seal`` = the encoded :class:`PowHeader` it was mined as. It is
valid when (1) the ledger header is exactly ``ledger_header(seal, prev ledger hash)``, (2) the
seal links to its parent's seal (``seal.prev_hash`` = PoW hash of the parent's seal, the
genesis hash at height 1), (3) its target is exactly what the retarget rule gives its parent
(:func:`~edgeledger.consensus.pow.difficulty.retarget`, Bitcoin's ``GetNextWorkRequired``), and
never easier than the protocol's limit, (4) its timestamp is not before its parent's, and (5)
with real mining, its PoW hash meets that target. Modelled mining (simulation only) carries no
work, so (5) is skipped there. Every verifier re-runs the retarget rule itself, so a dishonest
miner's easy blocks fail at observers and light clients too, not only at honest miners: the
rule needs the timestamp of the block that started the period, which the verifier keeps from
the blocks it accepted (:meth:`WorkFinality.observe`). A lone header with no parent at hand (a
device checking one announcement) can only be checked against the limit.
"""

from __future__ import annotations

from edgeledger.codec import decode
from edgeledger.consensus.pow.core import PowConfig, ledger_header
from edgeledger.consensus.pow.difficulty import (bits_from_target, meets_target, retarget, target_for_zero_bits,
                                                 target_from_bits)
from edgeledger.consensus.pow.events import PowHeader, pow_hash
from edgeledger.errors import ChainValidationError, DecodeError
from edgeledger.ledger.block import Block, BlockHeader, SealedHeader
from edgeledger.ledger.identity import Membership
from edgeledger.ledger.validation import Finality

__all__ = ["WorkFinality", "decode_seal"]


def decode_seal(height: int, seal: bytes | None) -> PowHeader:
    """The PoW header inside ``seal``, or a :class:`ChainValidationError` naming the height."""
    if seal is None:
        raise ChainValidationError(f"block {height}: no PoW seal")
    try:
        return decode(seal, PowHeader)
    except DecodeError as exc:
        raise ChainValidationError(f"block {height}: PoW seal does not decode: {exc}") from None


class WorkFinality(Finality):
    """Finality by proof of work, for a chain whose genesis hash is ``genesis_hash``."""

    def __init__(self, genesis_hash: bytes, config: PowConfig | None = None) -> None:
        self.genesis_hash = genesis_hash
        self.config = config or PowConfig()
        self.limit = target_for_zero_bits(self.config.limit_zero_bits)
        self.initial_target = target_for_zero_bits(self.config.initial_zero_bits)
        self._period_starts: dict[int, int] = {}  # height (a multiple of the interval) -> seal timestamp ms
        self.history_blocks = 2 * self.config.retarget_interval  # a restart sees the last two period starts

    def observe(self, item: Block | SealedHeader) -> None:
        """Keep the timestamp of every block that starts a retarget period (the last two)."""
        height = item.header.height
        if height % self.config.retarget_interval == 0:
            self._period_starts[height] = decode_seal(height, item.seal).timestamp_ms
            for old in [h for h in self._period_starts if h < height - self.config.retarget_interval]:
                del self._period_starts[old]

    def required_target(self, height: int, parent: PowHeader | None, membership: Membership) -> int:
        """The target block ``height`` must carry after ``parent`` (None at height 1): the parent's, or at
        the first height of a period the retarget over the last one (the same rule the miners apply)."""
        k = self.config.retarget_interval
        if parent is None:
            return self.initial_target
        parent_target = target_from_bits(parent.bits)
        if (height - 1) % k != 0:
            return parent_target
        first_height = height - 1 - k
        first_ts = membership.genesis.timestamp_ms if first_height == 0 else self._period_starts.get(first_height)
        if first_ts is None:
            raise ChainValidationError(f"block {height}: cannot check its difficulty retarget: this verifier has not "
                                       f"seen block {first_height}, where the period began")
        expected_ms = int(round(k * self.config.target_block_interval_s * 1000))
        return retarget(parent_target, parent.timestamp_ms - first_ts, expected_ms, self.config.max_adjust_factor,
                        self.limit)

    def verify(self, item: Block | SealedHeader, prev: Block | SealedHeader | None, membership: Membership) -> None:
        header: BlockHeader = item.header
        seal = decode_seal(header.height, item.seal)
        if ledger_header(seal, header.prev_hash) != header:
            raise ChainValidationError(f"block {header.height}: header does not match its PoW seal")
        if prev is not None:
            expected = pow_hash(decode_seal(prev.header.height, prev.seal))
        elif header.height == 1:
            expected = self.genesis_hash
        else:
            expected = seal.prev_hash  # parent unknown to the caller (a lone header): link not checkable
        if seal.prev_hash != expected:
            raise ChainValidationError(f"block {header.height}: seal links to {seal.prev_hash.hex()[:16]}, "
                                       f"expected the parent's PoW hash {expected.hex()[:16]}")
        target = target_from_bits(seal.bits)
        if prev is not None or header.height == 1:  # the parent's seal is at hand: the retarget rule applies
            parent = decode_seal(prev.header.height, prev.seal) if prev is not None else None
            required = self.required_target(header.height, parent, membership)
            if target != required:
                raise ChainValidationError(f"block {header.height}: bits {seal.bits:#x}, the difficulty retarget rule "
                                           f"requires {bits_from_target(required):#x}")
            if parent is not None and seal.timestamp_ms < parent.timestamp_ms:
                raise ChainValidationError(f"block {header.height}: timestamp {seal.timestamp_ms} before its parent's "
                                           f"{parent.timestamp_ms}")
        if target > self.limit:
            raise ChainValidationError(f"block {header.height}: target {target:#x} is easier than the limit "
                                       f"{self.limit:#x} ({self.config.limit_zero_bits} zero bits)")
        if self.config.mining == "real" and not meets_target(pow_hash(seal), target):
            raise ChainValidationError(f"block {header.height}: PoW hash does not meet target {target:#066x}")
