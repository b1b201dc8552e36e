import msgspec
import pytest

from edgeledger.errors import ChainValidationError, IntegrityError
from edgeledger.ledger import (
    ChainStore, DirectoryBlobStore, LedgerState, MemoryBlobStore, TxContext, genesis_hash, make_transaction,
    tx_kinds, validate_chain,
)
from edgeledger.ledger.block import CommitCertificate, CommitVote
from tests.conftest import make_chain
from tests.consensus.harness import Harness


@tx_kinds.register("test.set")
def _set(ctx: TxContext, tx) -> None:
    key, _, value = tx.payload.partition(b"=")
    if not key:
        from edgeledger.ledger import TransactionRejected

        raise TransactionRejected("empty key")
    ctx.put(key.decode(), value)


def committed_chain(n_txs=15):
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    for i in range(n_txs):
        h.submit("v0", make_transaction(keys["dev0"], "dev0", i + 1, "test.set", b"k%d=%d" % (i, i)))
    h.run()
    return keys, membership, h.committed["v1"]


def test_chain_validation_accepts_a_committed_chain():
    _, membership, blocks = committed_chain()
    validate_chain(blocks, membership, genesis_hash(membership.genesis))


def test_chain_validation_rejects_bad_previous_hash():
    _, membership, blocks = committed_chain()
    bad_header = msgspec.structs.replace(blocks[1].header, prev_hash=b"\x01" * 32)
    tampered = blocks[:1] + [msgspec.structs.replace(blocks[1], header=bad_header)]
    with pytest.raises(ChainValidationError, match="prev_hash"):
        validate_chain(tampered, membership, genesis_hash(membership.genesis))


def test_chain_validation_rejects_bad_merkle_root():
    keys, membership, blocks = committed_chain()
    extra = make_transaction(keys["dev1"], "dev1", 1, "test.set", b"x=1")
    tampered = [msgspec.structs.replace(blocks[0], transactions=blocks[0].transactions[:-1] + [extra])]
    with pytest.raises(ChainValidationError, match="Merkle root"):
        validate_chain(tampered, membership, genesis_hash(membership.genesis))


def test_chain_validation_rejects_bad_certificate():
    keys, membership, blocks = committed_chain()
    cert = blocks[0].certificate
    # two valid votes only
    short = msgspec.structs.replace(cert, votes=cert.votes[:2])
    with pytest.raises(ChainValidationError, match="needs a quorum of 3"):
        validate_chain([msgspec.structs.replace(blocks[0], certificate=short)], membership,
                       genesis_hash(membership.genesis))
    # the same replica three times does not count thrice; a device cannot vote
    dup = CommitCertificate(view=cert.view, height=cert.height, block_hash=cert.block_hash,
                            votes=[cert.votes[0]] * 3 + [CommitVote(replica="dev0", signature=b"\0" * 64)])
    with pytest.raises(ChainValidationError):
        validate_chain([msgspec.structs.replace(blocks[0], certificate=dup)], membership,
                       genesis_hash(membership.genesis))


def test_store_is_durable_across_reopen(tmp_path):
    _, membership, blocks = committed_chain()
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    for b in blocks:
        store.append(b)
    tx = blocks[-1].transactions[0]
    store.close()
    again = ChainStore(path)
    assert again.height == len(blocks)
    assert again.head().hash == blocks[-1].hash
    assert again.locate_transaction(tx.tx_id) == (blocks[-1].height, 0)
    assert again.block_by_hash(blocks[0].hash).height == 1
    with pytest.raises(ChainValidationError, match="expects height"):
        again.append(blocks[0])


