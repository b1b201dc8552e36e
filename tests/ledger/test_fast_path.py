"""Issue 22's ledger fast path: each signature checked once per node, and group commits to SQLite."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from edgeledger.errors import SignatureError
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.identity import VerifiedTransactions
from edgeledger.ledger.transaction import signature_valid, verify_transaction
from tests.conftest import make_chain
from tests.ledger.test_chain import committed_chain


def _counting(membership):
    calls = []
    verify = membership.verify
    membership.verify = lambda *a: calls.append(a[0]) or verify(*a)
    return calls


def test_a_node_checks_each_transaction_signature_once():
    keys, membership = make_chain(4)
    calls = _counting(membership)
    tx = make_transaction(keys["dev0"], "dev0", 1, "test.set", b"a=1")
    for _ in range(3):
        verify_transaction(tx, membership)  # the API, the mempool, the proposal
    assert calls == ["dev0"]
    again = msgspec.msgpack.Decoder(type(tx)).decode(msgspec.msgpack.encode(tx))  # the same bytes from a peer
    verify_transaction(again, membership)
    assert calls == ["dev0"]
    other_node = membership.fork()  # another node's checks are not this one's
    verify_transaction(tx, other_node)
    assert calls == ["dev0", "dev0"]


def test_a_changed_signature_is_a_new_transaction_and_is_checked():
    keys, membership = make_chain(4)
    tx = make_transaction(keys["dev0"], "dev0", 1, "test.set", b"a=1")
    verify_transaction(tx, membership)
    forged = msgspec.structs.replace(tx, signature=keys["dev1"].sign(tx.signing_bytes()))
    assert forged.tx_id != tx.tx_id
    with pytest.raises(SignatureError, match="bad signature"):
        verify_transaction(forged, membership)
    assert not signature_valid(forged, membership) and signature_valid(tx, membership)
    assert forged.tx_id not in membership.verified


def test_the_verified_set_is_bounded_and_forgets_the_oldest():
    seen = VerifiedTransactions(capacity=3)
    for i in range(5):
        seen.add(bytes([i]))
    assert len(seen) == 3 and bytes([0]) not in seen and bytes([4]) in seen


def test_transaction_ids_are_computed_once_and_never_encoded():
    keys, _ = make_chain(4)
    tx = make_transaction(keys["dev0"], "dev0", 1, "test.set", b"a=1")
    first = tx.tx_id
    assert tx.tx_id is first  # cached on the object
    assert msgspec.msgpack.encode(tx) == msgspec.msgpack.encode(make_transaction(keys["dev0"], "dev0", 1, "test.set",
                                                                                  b"a=1"))


def _rows(path, table):
    with sqlite3.connect(path) as other:  # a second connection sees only committed data
        return other.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_writes_in_a_group_become_durable_together_when_it_ends(tmp_path):
    _, _, blocks = committed_chain(4)
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    with store.group():
        store.put_consensus([("pbft.vote.1", 1, b"v")])
        store.append(blocks[0])
        with store.group():  # nested: part of the outer one
            store.put_meta("k", b"v")
        assert store.height == 1 and store.block(1) is not None  # this connection reads its own writes
        assert _rows(path, "blocks") == 0 and _rows(path, "consensus_log") == 0 and _rows(path, "meta") == 0
    assert _rows(path, "blocks") == 1 and _rows(path, "consensus_log") == 1 and _rows(path, "meta") == 1
    store.close()
    assert ChainStore(path).height == 1


def test_a_failed_write_in_a_group_leaves_nothing_of_itself_and_the_rest_stays(tmp_path):
    _, _, blocks = committed_chain(4)
    path = tmp_path / "chain.sqlite"
    store = ChainStore(path)
    with store.group():
        store.put_consensus([("pbft.vote.1", 1, b"v")])
        with pytest.raises(sqlite3.IntegrityError):
            with store._write():
                store._db.execute("INSERT INTO meta VALUES (?, ?)", ("k", b"1"))
                store._db.execute("INSERT INTO meta VALUES (?, ?)", ("k", b"2"))  # primary key clash
    assert _rows(path, "consensus_log") == 1 and _rows(path, "meta") == 0
