"""PoW wire records (FBFL's proof-of-work chain) and their header-only hash.

A PoW block is proven by work, not by signatures: its header carries the ``nonce`` and the
compact target ``bits`` (Bitcoin's nBits), and its hash is ``sha256d`` over the header's
*sealing bytes* = ``prefix || nonce`` where ``prefix`` encodes every other header field.
A miner serialises the prefix once, keeps the SHA-256 midstate, and per attempt only
hashes the 8 nonce bytes (header-only hashing; the transactions are committed through
``tx_root``, so they are never re-serialised while sealing).
"""

from __future__ import annotations

import hashlib

from edgeledger.codec import Record, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.ledger.transaction import Transaction

__all__ = ["PowHeader", "PowBlock", "PowTransaction", "GetPowBlock", "POW_MESSAGES", "NONCE_BYTES",
           "header_prefix", "sealing_bytes", "pow_hash", "hash_nonce", "prefix_midstate"]

NONCE_BYTES = 8


class PowHeader(Record):
    chain_id: str
    height: int
    prev_hash: bytes  # PoW hash of the parent (the genesis hash at height 1)
    tx_root: bytes
    tx_count: int
    miner: str
    timestamp_ms: int
    bits: int  # compact target (Bitcoin nBits)
    nonce: int = 0  # 0 <= nonce < 2**64


class PowBlock(Record, tag="pow.block"):
    header: PowHeader
    transactions: list[Transaction]

    @property
    def hash(self) -> bytes:
        return pow_hash(self.header)

    @property
    def height(self) -> int:
        return self.header.height


class PowTransaction(Record, tag="pow.tx"):
    """A transaction gossiped from miner to miner (FBFL: every miner mines every update)."""

    tx: Transaction


class GetPowBlock(Record, tag="pow.get-block"):
    """Ask a peer for the block with PoW hash ``block_hash`` (the missing parent of an orphan)."""

    block_hash: bytes


POW_MESSAGES = (PowBlock, PowTransaction, GetPowBlock)


def header_prefix(header: PowHeader) -> bytes:
    """Canonical bytes of every header field except the nonce (serialised once per template)."""
    return encode(("edgeledger-pow", header.chain_id, header.height, header.prev_hash, header.tx_root,
                   header.tx_count, header.miner, header.timestamp_ms, header.bits))


def sealing_bytes(header: PowHeader) -> bytes:
    """The full header bytes the PoW hash covers: ``prefix || nonce`` (8 bytes, big-endian)."""
    return header_prefix(header) + header.nonce.to_bytes(NONCE_BYTES, "big")


def pow_hash(header: PowHeader) -> bytes:
    """``sha256(sha256(sealing bytes))`` — Bitcoin's double SHA-256 over the header only."""
    return sha256(sha256(sealing_bytes(header)))


def prefix_midstate(prefix: bytes) -> hashlib._Hash:
    """SHA-256 state after absorbing ``prefix``; ``hash_nonce`` copies it per attempt."""
    return hashlib.sha256(prefix)


def hash_nonce(midstate: hashlib._Hash, nonce: int) -> bytes:
    """PoW hash of the header whose prefix produced ``midstate``, with ``nonce``."""
    inner = midstate.copy()
    inner.update(nonce.to_bytes(NONCE_BYTES, "big"))
    return hashlib.sha256(inner.digest()).digest()