def test_store_keeps_receipts_by_position_across_reopen_and_fills_in_missing_ones(tmp_path):
    keys, membership, blocks = committed_chain(6)
    state = LedgerState(membership)
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    for b in blocks[:-1]:
        store.append(b, state.apply_block(b))
    store.append(blocks[-1])  # e.g. a store written before receipts were kept
    last = state.apply_block(blocks[-1])
    first_tx = blocks[0].transactions[0]
    header = msgspec.structs.replace(blocks[-1].header, height=blocks[-1].height + 1)
    replay_block = msgspec.structs.replace(blocks[-1], header=header, transactions=[first_tx])
    replay_receipts = state.apply_block(replay_block)
    assert not replay_receipts[0].ok  # the copy is refused as a replay
    store.append(replay_block, replay_receipts)
    store.close()

    again = ChainStore(path)
    assert [r.ok for b in blocks[:-1] for r in again.receipts(b)] == [True] * sum(len(b.transactions) for b in blocks[:-1])
    assert again.receipts(blocks[-1]) == [None] * len(blocks[-1].transactions)
    again.put_receipts(blocks[-1], last)
    again.put_receipts(blocks[-1], [msgspec.structs.replace(r, ok=False) for r in last])  # kept: first write wins
    assert again.receipts(blocks[-1]) == last
    # the transaction is located at its first (accepted) copy; the later copy has its own receipt
    where = again.locate_transaction(first_tx.tx_id)
    assert where == (blocks[0].height, 0) and again.receipts(again.block(where[0]))[0].ok
    copy = again.receipts(replay_block)[0]
    assert copy.tx_id == first_tx.tx_id and not copy.ok and "already used" in copy.reason
    with pytest.raises(ChainValidationError, match="got 0 receipts"):
        again.put_receipts(blocks[0], [])


def test_state_applies_handlers_and_rejects_replays():
    keys, membership, blocks = committed_chain(4)
    state = LedgerState(membership)
    for b in blocks:
        assert all(r.ok for r in state.apply_block(b))
    assert state.kv["k3"] == b"3"
    replay = make_transaction(keys["dev0"], "dev0", 2, "test.set", b"k9=9")
    assert "nonce 2" in state.check(replay)
    bad = make_transaction(keys["dev0"], "dev0", 99, "test.set", b"=oops")
    receipt = state.apply_transaction(bad, 10)
    assert not receipt.ok and "empty key" in receipt.reason
    assert state.nonces["dev0"] == 4  # a failed transaction changes nothing


@pytest.mark.parametrize("kind", ["memory", "dir"])
def test_blob_store_is_content_addressed_and_detects_tampering(kind, tmp_path):
    store = MemoryBlobStore() if kind == "memory" else DirectoryBlobStore(tmp_path)
    digest = store.put(b"model weights")
    assert store.has(digest) and store.get(digest) == b"model weights"
    if kind == "dir":
        path = tmp_path / digest.hex()[:2] / digest.hex()
        path.write_bytes(b"model weightz")
    else:
        store._blobs[digest] = b"model weightz"
    with pytest.raises(IntegrityError):
        store.get(digest)


def test_kv_set_writes_state_and_rejects_oversized_values():
    from edgeledger.ledger.kv import KVSet

    keys, membership = make_chain(4)
    state = LedgerState(membership)
    ok = make_transaction(keys["dev0"], "dev0", 1, "kv.set", KVSet(key="temp/7", value=b"21.5"))
    big = make_transaction(keys["dev0"], "dev0", 2, "kv.set", KVSet(key="x", value=b"0" * 5000))
    assert state.apply_transaction(ok, 1).ok and state.kv["kv/temp/7"] == b"21.5"
    receipt = state.apply_transaction(big, 1)
    assert not receipt.ok and "exceeds 4096" in receipt.reason


def test_store_answers_none_for_heights_out_of_range():
    store = ChainStore()
    assert store.block(0) is None and store.block(-1) is None and store.block(2**70) is None


def test_nonces_may_arrive_out_of_order_but_never_twice_or_far_too_old():
    from edgeledger.ledger.state import NONCE_WINDOW

    keys, membership = make_chain(4)
    state = LedgerState(membership)

    def tx(nonce, key="k"):
        return make_transaction(keys["dev0"], "dev0", nonce, "test.set", b"%s%d=1" % (key.encode(), nonce))

    assert state.apply_transaction(tx(5), 1).ok and state.apply_transaction(tx(3), 1).ok  # reordered: fine
    assert "already used" in state.apply_transaction(tx(3, "again"), 1).reason  # a replay of nonce 3
    assert state.apply_transaction(tx(NONCE_WINDOW + 10), 2).ok
    assert "out of the window" in state.apply_transaction(tx(4), 2).reason  # unused but far too old
    assert "out of the window" in state.apply_transaction(tx(0), 2).reason


def test_a_deferred_store_opens_no_database_until_a_block_is_stored(chain4):
    from edgeledger.ledger.store import DeferredChainStore

    store = DeferredChainStore()
    assert store.height == 0 and store.head() is None and store.blocks() == [] and store.block(1) is None
    assert store._conn is None  # reads of an empty store need no database
    store.put_meta("k", b"v")
    assert store._conn is not None and store.get_meta("k") == b"v"
    store.close()
