import hashlib
import random
from typing import Union

import msgspec
import pytest

from edgeledger.codec import decode
from edgeledger.consensus import consensus_protocols
from edgeledger.consensus.base import CommitBlock
from edgeledger.consensus.pow import (
    POW_MESSAGES, CommitPowBlock, GetPowBlock, PowBlock, PowConfig, PowHeader, PowMiner, bits_from_target,
    hash_nonce, header_prefix, meets_target, pow_hash, prefix_midstate, retarget, sealing_bytes,
    target_for_zero_bits, target_from_bits,
)
from edgeledger.consensus.pow.core import MINE_TIMER
from edgeledger.effects import Broadcast, Metric, Rejected, Send, SetTimer
from edgeledger.errors import ChainValidationError, ConfigError
from edgeledger.ledger import genesis_hash, make_transaction, transactions_root
from edgeledger.ledger.validation import validate_header_link
from edgeledger.net.sim import Link, Simulator
from tests.conftest import make_chain

PowWire = Union[POW_MESSAGES]  # type: ignore[valid-type]


def _txs(keys, n, sender="dev0", start=1):
    return [make_transaction(keys[sender], sender, start + i, "fl.update", hashlib.sha256(b"%d" % i).digest())
            for i in range(n)]


def _miner(node="v0", n=4, **cfg):
    keys, membership = make_chain(n)
    config = PowConfig(**{"mining": "modelled", "confirmations": 3, **cfg})
    return keys, membership, PowMiner(node, keys[node], membership, genesis_hash(membership.genesis), config,
                                      rng=random.Random(1))


def _child(miner, parent_hash, ts_ms, who="v1", txs=(), nonce=0):
    """A block on ``parent_hash`` with the bits the retarget rule asks for (modelled: no work)."""
    parent = miner.tree.nodes[parent_hash]
    header = PowHeader(chain_id="test", height=parent.height + 1, prev_hash=parent_hash,
                       tx_root=transactions_root(list(txs)), tx_count=len(txs), miner=who, timestamp_ms=ts_ms,
                       bits=bits_from_target(miner.next_target(parent)), nonce=nonce)
    return PowBlock(header=header, transactions=list(txs))


def _feed(miner, blocks, sender="v1", now=1e6):
    effects = []
    for b in blocks:
        effects += miner.receive(sender, b, now)
    return effects


def _grow(miner, parent_hash, timestamps, who="v1"):
    """Build (without delivering) a branch: each block goes into a scratch copy's tree."""
    blocks = []
    for ts in timestamps:
        b = _child(miner, parent_hash, ts, who)
        miner.receive(who, b, 1e6)
        blocks.append(b)
        parent_hash = b.hash
    return blocks


def _commits(effects):
    return [e for e in effects if isinstance(e, CommitBlock)]


# -- hashing and difficulty ------------------------------------------------------------------
def test_header_only_hashing_gives_the_hash_of_the_full_header():
    header = PowHeader(chain_id="test", height=7, prev_hash=b"\x01" * 32, tx_root=b"\x02" * 32, tx_count=10,
                       miner="v0", timestamp_ms=123_456, bits=bits_from_target(target_for_zero_bits(16)), nonce=0)
    midstate = prefix_midstate(header_prefix(header))
    for nonce in (0, 1, 255, 2**32 + 5, 2**64 - 1):
        full = msgspec.structs.replace(header, nonce=nonce)
        expected = hashlib.sha256(hashlib.sha256(sealing_bytes(full)).digest()).digest()
        assert hash_nonce(midstate, nonce) == pow_hash(full) == expected


def test_compact_bits_round_trip_and_reject_negative_encodings():
    for z in (1, 8, 16, 20, 32, 200):
        t = target_for_zero_bits(z)
        assert target_from_bits(bits_from_target(t)) == t
        assert t.bit_length() == 256 - z
    assert target_from_bits(0x1D00FFFF) == 0xFFFF * 2 ** (8 * 26)  # Bitcoin's genesis bits
    with pytest.raises(ChainValidationError, match="negative"):
        target_from_bits(0x04800000)


