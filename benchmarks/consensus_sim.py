"""PBFT in the discrete-event simulator: committed tx/s, commit latency, and the verify bound.

n validators (PbftReplica cores hosted in ``net.sim.Simulator``) commit transactions that
carry real Ed25519 signatures (all pre-signed before timing). A closed-loop client keeps one
batch of ``B`` transactions outstanding at the primary: when the batch's block has been
committed by f+1 replicas (the client reply rule) it submits the next one. The simulator
runs as fast as the CPU allows, so

- ``tx/s`` is wall-clock committed transactions per second (all n replicas share this CPU);
- latency is *simulated* time from a transaction's submission to its block's (f+1)-th
  commit (5 ms links, 100 Mbit/s).

In the same run the machine's Ed25519 verify rate V (PyNaCl, key decoded once) is measured
and the bound that verification work alone allows is printed (computed per CPU-second of
this process, so other load on a shared machine cancels out; the wall-clock ratio is printed too)::

    bound_tx_per_s = V / (n + M / B),   M = (n-1) + (n-1)**2 + n*(n-1)

n verifications per transaction (the primary on submission, each of the n-1 backups in the
PRE-PREPARE), and M message signatures per block (n-1 PRE-PREPAREs, (n-1)**2 PREPAREs and
n(n-1) COMMITs, each checked by its receiver) amortised over B transactions. Signing
(2n signatures a block) is left out of the bound, as is hashing and encoding.

Usage: ``python benchmarks/consensus_sim.py [--quick] [--profile] [--seed S]``; the last line
is JSON with ``tx_per_s_n4``, ``verify_bound_tx_per_s_n4``, ``ratio_to_bound_n4``,
``p50_latency_s_n4`` (n = 4 at the largest batch run) and per-case figures.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Union

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, _REPO_ROOT)

import nacl.signing  # noqa: E402

from edgeledger.codec import decode, encode  # noqa: E402
from edgeledger.consensus.base import CommitBlock  # noqa: E402
from edgeledger.consensus.pbft import PBFT_MESSAGES, PbftConfig, PbftReplica  # noqa: E402
from edgeledger.crypto.keys import derive_key  # noqa: E402
from edgeledger.ledger import Genesis, Identity, Membership, Transaction, genesis_hash, make_transaction  # noqa: E402
from edgeledger.net.sim import Link, Simulator  # noqa: E402

PbftWire = Union[PBFT_MESSAGES]  # type: ignore[valid-type]
N_DEVICES = 10
VERIFY_BUDGET = 60_000  # verifications per case (about 2-4 s of CPU)


class ReplicaHost:
    """Hosts one PBFT core in the simulator and reports its commits to the client."""

    def __init__(self, core: PbftReplica, on_commit: Any) -> None:
        self.node_id, self.core, self.on_commit = core.node_id, core, on_commit

    def decode_message(self, data: bytes) -> Any:
        return decode(data, PbftWire)

    def _effects(self, effects: list, now: float) -> list:
        for e in effects:
            if isinstance(e, CommitBlock):
                self.on_commit(self.node_id, e.block, now)
        return effects

    def on_message(self, sender: str, message: Any, now: float) -> list:
        return self._effects(self.core.receive(sender, message, now), now)

    def on_timer(self, name: str, now: float) -> list:
        return self._effects(self.core.timer(name, now), now)


class CountingMembership(Membership):
    """Counts signature verifications (every check in the cores goes through ``verify``)."""

    verifications = 0

    def verify(self, node_id: str, message: bytes, signature: bytes) -> bool:
        self.verifications += 1
        return super().verify(node_id, message, signature)


def membership_of(n: int, keys: dict) -> CountingMembership:
    names = [f"v{i}" for i in range(n)] + [f"dev{i}" for i in range(N_DEVICES)]
    ids = [Identity(node_id=x, role="device" if x.startswith("dev") else "edge", scheme="ed25519",
                    public_key=keys[x].public_key) for x in names]
    return CountingMembership(Genesis(chain_id="bench", identities=ids, validators=names[:n]))


def presign(count: int, keys: dict) -> list[Transaction]:
    """``count`` FL-update transactions round-robin over the devices, nonces 1, 2, ..."""
    return [make_transaction(keys[f"dev{i % N_DEVICES}"], f"dev{i % N_DEVICES}", i // N_DEVICES + 1, "fl.update",
                             encode((1, hashlib.sha256(b"%d" % i).digest(), 1_000_000))) for i in range(count)]


def messages_per_block(n: int) -> int:
    return (n - 1) + (n - 1) ** 2 + n * (n - 1)


def run_case(n: int, batch: int, blocks: int, txs: list[Transaction], keys: dict, seed: int) -> dict[str, float]:
    membership = membership_of(n, keys)
    g = genesis_hash(membership.genesis)
    f = membership.f
    sim = Simulator(seed, lambda a, b: Link(latency_s=0.005, bandwidth_bps=100e6))
    config = PbftConfig(max_block_txs=batch, max_block_bytes=4_000_000, batch_timeout_s=0.05)
    commits_of: dict[bytes, int] = {}
    submitted_at: dict[bytes, float] = {}
    latencies: list[float] = []
    work = txs[: batch * blocks]
    cursor = [0, 0]  # next tx index, committed txs

    def submit_window() -> None:
        start = cursor[0]
        window = work[start: start + batch]
        cursor[0] += len(window)
        for tx in window:
            submitted_at[tx.tx_id] = sim.now
            sim.apply("v0", hosts["v0"].core.submit(tx, sim.now))

    def on_commit(node: str, block: Any, now: float) -> None:
        count = commits_of[block.hash] = commits_of.get(block.hash, 0) + 1
        if count != f + 1:
            return
        for tx in block.transactions:
            latencies.append(now - submitted_at[tx.tx_id])
        cursor[1] += len(block.transactions)
        if cursor[1] == cursor[0] and cursor[0] < len(work):
            sim.call_later(0.0, submit_window)

    hosts = {}
    for v in membership.validators:
        hosts[v] = ReplicaHost(PbftReplica(v, keys[v], membership, g, config), on_commit)
        sim.add_host(hosts[v])
    sim.call_at(0.0, submit_window)
    t0, c0 = time.perf_counter(), time.process_time()
    sim.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if cursor[1] != len(work):
        raise RuntimeError(f"n={n} batch={batch}: committed {cursor[1]} of {len(work)} transactions")
    latencies.sort()
    return {"txs": len(work), "wall_s": wall, "verifies_per_tx": membership.verifications / len(work), "tx_per_s": len(work) / wall,
            "tx_per_cpu_s": len(work) / cpu, "sim_s": sim.now,
            "p50_latency_s": statistics.median(latencies),
            "p99_latency_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def verify_rate(keys: dict, seconds: float = 0.5) -> tuple[float, float, float]:
    """Ed25519 (PyNaCl, key decoded once, 120-byte message): verify/s per wall second and per
    CPU second of this process, and sign/s per wall second."""
    key = keys["dev0"]
    msg = b"m" * 120
    sig = key.sign(msg)
    vk = nacl.signing.VerifyKey(key.public_key)
    count, t0, c0 = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(200):
            vk.verify(msg, sig)
        count += 200
    v_rate, v_cpu = count / elapsed, count / (time.process_time() - c0)
    count, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds / 2:
        for _ in range(200):
            key.sign(msg)
        count += 200
    return v_rate, v_cpu, count / elapsed


def profile_case(n: int, batch: int, blocks: int, txs: list, keys: dict, seed: int, top: int = 22) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run_case(n, batch, blocks, txs, keys, seed)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n in {4, 7} and fewer blocks (under a minute)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of n=4, batch=100")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    args = parser.parse_args()
    ns = [4, 7] if args.quick else [4, 7, 10, 16, 27]
    batches = [1, 100, 1000]
    budget = VERIFY_BUDGET // (3 if args.quick else 1)
    print(f"# consensus_sim: seed={args.seed} quick={args.quick} ns={ns} batches={batches} "
          f"python={platform.python_version()} machine={platform.machine()}")
    names = [f"v{i}" for i in range(max(ns))] + [f"dev{i}" for i in range(N_DEVICES)]
    keys = {x: derive_key("ed25519", x.encode()) for x in names}
    plan = {(n, b): max(3, min(300, budget // (n * b + messages_per_block(n)))) for n in ns for b in batches}
    t0 = time.perf_counter()
    txs = presign(max(b * k for (_, b), k in plan.items()), keys)
    print(f"# pre-signed {len(txs)} transactions in {time.perf_counter() - t0:.1f} s (not timed)")
    v_rate, v_cpu, s_rate = verify_rate(keys, 1.0)
    print(f"# Ed25519 (PyNaCl) here: {v_rate:,.0f} verify/s wall, {v_cpu:,.0f} verify/s per CPU-second, "
          f"{s_rate:,.0f} sign/s")
    print("# bound = V / (n + M/B), M = (n-1) + (n-1)^2 + n(n-1) message verifications per block;")
    print("#   n verifications per tx (each replica once) + M per block amortised over B txs; signing, hashing,")
    print("#   encoding left out. 'ratio' uses CPU time of this process for both the run and V (robust to other")
    print("#   load on a shared machine); 'ratio wall' uses wall-clock tx/s and wall-clock V measured around the case.")
    print("# ver/tx = verifications the cores actually ran per committed tx (formula: n + M/B)")
    print(f"{'n':>3} {'B':>5} {'blocks':>6} {'tx/s':>8} {'tx/cpu-s':>8} {'bound':>8} {'ratio':>6} {'r.wall':>6} "
          f"{'ver/tx':>7} {'formula':>7} {'p50 s':>6} {'p99 s':>6}")
    result: dict[str, float] = {"verify_per_s": round(v_rate), "verify_per_cpu_s": round(v_cpu),
                                "sign_per_s": round(s_rate)}
    for (n, b), blocks in plan.items():
        before = verify_rate(keys, 0.25)
        r = run_case(n, b, blocks, txs, keys, args.seed)
        after = verify_rate(keys, 0.25)
        v_wall, v_cpu_case = max(before[0], after[0]), max(before[1], after[1])
        formula = n + messages_per_block(n) / b
        bound, bound_cpu = v_wall / formula, v_cpu_case / formula
        ratio, ratio_wall = r["tx_per_cpu_s"] / bound_cpu, r["tx_per_s"] / bound
        print(f"{n:>3} {b:>5} {blocks:>6} {r['tx_per_s']:>8.0f} {r['tx_per_cpu_s']:>8.0f} {bound_cpu:>8.0f} "
              f"{ratio:>6.2f} {ratio_wall:>6.2f} {r['verifies_per_tx']:>7.2f} {formula:>7.2f} "
              f"{r['p50_latency_s']:>6.3f} {r['p99_latency_s']:>6.3f}")
        key = f"n{n}_b{b}"
        result[f"tx_per_s_{key}"] = round(r["tx_per_s"], 1)
        result[f"ratio_to_bound_{key}"] = round(ratio, 3)
        result[f"p50_latency_s_{key}"] = round(r["p50_latency_s"], 4)
        result[f"p99_latency_s_{key}"] = round(r["p99_latency_s"], 4)
        result[f"verifies_per_tx_{key}"] = round(r["verifies_per_tx"], 2)
        if n == 4 and b == max(batches):
            result.update(tx_per_s_n4=round(r["tx_per_s"], 1), tx_per_cpu_s_n4=round(r["tx_per_cpu_s"], 1),
                          verify_bound_tx_per_s_n4=round(bound_cpu, 1), ratio_to_bound_n4=round(ratio, 3),
                          ratio_to_bound_wall_n4=round(ratio_wall, 3), p50_latency_s_n4=round(r["p50_latency_s"], 4),
                          p99_latency_s_n4=round(r["p99_latency_s"], 4), batch_n4=b,
                          verifies_per_tx_n4=round(r["verifies_per_tx"], 2), bound_formula="V / (n + M/B)")
    if args.profile:
        print(profile_case(4, 100, 20, txs, keys, args.seed))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
