"""Proof of work (Nakamoto 2008; FBFL's PoW chain) as a sans-IO core: events, block tree, miner."""

from edgeledger.consensus.pow.core import CommitPowBlock, PowConfig, PowMiner, ledger_header
from edgeledger.consensus.pow.difficulty import (
    bits_from_target, block_work, meets_target, retarget, target_for_zero_bits, target_from_bits,
)
from edgeledger.consensus.pow.events import (
    POW_MESSAGES, GetPowBlock, PowBlock, PowHeader, PowTransaction, hash_nonce, header_prefix, pow_hash,
    prefix_midstate, sealing_bytes,
)
from edgeledger.consensus.pow.finality import WorkFinality, decode_seal
from edgeledger.consensus.pow.state import BlockTree, Reorg, TreeNode

__all__ = ["PowConfig", "PowMiner", "CommitPowBlock", "ledger_header", "PowHeader", "PowBlock", "PowTransaction",
           "GetPowBlock", "POW_MESSAGES", "header_prefix", "sealing_bytes", "pow_hash", "prefix_midstate",
           "hash_nonce", "target_from_bits", "bits_from_target", "target_for_zero_bits", "block_work",
           "meets_target", "retarget", "BlockTree", "Reorg", "TreeNode", "WorkFinality", "decode_seal"]
