"""Throughput of the oracle cryptography: ECVRF (RFC 9381), BLS (Ethereum POP) and threshold BLS.

Prints a table and, as its last line, one JSON object with the figures, e.g.
``{"vrf_prove_per_s": ..., "vrf_verify_per_s": ..., "bls_fast_aggregate_verify_27_ms": ...,
"threshold_combine_19_of_27_ms": ...}``.

Usage: ``python benchmarks/crypto_oracle_primitives.py [--quick] [--seed N]``.
"cold" figures decode every public key/signature from bytes (the per-key decode cache is
cleared), "warm" ones reuse the decoded keys of an already registered group.
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
from collections.abc import Callable
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, _REPO_ROOT)

from edgeledger.crypto import bls as bls_module  # noqa: E402
from edgeledger.crypto.bls import (  # noqa: E402
    bls_aggregate,
    bls_aggregate_verify,
    bls_fast_aggregate_verify,
    bls_keygen,
    bls_sign,
    bls_verify,
)
from edgeledger.crypto.threshold import combine, deal, group_public_key, sign_share  # noqa: E402
from edgeledger.crypto.vrf import vrf_keygen, vrf_prove, vrf_verify  # noqa: E402


def _per_call_s(fn: Callable[[int], object], repeats: int, rounds: int = 5) -> float:
    """Median over ``rounds`` of the mean seconds per call of fn(i), i = 0..repeats-1."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(repeats):
            fn(i)
        samples.append((time.perf_counter() - start) / repeats)
    return statistics.median(samples)


def _clear_decode_caches() -> None:
    bls_module._decode_g1.cache_clear()
    bls_module._decode_g2.cache_clear()


def run(quick: bool, seed: int) -> dict[str, float]:
    n = 40 if quick else 300
    rng = random.Random(seed)
    results: dict[str, float] = {}

    sk, pk = vrf_keygen(hashlib.sha256(b"bench-vrf-%d" % seed).digest())
    alphas = [rng.randbytes(32) for _ in range(n)]
    proofs = [vrf_prove(sk, alpha) for alpha in alphas]
    results["vrf_prove_per_s"] = 1.0 / _per_call_s(lambda i: vrf_prove(sk, alphas[i]), n)
    results["vrf_verify_per_s"] = 1.0 / _per_call_s(lambda i: vrf_verify(pk, proofs[i], alphas[i]), n)

    keys = [bls_keygen(hashlib.sha256(b"bench-bls-%d-%d" % (seed, i)).digest()) for i in range(27)]
    messages = [rng.randbytes(32) for _ in range(n)]
    secret, public = keys[0]
    signatures = [bls_sign(secret, m) for m in messages]
    results["bls_sign_per_s"] = 1.0 / _per_call_s(lambda i: bls_sign(secret, messages[i]), n)
    results["bls_verify_per_s"] = 1.0 / _per_call_s(lambda i: bls_verify(public, messages[i], signatures[i]), n)

    message = messages[0]
    public_keys = [p for _, p in keys]
    aggregate = bls_aggregate([bls_sign(s, message) for s, _ in keys])
    reps = max(5, n // 4)

    def fast_cold(_: int) -> None:
        _clear_decode_caches()
        assert bls_fast_aggregate_verify(public_keys, message, aggregate)

    results["bls_fast_aggregate_verify_27_ms"] = 1e3 * _per_call_s(fast_cold, reps)
    results["bls_fast_aggregate_verify_27_warm_ms"] = 1e3 * _per_call_s(
        lambda _: bls_fast_aggregate_verify(public_keys, message, aggregate), reps
    )
    distinct = [rng.randbytes(32) for _ in range(27)]
    aggregate_distinct = bls_aggregate([bls_sign(s, m) for (s, _), m in zip(keys, distinct, strict=True)])

    def aggregate_cold(_: int) -> None:
        _clear_decode_caches()
        assert bls_aggregate_verify(public_keys, distinct, aggregate_distinct)

    results["bls_aggregate_verify_27_ms"] = 1e3 * _per_call_s(aggregate_cold, max(3, reps // 2))

    shares, commitments = deal(rng, 19, 27)
    chosen = rng.sample(shares, 19)
    signature_shares = {s.index: sign_share(s, message) for s in chosen}

    def combine_cold(_: int) -> None:
        _clear_decode_caches()
        combine(signature_shares, threshold=19)

    results["threshold_combine_19_of_27_ms"] = 1e3 * _per_call_s(combine_cold, reps)
    assert bls_verify(group_public_key(commitments), message, combine(signature_shares, threshold=19))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a few seconds in all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the keys, messages and dealer")
    args = parser.parse_args()
    report(run(args.quick, args.seed), args.seed, args.quick)


def report(results: dict[str, float], seed: int, quick: bool, digits: int = 3) -> None:
    """The figures as a table, then (last line) one JSON object of them."""
    print(f"# seed={seed} quick={quick} python={platform.python_version()} cpu={platform.machine()}")
    width = max(len(k) for k in results)
    print(f"{'figure':<{width}}  value")
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.3f}")
    print(json.dumps({k: round(v, digits) for k, v in results.items()}))


if __name__ == "__main__":
    main()
