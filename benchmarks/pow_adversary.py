"""PoW under an adversary: a selfish (withholding) miner at a third of the hash rate against honest
miners, measured on the simulator and set beside Eyal & Sirer's model; and a dishonest miner's
easy blocks (bits easier than the retarget rule) against an observer.

    python benchmarks/pow_adversary.py --quick     # about 10 s
    python benchmarks/pow_adversary.py             # 5 seeds x 20,000 blocks

Last line: JSON. ``pool_share`` (its fraction of the main chain), ``orphan_rate``,
``reorgs_per_100_blocks`` and ``reorg_depth_*`` are measured at an honest miner; ``*_model`` come
from the paper's state machine with the same confirmation depth (honest miners refuse an override
that would revert a final block), ``pool_share_eyal_sirer`` from its closed form (no such cap).
``max_reorg_depth`` < ``confirmations`` and ``final_chains_agree`` mean the confirmation depth held.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeledger.codec import encode  # noqa: E402
from edgeledger.consensus.pow import (PowConfig, PowMiner, WorkFinality, bits_from_target, decode_seal,  # noqa: E402
                                     pow_hash, target_from_bits)
from edgeledger.consensus.pow.core import FOUND_TIMER, ledger_header  # noqa: E402
from edgeledger.consensus.pow.events import PowHeader  # noqa: E402
from edgeledger.consensus.testing.selfish import run_selfish_network, selfish_theory, theory_reorgs  # noqa: E402
from edgeledger.crypto.keys import derive_key  # noqa: E402
from edgeledger.errors import ChainValidationError  # noqa: E402
from edgeledger.ledger import Genesis, Identity, Membership, transactions_root  # noqa: E402
from edgeledger.ledger.block import Block  # noqa: E402


def easy_blocks_rejected(count: int, seed: int) -> tuple[int, int]:
    """A dishonest miner extends an honest final chain with blocks whose bits are easier than the
    retarget rule; an observer's WorkFinality checks each. Returns (rejected, offered)."""
    names = ["m0", "m1"]
    keys = {n: derive_key("ed25519", n.encode()) for n in names}
    membership = Membership(Genesis(chain_id="pow", validators=names, identities=[
        Identity(node_id=n, role="edge", scheme="ed25519", public_key=keys[n].public_key) for n in names]))
    cfg = PowConfig(mining="modelled", confirmations=1, retarget_interval=8, initial_zero_bits=12, limit_zero_bits=4)
    miner = PowMiner("m0", keys["m0"], membership, membership.genesis_hash, cfg, rng=random.Random(seed))
    finality, prev, rejected = WorkFinality(membership.genesis_hash, cfg), None, 0
    rng = random.Random(seed)
    for i in range(count):
        for e in miner.timer(FOUND_TIMER, 1.0 + 3.0 * i):
            if type(e).__name__ != "CommitPowBlock":
                continue
            block = e.block
            finality.verify(block, prev, membership)
            finality.observe(block)
            seal = decode_seal(block.height, block.seal)
            easy = PowHeader(chain_id=membership.chain_id, height=seal.height + 1, prev_hash=pow_hash(seal),
                             tx_root=transactions_root([]), tx_count=0, miner="m1",
                             timestamp_ms=seal.timestamp_ms + 500,
                             bits=bits_from_target(target_from_bits(seal.bits) * rng.choice((2, 4, 16, 256))))
            forged = Block(header=ledger_header(easy, block.hash), transactions=[], seal=encode(easy))
            try:
                finality.verify(forged, block, membership)
            except ChainValidationError:
                rejected += 1
            prev = block
    return rejected, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds x 5,000 blocks (about 10 s)")
    parser.add_argument("--alpha", type=float, default=1 / 3, help="the selfish miner's share of the hash rate")
    parser.add_argument("--confirmations", type=int, default=6, help="honest miners' confirmation depth")
    args = parser.parse_args(argv)
    seeds, blocks = (2, 5000) if args.quick else (5, 20000)
    runs = [run_selfish_network(alpha=args.alpha, blocks=blocks, seed=s, confirmations=args.confirmations)
            for s in range(seeds)]
    model = theory_reorgs(args.alpha, 1_000_000, random.Random(0), confirmations=args.confirmations)
    found = sum(r.blocks_found for r in runs)
    depths = [d for r in runs for d in r.honest_reorgs]
    hist, model_hist = Counter(depths), Counter(model.depths)
    print(f"selfish miner at alpha={args.alpha:.3f}, {len(runs)} runs, {found} blocks found, "
          f"confirmations={args.confirmations}")
    print(f"{'':28}{'measured':>10}{'model':>10}")
    rows = [("pool share of main chain", statistics.mean(r.pool_share for r in runs), model.pool_share),
            ("orphan rate", statistics.mean(r.orphan_rate for r in runs), 1 - model.main / 1_000_000),
            ("reorgs per 100 blocks", 100 * len(depths) / found, 100 * len(model.depths) / 1_000_000),
            ("refused per 100 blocks", 100 * sum(r.refused_deep for r in runs) / found, 100 * model.refused / 1e6)]
    for label, got, want in rows:
        print(f"{label:28}{got:10.4f}{want:10.4f}")
    for d in range(1, args.confirmations):
        print(f"  reorg depth {d}: {hist[d] / max(1, len(depths)):.3f} measured, "
              f"{model_hist[d] / max(1, len(model.depths)):.3f} model")
    rejected, offered = easy_blocks_rejected(40 if args.quick else 200, seed=1)
    print(f"easy blocks (bits easier than the retarget rule) rejected by an observer: {rejected}/{offered}")
    figures = {
        "alpha": round(args.alpha, 4), "blocks_found": found, "confirmations": args.confirmations,
        "pool_share": round(rows[0][1], 4), "pool_share_model": round(rows[0][2], 4),
        "pool_share_eyal_sirer": round(selfish_theory(args.alpha).pool_share, 4),
        "orphan_rate": round(rows[1][1], 4), "orphan_rate_model": round(rows[1][2], 4),
        "reorgs_per_100_blocks": round(rows[2][1], 3), "reorgs_per_100_blocks_model": round(rows[2][2], 3),
        "reorg_depth_1_share": round(hist[1] / max(1, len(depths)), 3),
        "reorg_depth_1_share_model": round(model_hist[1] / max(1, len(model.depths)), 3),
        "refused_per_100_blocks": round(rows[3][1], 3), "refused_per_100_blocks_model": round(rows[3][2], 3),
        "max_reorg_depth": max(depths, default=0), "final_chains_agree": all(r.final_agree for r in runs),
        "easy_blocks_rejected_pct": round(100 * rejected / offered, 1),
    }
    print(json.dumps(figures))
    ok = figures["final_chains_agree"] and figures["max_reorg_depth"] < args.confirmations and rejected == offered
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
