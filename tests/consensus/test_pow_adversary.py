"""PoW under an adversary: every verifier applies the difficulty retarget rule, and a withholding
(selfish) miner produces the reorganisations Eyal & Sirer's model predicts while final blocks hold."""

import random
from collections import Counter

import pytest

from edgeledger.codec import encode
from edgeledger.consensus.pow import (PowConfig, PowMiner, WorkFinality, bits_from_target, decode_seal, pow_hash,
                                     target_from_bits)
from edgeledger.consensus.pow.core import FOUND_TIMER, ledger_header
from edgeledger.consensus.pow.events import PowHeader
from edgeledger.consensus.testing.selfish import run_selfish_network, selfish_theory, theory_reorgs
from edgeledger.errors import ChainValidationError
from edgeledger.ledger import genesis_hash
from edgeledger.ledger.block import Block, transactions_root
from edgeledger.ledger.validation import validate_block
from tests.conftest import make_chain

CONFIG = PowConfig(mining="modelled", confirmations=1, retarget_interval=4, target_block_interval_s=10.0,
                   initial_zero_bits=12, limit_zero_bits=4)


def _final_chain(count):
    """``count`` final ledger blocks of one honest modelled miner (timestamps 1 s apart: fast blocks)."""
    keys, membership = make_chain(4)
    miner = PowMiner("v0", keys["v0"], membership, genesis_hash(membership.genesis), CONFIG, rng=random.Random(3))
    blocks = []
    for i in range(count):
        blocks += [e.block for e in miner.timer(FOUND_TIMER, 1.0 + i) if type(e).__name__ == "CommitPowBlock"]
    return membership, blocks


def _easier(membership, blocks, factor=16):
    """The next block as a dishonest miner seals it: a target ``factor`` times easier than the rule's."""
    seal = decode_seal(blocks[-1].height, blocks[-1].seal)
    easy = PowHeader(chain_id=membership.chain_id, height=seal.height + 1, prev_hash=pow_hash(seal),
                     tx_root=transactions_root([]), tx_count=0, miner="v1", timestamp_ms=seal.timestamp_ms + 1000,
                     bits=bits_from_target(target_from_bits(seal.bits) * factor))
    return Block(header=ledger_header(easy, blocks[-1].hash), transactions=[], seal=encode(easy))


def test_an_observer_applies_the_retarget_rule_to_every_final_block():
    membership, blocks = _final_chain(10)  # heights 1..10 cross two retarget heights (5 and 9)
    finality, prev = WorkFinality(membership.genesis_hash, CONFIG), None
    for block in blocks:
        validate_block(block, prev.hash if prev else membership.genesis_hash, block.height, membership, finality,
                       prev)
        finality.observe(block)
        prev = block
    targets = [target_from_bits(decode_seal(b.height, b.seal).bits) for b in blocks]
    assert targets[4] < targets[3]  # blocks came 10x too fast: the retarget at height 5 made mining harder
    forged = _easier(membership, blocks)
    with pytest.raises(ChainValidationError, match="retarget rule requires"):
        finality.verify(forged, blocks[-1], membership)


def test_a_verifier_that_never_saw_the_period_start_says_so_instead_of_guessing():
    membership, blocks = _final_chain(9)
    fresh = WorkFinality(membership.genesis_hash, CONFIG)
    with pytest.raises(ChainValidationError, match="has not seen block 4"):
        fresh.verify(blocks[8], blocks[7], membership)  # height 9 retargets over blocks 4..8


def test_selfish_mining_theory_matches_eyal_and_sirer():
    assert selfish_theory(1 / 3).pool_share == pytest.approx(1 / 3)  # the gamma = 0 profitability threshold
    assert selfish_theory(0.25).pool_share < 0.25 < selfish_theory(0.4).pool_share - 0.05
    model = theory_reorgs(1 / 3, 100_000, random.Random(0))
    assert model.pool_share == pytest.approx(1 / 3, abs=0.01)
    assert 1 - model.main / 100_000 == pytest.approx(selfish_theory(1 / 3).orphan_rate, abs=0.01)


def test_a_selfish_miner_at_a_third_of_the_hash_rate_reorganises_honest_chains_as_predicted():
    run = run_selfish_network(alpha=1 / 3, blocks=3000, seed=5, confirmations=6)
    model = theory_reorgs(1 / 3, 200_000, random.Random(0), confirmations=6)
    rate, model_rate = len(run.honest_reorgs) / run.blocks_found, len(model.depths) / 200_000
    assert rate == pytest.approx(model_rate, rel=0.25)
    assert run.pool_share == pytest.approx(model.pool_share, abs=0.05)
    assert Counter(run.honest_reorgs)[1] > len(run.honest_reorgs) / 2  # mostly one-block overrides
    assert max(run.honest_reorgs) < 6  # the confirmation depth holds: no final block is reverted
    assert run.final_agree and run.max_final > 1000
