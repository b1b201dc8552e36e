"""PBFT follows a validator schedule (the generic hook, no market policy): per-height sets."""

import msgspec

from edgeledger.consensus.pbft import PbftConfig, PbftReplica, Prepare
from edgeledger.ledger import make_transaction, validate_chain
from edgeledger.ledger.identity import genesis_hash
from tests.conftest import make_chain
from tests.consensus.harness import Harness

CONFIG = PbftConfig(max_block_txs=1, checkpoint_interval=2, window=4)


def cluster_with_standby():
    keys, membership = make_chain(4, devices=("dev0", "v4"))
    h = Harness(keys, membership, config=CONFIG)
    h.replicas["v4"] = PbftReplica("v4", keys["v4"], membership, genesis_hash(membership.genesis), CONFIG,
                                   standby=True)
    h.committed["v4"] = []
    return keys, membership, h


def feed(h, keys, via, first, count):
    for i in range(first, first + count):
        h.submit(via, make_transaction(keys["dev0"], "dev0", i, "kv.set", b"x%d" % i))
        h.run(until=h.now + 0.05)


def test_validator_change_switches_primary_quorum_and_voters_at_its_height():
    keys, membership, h = cluster_with_standby()
    feed(h, keys, "v0", 1, 3)
    c = h.replicas["v1"].committed_height
    assert c >= 3 and h.replicas["v0"].is_primary
    new_set = ["v1", "v2", "v3", "v4"]  # v0 leaves, v4 joins
    for v in sorted(h.replicas):  # each node's hook, after the block that committed the change
        h.apply(v, h.replicas[v].set_validators(new_set, c + CONFIG.window + 1, h.now))
    assert not [r for _, r in h.rejections if r.what == "validator change"]  # activation beyond the window
    feed(h, keys, "v1", 4, 14)
    effective = c + CONFIG.window + 1
    blocks = h.committed["v1"]
    assert len(blocks) >= effective + 6
    for b in blocks[:effective - 1]:
        assert b.header.proposer == "v0" and "v4" not in {v.replica for v in b.certificate.votes}
    for b in blocks[effective - 1:]:  # the new set's first member is the view-0 primary
        assert b.header.proposer == "v1" and "v0" not in {v.replica for v in b.certificate.votes}
    assert any("v4" in {v.replica for v in b.certificate.votes} for b in blocks[effective - 1:])
    # the standby caught up (state transfer) and votes: it holds the same, valid chain
    newcomer = h.committed["v4"]
    assert len(newcomer) >= effective + 5
    assert [b.hash for b in newcomer] == [b.hash for b in blocks[:len(newcomer)]]
    validate_chain(newcomer, membership, genesis_hash(membership.genesis))
    # the removed replica's vote for a height after activation is refused
    r1 = h.replicas["v1"]
    vote = Prepare(view=r1.view, height=r1.committed_height + 1, digest=b"\x02" * 32, replica="v0")
    vote = msgspec.structs.replace(vote, signature=keys["v0"].sign(vote.signing_bytes("test")))
    assert r1.receive("v0", vote, h.now)[0].reason == "sender is not the validator named in the message"


def test_activation_inside_the_pbft_window_is_reported():
    keys, _, h = cluster_with_standby()
    feed(h, keys, "v0", 1, 2)
    replica = h.replicas["v1"]
    c = replica.committed_height
    effects = replica.set_validators(["v1", "v2", "v3", "v4"], c + CONFIG.window, h.now)
    assert any(getattr(e, "what", "") == "validator change" and "unsafe" in e.reason for e in effects)
