"""FL on a PoW chain in the simulator: miners agree, blocks carry seals checked by work."""

import random
import tomllib
from importlib import resources

import msgspec
import pytest

from edgeledger.codec import encode
from edgeledger.consensus.pow import PowConfig, PowMiner, WorkFinality, decode_seal, pow_hash
from edgeledger.errors import ChainValidationError
from edgeledger.ledger import ChainStore, genesis_hash, validate_chain
from edgeledger.scenario.runner import run_scenario
from edgeledger.scenario.schema import apply_overrides, parse_scenario


def demo(*sets: str):
    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    return parse_scenario(apply_overrides(data, list(sets)))


@pytest.fixture(scope="module")
def pow_run():
    # 4 mining edges, the cloud aggregates as an observer (validated pushes from the miners)
    return run_scenario(demo("fl.rounds=2", 'consensus.protocol="pow"', "topology.edges=4",
                             "topology.devices_per_edge=3", 'topology.validators=["edge"]', "attacks=[]"))


def test_two_fl_rounds_commit_on_a_pow_chain_and_every_miner_agrees(pow_run):
    s, net = pow_run.summary, pow_run.network
    assert s["rounds_completed"] == 2
    kinds = [tx.kind for b in net.nodes["cloud"].store.blocks() for tx in b.transactions]
    assert kinds.count("fl.round_open") == 2 and kinds.count("fl.round_close") == 2
    stores = [net.nodes[v].store for v in net.validators]
    common = min(st.height for st in stores)
    assert common >= 1 and s["validators_agree_to_height"] == common
    for h in range(1, common + 1):
        assert len({st.block(h).hash for st in stores}) == 1


def test_pow_blocks_are_stored_with_their_seal_and_validate_by_work(pow_run):
    net = pow_run.network
    g = genesis_hash(net.membership.genesis)
    finality = net.nodes["cloud"].finality
    assert isinstance(finality, WorkFinality)
    for node_id in ["cloud", *net.validators]:  # the observer verified and stored the same chain
        blocks = net.nodes[node_id].store.blocks()
        assert all(b.seal is not None and b.certificate is None for b in blocks)
        validate_chain(blocks, net.membership, g, finality)
    blocks = net.nodes["edge-1"].store.blocks()
    seal = decode_seal(2, blocks[1].seal)
    assert seal.prev_hash == pow_hash(decode_seal(1, blocks[0].seal))
    forged = msgspec.structs.replace(blocks[1], seal=encode(msgspec.structs.replace(seal, miner="edge-0" if
                                                                                     seal.miner != "edge-0" else "edge-1")))
    with pytest.raises(ChainValidationError, match="does not match its PoW seal"):
        validate_chain([blocks[0], forged], net.membership, g, finality)
    with pytest.raises(ChainValidationError, match="no PoW seal"):
        validate_chain([msgspec.structs.replace(blocks[0], seal=None)], net.membership, g, finality)
    with pytest.raises(ChainValidationError, match="links to"):
        finality.verify(blocks[2], blocks[0], net.membership)  # the seal must link to its parent's seal


def test_a_restarted_miner_resumes_its_tree_from_stored_seals(pow_run):
    net = pow_run.network
    blocks = net.nodes["edge-0"].store.blocks()
    miner = PowMiner("edge-0", net.nodes["edge-0"].key, net.membership, genesis_hash(net.membership.genesis),
                     net.nodes["edge-0"].consensus.config, rng=random.Random(0))
    miner.resume(blocks)
    assert miner.tree.final_height == len(blocks) and miner.ledger_prev_hash == blocks[-1].hash


def test_real_mining_seal_is_checked_against_its_target():
    from tests.consensus.test_pow import _miner  # a 4-miner chain, modelled config

    keys, membership, _ = _miner()
    g = genesis_hash(membership.genesis)
    config = PowConfig(mining="real", initial_zero_bits=8, confirmations=1, hashes_per_tick=5000)
    miner = PowMiner("v0", keys["v0"], membership, g, config)
    commits = []
    now = 0.0
    while not commits and now < 10:
        now += config.tick_s
        commits = [e for e in miner.timer("pow.mine", now) if hasattr(e, "pow_block")]
    block = commits[0].block
    WorkFinality(g, config).verify(block, None, membership)
    lazy = msgspec.structs.replace(decode_seal(1, block.seal), nonce=decode_seal(1, block.seal).nonce + 1)
    bad = msgspec.structs.replace(block, seal=encode(lazy))
    if int.from_bytes(pow_hash(lazy), "big") > (1 << 248):  # the next nonce almost surely misses the target
        with pytest.raises(ChainValidationError, match="does not meet target"):
            WorkFinality(g, config).verify(bad, None, membership)
    store = ChainStore(":memory:")
    store.append(block)
    assert store.block(1).seal == block.seal
