"""Followers (observers, light clients) and forged copies of committed blocks: a bad copy of height
h seen first must not make the follower ignore the real block at h."""

import msgspec
import pytest

from edgeledger.effects import Broadcast, Rejected, Send
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.block import CommitVote
from edgeledger.node.gossip import MAX_VARIANTS, BlockGossip, CommittedBlock, FetchCommitted
from edgeledger.node.light import LightClient
from edgeledger.node.node import Node
from tests.conftest import make_chain
from tests.consensus.harness import Harness

FOLLOWERS = ("dev0", "dev1")


@pytest.fixture(scope="module")
def chain():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    for i in range(1, 13):
        h.submit("v0", make_transaction(keys["dev0"], "dev0", i, "kv.set", b"x%d" % i))
        h.run(until=h.now + 0.2)
    blocks = h.committed["v1"]
    assert len(blocks) >= 4
    return keys, membership, blocks


def forged_certificate(block):
    """The real header under a certificate whose votes are not validator signatures."""
    cert = block.certificate
    votes = [CommitVote(replica=v.replica, signature=bytes(64)) for v in cert.votes]
    return msgspec.structs.replace(block, certificate=msgspec.structs.replace(cert, votes=votes))


def forged_header(block):
    """Another block at the same height (other transactions) under the real certificate."""
    return msgspec.structs.replace(block, transactions=block.transactions[:-1] or [],
                                   header=msgspec.structs.replace(block.header, tx_root=bytes(32)))


def observer(keys, membership, fanout=0, light=False):
    return Node(node_id="dev0", role="device", key=keys["dev0"], membership=membership, store=ChainStore(":memory:"),
                followers=FOLLOWERS, gossip_fanout=fanout,
                light=LightClient("dev0", membership) if light else None)


def height_of(node):
    return node.light.height if node.light is not None else node.store.height


@pytest.mark.parametrize("light", [False, True])
@pytest.mark.parametrize("forge", [forged_certificate, forged_header])
def test_a_forged_copy_seen_first_does_not_hide_the_real_block(chain, forge, light):
    keys, membership, blocks = chain
    node = observer(keys, membership, light=light)
    effects = node.on_message("v0", CommittedBlock(block=forge(blocks[0])), 0.0)  # a validator's id, a bad block
    assert any(isinstance(e, Rejected) for e in effects) and height_of(node) == 0
    node.on_message("v1", CommittedBlock(block=blocks[0]), 0.0)
    assert height_of(node) == 1
    # the same real block again, from another validator: settled, not looked at twice
    assert node.on_message("v2", CommittedBlock(block=blocks[0]), 0.0) == []
    for b in blocks[1:]:
        node.on_message("v1", CommittedBlock(block=b), 0.0)
    assert height_of(node) == len(blocks)


@pytest.mark.parametrize("light", [False, True])
def test_a_forged_future_copy_waiting_first_does_not_hide_the_real_one(chain, light):
    """Both copies of height 2 wait for block 1; once it arrives the forged one is refused and
    the real one chains on."""
    keys, membership, blocks = chain
    node = observer(keys, membership, light=light)
    node.on_message("v0", CommittedBlock(block=forged_certificate(blocks[1])), 0.0)
    node.on_message("v1", CommittedBlock(block=blocks[1]), 0.0)
    effects = node.on_message("v1", CommittedBlock(block=blocks[0]), 0.0)
    assert height_of(node) == 2 and any(isinstance(e, Rejected) for e in effects)
    if not light:
        assert node.store.head().hash == blocks[1].hash


def test_a_forged_future_block_is_replaced_through_the_fetch_from_a_validator(chain):
    """Only the forged copy of height 2 waited; once it fails, the next block shows the gap and
    the validator's reply to the follower's fetch is looked at again."""
    keys, membership, blocks = chain
    node = observer(keys, membership)
    node.on_message("v0", CommittedBlock(block=forged_certificate(blocks[1])), 0.0)
    effects = node.on_message("v1", CommittedBlock(block=blocks[0]), 0.0)
    assert node.store.height == 1 and any(isinstance(e, Rejected) for e in effects)
    effects = node.on_message("v1", CommittedBlock(block=blocks[2]), 0.0)
    fetches = [e for e in effects if isinstance(e, Send) and isinstance(e.message, FetchCommitted)]
    assert [(e.to, e.message.height) for e in fetches] == [(node.gossip.validators[2 % 4], 2)]
    node.on_message(fetches[0].to, CommittedBlock(block=blocks[1]), 0.0)
    assert node.store.height == 3
    assert node.store.head().hash == blocks[2].hash


def test_gossip_forwards_one_copy_per_height_unless_the_first_was_refused(chain):
    _, _, blocks = chain
    gossip = BlockGossip("dev0", ("dev0", "dev1", "dev2", "dev3"), ("v0", "v1", "v2", "v3"), fanout=2)
    real, forged = blocks[0], forged_certificate(blocks[0])
    new, effects = gossip.first_sight("v0", forged)
    assert new and [type(e) for e in effects] == [Broadcast]
    new, effects = gossip.first_sight("v1", real)  # height 1 is the next one: the forged copy was refused
    assert new and [type(e) for e in effects] == [Broadcast]
    assert gossip.first_sight("v2", real) == (False, [])  # the same copy again
    # a copy of a later (not yet next) height is passed on once; other copies are looked at, not spread
    new, effects = gossip.first_sight("v0", blocks[2])
    assert new and effects
    new, effects = gossip.first_sight("v1", forged_certificate(blocks[2]))
    assert new and effects == []
    gossip.repair(1, 3)  # the follower applied height 1
    assert gossip.first_sight("v3", real) == (False, []) and 1 not in gossip.seen
    # at most MAX_VARIANTS copies of an open height are looked at
    for i in range(MAX_VARIANTS + 3):
        cert = msgspec.structs.replace(blocks[3].certificate, votes=[CommitVote(replica="v0", signature=bytes([i]) * 64)])
        gossip.first_sight("v0", msgspec.structs.replace(blocks[3], certificate=cert))
    assert len(gossip.seen[blocks[3].height]) == MAX_VARIANTS
