"""The chain store's writer thread (issue 20): commits off the caller's thread, in order, and readers
that see exactly what they should (the node its own writes at once, the API only durable ones)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from edgeledger.errors import ConfigError
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.writer import StoreWriteError
from tests.conftest import make_chain


def _gate(store: ChainStore) -> threading.Event:
    """Hold every commit of ``store``'s writer until the returned event is set."""
    gate = threading.Event()
    writer = store._writer
    commit = writer._commit

    def held(ops):
        assert gate.wait(10), "the test never opened the gate"
        commit(ops)

    writer._commit = held
    return gate


def _on_disk(path, sql, *args):
    with sqlite3.connect(path) as other:  # another connection: committed rows only
        return other.execute(sql, args).fetchone()[0]


def _block(keys, height, prev, n=2):
    txs = [make_transaction(keys["dev0"], "dev0", height * 10 + i, "kv.set", b"k%d" % (height * 10 + i))
           for i in range(n)]
    header = BlockHeader(chain_id="test", height=height, prev_hash=prev, tx_root=transactions_root(txs),
                         tx_count=len(txs), proposer="v0", timestamp_ms=height)
    return Block(header=header, transactions=txs)


def test_the_node_reads_its_writes_at_once_and_the_api_only_once_they_are_durable(tmp_path):
    keys, _ = make_chain(4)
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    store.start_writer()
    gate = _gate(store)
    block = _block(keys, 1, b"\0" * 32)
    receipts = [Receipt(tx_id=tx.tx_id, height=1, ok=True) for tx in block.transactions]
    with store.group():
        store.append(block, receipts)
        store.put_meta("service/x", b"saved")
    commit = store.last_commit()
    assert commit is not None and not commit.done()
    # the node's own view: everything it wrote, durable or not
    assert store.height == 1 and store.head() == block and store.block_by_hash(block.hash) == block
    assert store.locate_transaction(block.transactions[1].tx_id) == (1, 1)
    assert [r.ok for r in store.receipts(block)] == [True, True]
    assert store.get_meta("service/x") == b"saved" and store.blocks() == [block]
    # the API's view and the disk: nothing yet
    assert store.committed.height == 0 and store.committed.block(1) is None
    assert store.committed.locate_transaction(block.transactions[0].tx_id) is None
    assert _on_disk(path, "SELECT COUNT(*) FROM blocks") == 0
    gate.set()
    commit.result(timeout=10)
    assert _on_disk(path, "SELECT COUNT(*) FROM blocks") == 1
    assert store.committed.height == 1 and store.committed.head() == block
    assert store.committed.locate_transaction(block.transactions[0].tx_id) == (1, 0)
    assert store.get_meta("service/x") == b"saved"  # now from disk
    store.close()
    reopened = ChainStore(path)
    assert reopened.height == 1 and reopened.get_meta("service/x") == b"saved"
    reopened.close()


def test_units_commit_in_order_and_a_failed_one_stops_every_later_one(tmp_path):
    keys, _ = make_chain(4)
    store = ChainStore(tmp_path / "chain.sqlite")
    store.start_writer()
    first = _block(keys, 1, b"\0" * 32)
    store.append(first)  # outside a group: its own unit
    second = _block(keys, 2, first.hash)
    store.append(second)
    store.last_commit().result(timeout=10)
    assert store.committed.blocks() == [first, second]
    assert list(store.committed.iter_blocks(chunk=1)) == [first, second]  # the dashboard's streamed read
    assert list(store.committed.iter_blocks(2, 9)) == [second]
    # a unit whose SQL fails (a duplicate height) fails, and so does everything after it
    bad = store._writer.submit([("INSERT INTO blocks VALUES (?, ?, ?)", [(1, b"x" * 32, b"")])])
    after = store._writer.submit([("INSERT INTO meta VALUES (?, ?)", [("k", b"v")])])
    with pytest.raises(StoreWriteError):
        bad.result(timeout=10)
    with pytest.raises(StoreWriteError, match="earlier"):
        after.result(timeout=10)
    assert _on_disk(tmp_path / "chain.sqlite", "SELECT COUNT(*) FROM meta WHERE key = 'k'") == 0
    store.close()


def test_state_rows_stay_readable_while_their_commit_is_pending_even_when_the_cache_dropped_them(tmp_path):
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    state = store.open_state(cache_bytes=1)  # a cache that keeps nothing
    store.start_writer()
    gate = _gate(store)
    state.kv["a"] = b"1"
    state.kv["b"] = b"2"
    store.put_state(1)
    assert state.kv.staged == {} and state.kv.get("a") == b"1" and sorted(state.kv) == ["a", "b"]
    assert store.committed.state_value("a") == (None, 0)  # not durable: the API does not see it
    del state.kv["a"]
    store.put_state(2)
    assert "a" not in state.kv and list(state.kv) == ["b"]
    gate.set()
    store.drain()
    assert state.kv.get("a") is None and state.kv.get("b") == b"2"
    assert store.committed.state_value("b") == (b"2", 2)
    store.close()


def test_a_store_in_memory_has_no_writer_thread():
    with pytest.raises(ConfigError, match="on disk"):
        ChainStore(":memory:").start_writer()
