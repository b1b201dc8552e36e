"""Difficulty: compact targets, work and the periodic retarget (Bitcoin rules).

A hash meets the target when ``int.from_bytes(hash, "big") <= target``, so a target of
``2**(256 - z) - 1`` asks for ``z`` leading zero bits. Targets travel in the header as
Bitcoin's compact ``nBits`` (Nakamoto 2008 §4; Bitcoin Core ``arith_uint256::SetCompact``).
Every ``interval`` blocks the target is scaled by ``actual / expected`` time of the last
``interval`` blocks, with ``actual`` clamped to ``[expected / factor, expected * factor]``
(Bitcoin Core ``CalculateNextWorkRequired``, factor 4) and never easier than the limit.
All arithmetic is on integers, so every node computes the same target.
"""

from __future__ import annotations

from edgeledger.errors import ChainValidationError

__all__ = ["target_from_bits", "bits_from_target", "target_for_zero_bits", "block_work", "meets_target",
           "retarget", "expected_hashes"]


def target_from_bits(bits: int) -> int:
    """Decode compact ``bits``; negative or overflowing encodings are invalid."""
    if not 0 <= bits < 2**32 or bits & 0x00800000:
        raise ChainValidationError(f"compact target bits {bits:#x} is negative or out of range")
    size, mantissa = bits >> 24, bits & 0x007FFFFF
    target = mantissa >> 8 * (3 - size) if size <= 3 else mantissa << 8 * (size - 3)
    if target == 0 or target >= 2**256:
        raise ChainValidationError(f"compact target bits {bits:#x} decodes to {target:#x}, expected 0 < target < 2**256")
    return target


def bits_from_target(target: int) -> int:
    """Encode ``target`` compactly (rounding down to a 23-bit mantissa)."""
    if not 0 < target < 2**256:
        raise ValueError(f"target must be in (0, 2**256), got {target:#x}")
    size = (target.bit_length() + 7) // 8
    mantissa = target << 8 * (3 - size) if size <= 3 else target >> 8 * (size - 3)
    if mantissa & 0x00800000:
        mantissa >>= 8
        size += 1
    return (size << 24) | mantissa


def target_for_zero_bits(zero_bits: int) -> int:
    """The (compact-representable) target that asks for ``zero_bits`` leading zero bits."""
    return target_from_bits(bits_from_target(2 ** (256 - zero_bits) - 1))


def block_work(target: int) -> int:
    """Expected hashes to meet ``target``: ``2**256 // (target + 1)`` (Bitcoin ``GetBlockProof``)."""
    return 2**256 // (target + 1)


expected_hashes = block_work


def meets_target(block_hash: bytes, target: int) -> bool:
    return int.from_bytes(block_hash, "big") <= target


def retarget(old_target: int, actual_ms: int, expected_ms: int, factor: int, limit: int) -> int:
    """New target after a period that took ``actual_ms`` instead of ``expected_ms``."""
    actual = min(max(actual_ms, expected_ms // factor), expected_ms * factor)
    new = old_target * actual // expected_ms
    return target_from_bits(bits_from_target(max(1, min(new, limit))))