def test_real_mining_seals_a_block_that_meets_the_target_and_peers_accept_it():
    keys, membership = make_chain(4)
    g = genesis_hash(membership.genesis)
    cfg = PowConfig(mining="real", initial_zero_bits=10, hashes_per_tick=200, confirmations=2)
    miner = PowMiner("v0", keys["v0"], membership, g, cfg)
    peer = PowMiner("v1", keys["v1"], membership, g, cfg)
    for tx in _txs(keys, 10):
        miner.submit(tx, 0.0)
    assert miner.start(0.0) == [SetTimer(MINE_TIMER, cfg.tick_s)]
    block = None
    for tick in range(1, 100_000):
        for e in miner.timer(MINE_TIMER, tick * cfg.tick_s):
            if isinstance(e, Broadcast) and isinstance(e.message, PowBlock):
                block = e.message
        if block is not None:
            break
    assert block is not None and block.header.tx_count == 10
    assert meets_target(block.hash, target_for_zero_bits(10))
    assert int.from_bytes(block.hash, "big") >> (256 - 10) == 0
    effects = peer.receive("v0", block, 10.0)
    assert not [e for e in effects if isinstance(e, Rejected)]
    assert peer.tree.tip.hash == block.hash


def test_retarget_clamps_to_the_adjustment_factor_and_the_limit():
    old, limit = target_for_zero_bits(16), target_for_zero_bits(1)
    assert retarget(old, 10_000, 10_000, 4, limit) == old
    assert retarget(old, 5_000, 10_000, 4, limit) == target_from_bits(bits_from_target(old // 2))
    assert retarget(old, 1, 10_000, 4, limit) == target_from_bits(bits_from_target(old // 4))
    assert retarget(old, 10**9, 10_000, 4, limit) == target_from_bits(bits_from_target(old * 4))
    assert retarget(limit, 10**9, 10_000, 4, limit) == limit


@pytest.mark.parametrize("interval_s, harder", [(1, True), (40, False)])
def test_difficulty_adjusts_up_when_blocks_are_fast_and_down_when_slow(interval_s, harder):
    _, _, miner = _miner(retarget_interval=4, target_block_interval_s=10.0)
    start = miner.tree.tip.target
    blocks = _grow(miner, miner.tree.tip.hash, [interval_s * 1000 * (i + 1) for i in range(4)])
    assert [miner.tree.nodes[b.hash].target for b in blocks] == [start] * 4  # constant inside a period
    nxt = miner.next_target(miner.tree.tip)
    assert (nxt < start) if harder else (nxt > start)
    assert nxt == target_from_bits(bits_from_target(start // 4 if harder else start * 4))  # clamped to 4x
    # a block claiming the old difficulty after the retarget point is rejected
    fresh = _child(miner, miner.tree.tip.hash, 10**6)
    stale = PowBlock(header=msgspec.structs.replace(fresh.header, bits=bits_from_target(start)), transactions=[])
    assert [type(e).__name__ for e in miner.receive("v1", stale, 1e6)] == ["Rejected"]


# -- fork choice, reorganisation, finality ---------------------------------------------------
def test_fork_choice_reorganises_to_the_longer_branch_and_finalises_only_deep_blocks():
    _, _, miner = _miner(confirmations=3)
    g = miner.tree.tip.hash
    a1, a2 = _child(miner, g, 1000, "v1"), None
    assert _commits(_feed(miner, [a1])) == []
    a2 = _child(miner, a1.hash, 2000, "v1")
    assert _commits(_feed(miner, [a2])) == []  # a1 only 2 deep
    assert miner.tree.tip.hash == a2.hash
    # a competing branch from genesis; its blocks built on a scratch miner so the test controls delivery
    _, _, scratch = _miner(confirmations=3)
    b = _grow(scratch, g, [1100, 2100, 3100], who="v2")
    effects = _feed(miner, b[:2], sender="v2")
    assert miner.tree.tip.hash == a2.hash and _commits(effects) == []  # equal work: first seen stays
    effects = _feed(miner, b[2:], sender="v2")
    assert miner.tree.tip.hash == b[2].hash
    assert Metric("pow.reorg_depth", 2.0) in effects
    commits = _commits(effects)
    assert [c.block.header.height for c in commits] == [1]
    assert isinstance(commits[0], CommitPowBlock) and commits[0].pow_block.hash == b[0].hash
    assert commits[0].block.certificate is None
    assert all(c.pow_block.hash not in (a1.hash, a2.hash) for c in commits)


def test_fork_choice_follows_most_work_not_most_blocks():
    _, _, miner = _miner(confirmations=10, retarget_interval=2, target_block_interval_s=10.0)
    g = miner.tree.tip.hash
    _, _, scratch = _miner(confirmations=10, retarget_interval=2, target_block_interval_s=10.0)
    slow = _grow(scratch, g, [40_000, 80_000, 120_000, 160_000], who="v1")  # easier after the retarget
    fast = _grow(scratch, g, [1_000, 2_000, 3_000], who="v2")  # harder after the retarget
    _feed(miner, slow, sender="v1")
    assert miner.tree.tip.hash == slow[-1].hash
    _feed(miner, fast, sender="v2")
    assert miner.tree.tip.height == 3 and miner.tree.tip.hash == fast[-1].hash
    assert scratch.tree.nodes[fast[-1].hash].work > scratch.tree.nodes[slow[-1].hash].work


def test_orphans_wait_for_their_parent_which_is_requested_from_the_sender():
    _, _, miner = _miner(confirmations=2)
    _, _, scratch = _miner(confirmations=2)
    blocks = _grow(scratch, miner.tree.tip.hash, [1000, 2000, 3000])
    effects = miner.receive("v3", blocks[2], 1e6)
    assert effects == [Send("v3", GetPowBlock(block_hash=blocks[1].hash))]
    miner.receive("v3", blocks[1], 1e6)
    assert miner.tree.tip.height == 0
    effects = miner.receive("v3", blocks[0], 1e6)
    assert miner.tree.tip.hash == blocks[2].hash
    assert [c.block.height for c in _commits(effects)] == [1, 2]


def test_a_branch_forking_below_a_final_block_never_becomes_best():
    _, _, miner = _miner(confirmations=2)
    g = miner.tree.tip.hash
    _, _, scratch = _miner(confirmations=2)
    main = _grow(scratch, g, [1000, 2000, 3000])
    side = _grow(scratch, g, [1500, 2500, 3500, 4500, 5500])
    _feed(miner, main)
    assert miner.tree.final_height == 2
    effects = _feed(miner, side, sender="v2")
    assert miner.tree.tip.hash == main[-1].hash and _commits(effects) == []


# -- bad input --------------------------------------------------------------------------------
def test_invalid_work_bad_merkle_root_bad_signature_and_repeated_transactions_are_rejected():
    keys, membership = make_chain(4)
    g = genesis_hash(membership.genesis)
    real = PowMiner("v0", keys["v0"], membership, g, PowConfig(mining="real", initial_zero_bits=12))
    block = _child(real, g, 1000)
    nonce = next(n for n in range(10_000) if not meets_target(
        pow_hash(msgspec.structs.replace(block.header, nonce=n)), real.tree.tip.target))
    lazy = PowBlock(header=msgspec.structs.replace(block.header, nonce=nonce), transactions=[])
    [rej] = real.receive("v1", lazy, 10.0)
    assert isinstance(rej, Rejected) and "does not meet target" in rej.reason

    _, _, miner = _miner()
    txs = _txs(keys, 2)
    good = _child(miner, g, 1000, txs=txs)
    bad_root = PowBlock(header=msgspec.structs.replace(good.header, tx_root=b"\0" * 32), transactions=txs)
    [rej] = miner.receive("v1", bad_root, 10.0)
    assert "Merkle root" in rej.reason
    forged = msgspec.structs.replace(txs[0], signature=keys["dev1"].sign(txs[0].signing_bytes()))
    bad_sig = _child(miner, g, 1000, txs=[forged, txs[1]])
    [rej] = miner.receive("v1", bad_sig, 10.0)
    assert "bad signature" in rej.reason
    outsider = _child(miner, g, 1000, who="dev0")
    assert "not in the miner set" in miner.receive("v1", outsider, 10.0)[0].reason
    assert miner.tree.tip.height == 0
    _feed(miner, [good])
    again = _child(miner, good.hash, 2000, txs=[txs[0]])
    assert "already on its branch" in miner.receive("v1", again, 1e6)[0].reason
    future = _child(miner, good.hash, 10**12)
    assert "future" in miner.receive("v1", future, 10.0)[0].reason


def test_pow_is_registered_and_modelled_mining_needs_an_rng():
    keys, membership = make_chain(4)
    assert consensus_protocols.get("pow") is PowMiner
    with pytest.raises(ConfigError, match="needs a seeded rng"):
        PowMiner("v0", keys["v0"], membership, genesis_hash(membership.genesis), PowConfig(mining="modelled"))
    with pytest.raises(ConfigError, match="'real' or 'modelled'"):
        PowConfig(mining="quantum")


# -- several miners in the simulator ------------------------------------------------------------
class MinerHost:
    def __init__(self, core):
        self.node_id, self.core, self.final = core.node_id, core, []

    def decode_message(self, data):
        return decode(data, PowWire)

    def _keep(self, effects):
        self.final += [e for e in effects if isinstance(e, CommitBlock)]
        return effects

    def on_message(self, sender, message, now):
        return self._keep(self.core.receive(sender, message, now))

    def on_timer(self, name, now):
        return self._keep(self.core.timer(name, now))


def _network(mining, seed, n=4, until=60.0, **cfg):
    keys, membership = make_chain(n)
    g = genesis_hash(membership.genesis)
    sim = Simulator(seed, lambda a, b: Link(latency_s=0.05))
    master = random.Random(seed)
    hosts = []
    for v in membership.validators:
        config = PowConfig(mining=mining, confirmations=4, **cfg)
        host = MinerHost(PowMiner(v, keys[v], membership, g, config, rng=random.Random(master.getrandbits(64))))
        sim.add_host(host)
        hosts.append(host)
    for host in hosts:
        sim.start(host.node_id, host.core.start(0.0))
    txs = _txs(keys, 30)
    for i, tx in enumerate(txs):
        sim.call_at(0.5 + 0.1 * i, lambda h=hosts[i % n], t=tx: sim.apply(h.node_id, h.core.submit(t, sim.now)))
    sim.run(until=until)
    return hosts, txs, membership, g


def _check_agreement(hosts, membership, g):
    chains = [[c.pow_block.hash for c in h.final] for h in hosts]
    shortest = min(chains, key=len)
    assert len(shortest) >= 3
    for chain in chains:
        assert chain[: len(shortest)] == shortest  # every honest node finalised the same prefix
    for h in hosts:
        validate_chain_links([c.block for c in h.final], membership, g)


def validate_chain_links(blocks, membership, g):
    prev = g
    for height, block in enumerate(blocks, start=1):
        validate_header_link(block.header, prev, height, membership)
        prev = block.hash


def test_four_modelled_miners_finalise_the_same_prefix_with_every_transaction():
    hosts, txs, membership, g = _network("modelled", seed=7, target_block_interval_s=1.0, initial_zero_bits=14,
                                          hash_rate=4096.0, until=80.0)
    _check_agreement(hosts, membership, g)
    final_txs = {tx.tx_id for c in hosts[0].final for tx in c.block.transactions}
    assert final_txs == {tx.tx_id for tx in txs}


def test_three_real_miners_finalise_the_same_prefix():
    # ~1024 hashes a block, 16 a tick of 10 ms: a block every ~0.2 s network-wide, latency 0.05 s
    hosts, _, membership, g = _network("real", seed=3, n=3, initial_zero_bits=10, hashes_per_tick=16, tick_s=0.01,
                                       target_block_interval_s=0.5, until=20.0)
    _check_agreement(hosts, membership, g)
    for c in hosts[0].final:
        assert meets_target(c.pow_block.hash, target_from_bits(c.pow_block.header.bits))


def test_modelled_runs_replay_bit_for_bit_from_the_seed():
    run = lambda: [[c.pow_block.hash for c in h.final] for h in _network("modelled", seed=11, until=30.0,  # noqa: E731
                   target_block_interval_s=1.0, initial_zero_bits=12, hash_rate=1024.0)[0]]
    assert run() == run()
