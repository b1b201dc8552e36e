"""Checking a final PoW block by its seal: the proof every observer, light client and restarted
miner re-runs (the ledger block has no certificate; Nakamoto 2008 §4, §8).

A final ledger block carries ``seal`` = the encoded :class:`PowHeader` it was mined as. It is
valid when (1) the ledger header is exactly ``ledger_header(seal, prev ledger hash)``, (2) the
seal links to its parent's seal (``seal.prev_hash`` = PoW hash of the parent's seal, the
genesis hash at height 1), (3) its target is no easier than the protocol's limit and (4) with
real mining, its PoW hash meets that target. Modelled mining (simulation only) carries no work,
so (4) is skipped there. The retarget rule (which exact target a height needs) depends on the
timestamps of the whole period and is enforced by the miners' block tree, not re-run here.
"""

from __future__ import annotations

from edgeledger.codec import decode
from edgeledger.consensus.pow.core import PowConfig, ledger_header
from edgeledger.consensus.pow.difficulty import meets_target, target_for_zero_bits, target_from_bits
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
        if target > self.limit:
            raise ChainValidationError(f"block {header.height}: target {target:#x} is easier than the limit "
                                       f"{self.limit:#x} ({self.config.limit_zero_bits} zero bits)")
        if self.config.mining == "real" and not meets_target(pow_hash(seal), target):
            raise ChainValidationError(f"block {header.height}: PoW hash does not meet target {target:#066x}")
