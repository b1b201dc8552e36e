"""PoW sealing: header-only hashing versus re-serialising the whole block per nonce.

A block holds 10 FL model-update transactions (signed, each naming a 32-byte update
digest); sealing searches nonces until ``sha256d`` meets a 16-leading-zero-bit target.

- ``header_only``: the library path (``PowMiner`` in real mining mode): the header prefix is
  serialised once, its SHA-256 midstate copied per attempt, only the 8 nonce bytes hashed;
- ``header_reencode``: re-serialise just the header per nonce (``pow_hash``), for reference;
- ``naive``: rebuild and re-serialise the *whole block* per nonce and hash it (what FBFL-style
  prototypes do with ``json.dumps(block)``).

All three run in one process on the same blocks (different seeds change the block's
timestamp, so every block needs a fresh search). Seal times are geometric random variables
(std ~ mean), so the per-attempt rates and the expected seal time ``2**16 / rate`` are
printed too; they are the stable comparison.

Usage: ``python benchmarks/pow.py [--quick] [--blocks N] [--zero-bits Z] [--seed S]``.
The last line is JSON with ``seal_s_header_only``, ``seal_s_naive``, ``speedup`` and more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, _REPO_ROOT)

import msgspec  # noqa: E402

from edgeledger.codec import encode  # noqa: E402
from edgeledger.consensus.pow import (  # noqa: E402
    PowBlock, PowConfig, PowHeader, PowMiner, bits_from_target, meets_target, pow_hash, target_for_zero_bits,
)
from edgeledger.consensus.pow.core import MINE_TIMER  # noqa: E402
from edgeledger.crypto.keys import derive_key  # noqa: E402
from edgeledger.ledger import (  # noqa: E402
    Genesis, Identity, Membership, genesis_hash, make_transaction, transactions_root,
)


def _chain(n_devices: int = 10):
    names = ["miner0"] + [f"dev{i}" for i in range(n_devices)]
    keys = {n: derive_key("ed25519", n.encode()) for n in names}
    ids = [Identity(node_id=n, role="edge" if n == "miner0" else "device", scheme="ed25519",
                    public_key=keys[n].public_key) for n in names]
    return keys, Membership(Genesis(chain_id="fbfl", identities=ids, validators=["miner0"]))


def _updates(keys, rng: random.Random):
    """10 model-update transactions, one per device: (round, update digest, size)."""
    return [make_transaction(keys[f"dev{i}"], f"dev{i}", 1, "fl.update",
                             encode((1, hashlib.sha256(rng.randbytes(64)).digest(), 1_234_567)))
            for i in range(10)]


def seal_header_only(keys, membership, txs, ts_s: float, zero_bits: int) -> tuple[float, int, PowBlock]:
    """Seal through the library's real-mining path; returns (seconds, attempts, block)."""
    config = PowConfig(mining="real", initial_zero_bits=zero_bits, limit_zero_bits=1, hashes_per_tick=4096)
    miner = PowMiner("miner0", keys["miner0"], membership, genesis_hash(membership.genesis), config)
    for tx in txs:
        miner.submit(tx, ts_s)
    t0 = time.perf_counter()
    while miner.tree.tip.height == 0:  # a lone miner broadcasts nothing: watch its tip
        miner.timer(MINE_TIMER, ts_s)
    elapsed = time.perf_counter() - t0
    block = miner.tree.tip.block
    assert block is not None and meets_target(block.hash, target_for_zero_bits(zero_bits))
    return elapsed, block.header.nonce + 1, block


def _template(membership, txs, ts_s: float, zero_bits: int) -> PowHeader:
    return PowHeader(chain_id=membership.chain_id, height=1, prev_hash=genesis_hash(membership.genesis),
                     tx_root=transactions_root(txs), tx_count=len(txs), miner="miner0",
                     timestamp_ms=int(round(ts_s * 1000)), bits=bits_from_target(target_for_zero_bits(zero_bits)))


def seal_header_reencode(membership, txs, ts_s: float, zero_bits: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    header = _template(membership, txs, ts_s, zero_bits)
    target = target_for_zero_bits(zero_bits)
    nonce = 0
    while not meets_target(pow_hash(msgspec.structs.replace(header, nonce=nonce)), target):
        nonce += 1
    return time.perf_counter() - t0, nonce + 1


def seal_naive(membership, txs, ts_s: float, zero_bits: int) -> tuple[float, int]:
    """Per nonce: rebuild the block, serialise all of it, double-SHA-256 the bytes."""
    t0 = time.perf_counter()
    header = _template(membership, txs, ts_s, zero_bits)
    target = target_for_zero_bits(zero_bits)
    nonce = 0
    while True:
        block = PowBlock(header=msgspec.structs.replace(header, nonce=nonce), transactions=txs)
        digest = hashlib.sha256(hashlib.sha256(encode(block)).digest()).digest()
        if int.from_bytes(digest, "big") <= target:
            return time.perf_counter() - t0, nonce + 1
        nonce += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks (about 10 s)")
    parser.add_argument("--blocks", type=int, default=None, help="blocks sealed per approach (default 32, quick 12)")
    parser.add_argument("--zero-bits", type=int, default=16, help="leading zero bits of the target")
    parser.add_argument("--seed", type=int, default=1, help="seed of the update digests and timestamps")
    args = parser.parse_args()
    blocks = args.blocks or (12 if args.quick else 32)
    print(f"# pow seal benchmark: blocks={blocks} zero_bits={args.zero_bits} seed={args.seed} "
          f"python={platform.python_version()} machine={platform.machine()}")
    keys, membership = _chain()
    rng = random.Random(args.seed)
    rows: dict[str, list[tuple[float, int]]] = {"header_only": [], "header_reencode": [], "naive": []}
    block_bytes = header_bytes = 0
    for i in range(blocks):
        txs = _updates(keys, rng)
        ts_s = 1000.0 + i + rng.random()
        s, n, block = seal_header_only(keys, membership, txs, ts_s, args.zero_bits)
        rows["header_only"].append((s, n))
        block_bytes, header_bytes = len(encode(block)), len(encode(block.header))
        rows["header_reencode"].append(seal_header_reencode(membership, txs, ts_s, args.zero_bits))
        rows["naive"].append(seal_naive(membership, txs, ts_s, args.zero_bits))
    expected_attempts = 2**args.zero_bits
    result: dict[str, float | int] = {"zero_bits": args.zero_bits, "blocks": blocks, "block_bytes": block_bytes,
                                      "header_bytes": header_bytes}
    print(f"{'approach':<16} {'mean seal s':>12} {'median s':>10} {'attempts/s':>12} {'expected seal s':>16}")
    for name, samples in rows.items():
        secs = [s for s, _ in samples]
        rate = sum(n for _, n in samples) / sum(secs)
        result[f"seal_s_{name}"] = round(statistics.fmean(secs), 4)
        result[f"hash_rate_{name}"] = round(rate)
        result[f"expected_seal_s_{name}"] = round(expected_attempts / rate, 4)
        print(f"{name:<16} {statistics.fmean(secs):>12.4f} {statistics.median(secs):>10.4f} {rate:>12.0f} "
              f"{expected_attempts / rate:>16.4f}")
    result["speedup"] = round(result["seal_s_naive"] / result["seal_s_header_only"], 2)
    result["speedup_per_attempt"] = round(result["hash_rate_header_only"] / result["hash_rate_naive"], 2)
    print(f"speedup (mean seal time, naive / header-only): {result['speedup']}x; "
          f"per attempt: {result['speedup_per_attempt']}x (block {block_bytes} B, header {header_bytes} B)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
