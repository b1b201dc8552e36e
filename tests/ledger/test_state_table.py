"""The chain state on disk (issue 18): a SQLite table with a bounded cache, durable with each block."""

from __future__ import annotations

from edgeledger.ledger import ChainStore, LedgerState, make_transaction
from edgeledger.ledger.state_table import StateTable
from edgeledger.node.node import Node
from tests.ledger.test_chain import committed_chain


def _node(path, membership, keys):
    return Node(node_id="dev0", role="device", key=keys["dev0"], membership=membership, store=ChainStore(path))


def test_a_node_on_disk_keeps_its_state_in_sqlite_and_resumes_it_without_a_replay(tmp_path):
    keys, membership, blocks = committed_chain(12)
    path = tmp_path / "chain.sqlite"
    node = _node(path, membership, keys)
    assert isinstance(node.state.kv, StateTable)
    for b in blocks:
        node._commit(b, 0.0)
    assert node.state.kv["k11"] == b"11" and node.state.durable.height == len(blocks)
    node.store.close()

    again = _node(path, membership, keys)
    assert again.state.height == len(blocks) and again.state.kv.get("k3") == b"3"
    assert sorted(again.state.kv) == sorted(f"k{i}" for i in range(12))  # iteration: key order, from disk
    # the replay window of nonces came back too: an old transaction is refused as a replay
    replay = make_transaction(keys["dev0"], "dev0", 5, "test.set", b"k5=x")
    assert "already used" in again.state.check(replay)
    # a dict-backed replay of the same blocks gives the same state (the table is only storage)
    memory = LedgerState(membership)
    for b in blocks:
        memory.apply_block(b)
    assert dict(again.state.kv.items()) == memory.kv and again.state.nonces == memory.nonces


def test_state_changes_of_a_block_are_durable_only_with_the_block(tmp_path):
    keys, membership, blocks = committed_chain(15)
    assert len(blocks) >= 2
    path = tmp_path / "chain.sqlite"
    node = _node(path, membership, keys)
    node._commit(blocks[0], 0.0)
    node.state.apply_block(blocks[1])  # applied in memory, then the process dies before the append
    assert node.state.kv.get(f"k{len(blocks[0].transactions)}") is not None  # the block's own reads see it
    node.store.close()
    again = _node(path, membership, keys)
    assert again.state.height == 1 and again.store.height == 1
    assert again.state.kv.get(f"k{len(blocks[0].transactions)}") is None


def test_a_store_written_without_a_state_table_is_replayed_into_one(tmp_path):
    keys, membership, blocks = committed_chain(8)
    path = tmp_path / "chain.sqlite"
    store, state = ChainStore(path), LedgerState(membership)
    for b in blocks:
        store.append(b, state.apply_block(b))  # no open_state(): an older node's store
    store.close()
    node = _node(path, membership, keys)
    assert node.state.durable.height == len(blocks) and dict(node.state.kv.items()) == state.kv


def test_the_cache_in_front_of_the_table_is_bounded_in_bytes(tmp_path):
    store = ChainStore(tmp_path / "chain.sqlite")
    durable = store.open_state(cache_bytes=64 * 1024)
    kv = durable.kv
    for i in range(2000):
        kv[f"key/{i}"] = bytes(1000)
    store.put_state(1)
    assert kv.cached_bytes <= 64 * 1024
    assert kv.get("key/0") == bytes(1000) and kv.misses >= 1  # evicted, read back from SQLite
    del kv["key/1"]
    assert "key/1" not in kv and kv.pop("key/2") == bytes(1000)
    store.put_state(2)
    assert kv.get("key/1") is None and len(kv) == 1998
