"""Light clients: headers verified against the genesis validators, transactions by Merkle proof."""

import msgspec
import pytest

from edgeledger.codec import encode, to_builtins
from edgeledger.crypto.merkle import MerkleProof, merkle_proof
from edgeledger.errors import ChainValidationError
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.block import CommitVote
from edgeledger.node.light import InclusionProof, LightClient, prove_inclusion
from edgeledger.node.node import CommittedBlock
from edgeledger.scenario.results import block_json
from tests.conftest import make_chain
from tests.consensus.harness import Harness


@pytest.fixture(scope="module")
def chain():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    for i in range(1, 13):
        h.submit("v0", make_transaction(keys["dev0"], "dev0", i, "kv.set", b"x%d" % i))
        h.run(until=h.now + 0.2)
    blocks = h.committed["v1"]
    assert len(blocks) >= 3
    store = ChainStore(":memory:")
    for b in blocks:
        store.append(b)
    return keys, membership, blocks, store


def test_light_client_accepts_a_valid_chain_of_headers_and_keeps_no_bodies(chain):
    _, membership, blocks, _ = chain
    light = LightClient("light-0", membership)
    for b in blocks:
        light.accept(b.sealed_header())
    assert light.height == len(blocks) and light.headers[-1].hash == blocks[-1].hash
    assert not hasattr(light.headers[0], "transactions")


def test_light_client_rejects_a_forged_certificate(chain):
    _, membership, blocks, _ = chain
    light = LightClient("light-0", membership)
    cert = blocks[0].certificate
    forged = msgspec.structs.replace(cert, votes=[CommitVote(replica=v.replica, signature=bytes(64)) for v in cert.votes])
    with pytest.raises(ChainValidationError, match="valid validator signatures"):
        light.accept(msgspec.structs.replace(blocks[0], certificate=forged).sealed_header())
    with pytest.raises(ChainValidationError, match="certificate is for another block"):
        light.accept(msgspec.structs.replace(blocks[0], certificate=blocks[1].certificate))
    assert light.height == 0


def test_light_client_rejects_a_broken_hash_link(chain):
    _, membership, blocks, _ = chain
    light = LightClient("light-0", membership)
    light.accept(blocks[0])
    with pytest.raises(ChainValidationError, match="expected 2"):
        light.accept(blocks[2])  # skips a height
    header = msgspec.structs.replace(blocks[1].header, prev_hash=bytes(32))
    with pytest.raises(ChainValidationError, match="prev_hash"):
        light.accept(msgspec.structs.replace(blocks[1], header=header))
    assert light.height == 1


def test_light_client_verifies_inclusion_proofs_from_a_full_node(chain):
    _, membership, blocks, store = chain
    light = LightClient("light-0", membership)
    for b in blocks:
        light.accept(b)
    tx = blocks[-1].transactions[-1]
    assert light.verify_inclusion(prove_inclusion(store, tx.tx_id)) == tx
    # the same evidence as the node read API serves it (GET /v1/tx/{id}: height, transaction, proof)
    where = store.locate_transaction(tx.tx_id)
    b = store.block(where[0])
    body = {"height": where[0], "transaction": block_json(b)["transactions"][where[1]],
            "proof": to_builtins(merkle_proof([encode(t) for t in b.transactions], where[1]))}
    assert light.verify_inclusion(InclusionProof.from_api(body)) == tx


def test_light_client_rejects_bad_inclusion_proofs(chain):
    keys, membership, blocks, store = chain
    light = LightClient("light-0", membership)
    for b in blocks:
        light.accept(b)
    good = prove_inclusion(store, blocks[0].transactions[0].tx_id)
    other = make_transaction(keys["dev1"], "dev1", 1, "kv.set", b"never submitted")
    with pytest.raises(ChainValidationError, match="not included"):
        light.verify_inclusion(msgspec.structs.replace(good, tx=other))
    bad_path = MerkleProof(index=good.proof.index, size=good.proof.size, path=[bytes(32)] * len(good.proof.path))
    if good.proof.path:
        with pytest.raises(ChainValidationError, match="not included"):
            light.verify_inclusion(msgspec.structs.replace(good, proof=bad_path))
    with pytest.raises(ChainValidationError, match="verified headers up to"):
        light.verify_inclusion(msgspec.structs.replace(good, height=light.height + 1))
    assert prove_inclusion(store, other.tx_id) is None


def test_light_client_follows_pushed_blocks_as_an_observer_kind(chain):
    _, membership, blocks, _ = chain
    light = LightClient("light-0", membership)
    assert light.on_message("v1", CommittedBlock(block=blocks[1]), 0.0) == []  # waits for height 1
    # blocks prove themselves, so fellow members may gossip them; strangers are refused
    assert "not a member" in light.on_message("stranger", CommittedBlock(block=blocks[0]), 0.0)[0].reason
    assert light.height == 0
    light.on_message("dev0", CommittedBlock(block=blocks[0]), 0.0)
    assert light.height == 2
