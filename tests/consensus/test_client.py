"""The PBFT client: nonces, submission to every validator, and the f+1 matching-reply rule."""

import msgspec

from edgeledger.consensus.client import PbftClient, make_replies, reply_statement
from edgeledger.effects import Broadcast, CancelTimer, Rejected, SetTimer
from edgeledger.ledger.kv import KVSet
from tests.conftest import make_chain
from tests.consensus.harness import Harness


def _committed_run(n_txs=3):
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    client = PbftClient("dev0", keys["dev0"], membership)
    txs = []
    for i in range(n_txs):
        tx, effects = client.submit("kv.set", KVSet(key=f"k{i}", value=b"v"), h.now)
        assert [type(e) for e in effects] == [Broadcast, SetTimer] and effects[0].to == tuple(membership.validators)
        h.apply("dev0", [e for e in effects if not isinstance(e, SetTimer)])  # the harness runs replica timers only
        txs.append(tx)
    h.run(until=5.0)
    return keys, membership, h, client, txs


def _lie(reply, key, chain_id):
    fake = bytes(32)
    sig = key.sign(reply_statement(chain_id, reply.tx_id, reply.height, fake))
    return msgspec.structs.replace(reply, block_hash=fake, signature=sig)


def test_client_nonces_increase_and_never_reuse_a_committed_one():
    keys, membership = make_chain(4)
    client = PbftClient("dev0", keys["dev0"], membership)
    nonces = [client.submit("kv.set", KVSet(key="a", value=b"1"), 0.0)[0].nonce for _ in range(3)]
    assert nonces == [1, 2, 3]
    client.sync_nonce(10)  # the chain state says dev0 already used nonce 10 (another session)
    assert client.submit("kv.set", KVSet(key="a", value=b"1"), 0.0)[0].nonce == 11
    client.sync_nonce(5)
    assert client.next_nonce() == 12


def test_client_accepts_a_commit_once_f_plus_1_validators_match_despite_one_liar():
    keys, membership, h, client, txs = _committed_run()
    assert all(len(h.committed[v]) >= 1 for v in membership.validators)
    liar = "v3"
    tx = txs[0]
    honest = {v: next(r for b in h.committed[v] for r in make_replies(b, v, keys[v], {"dev0"}) if r.tx_id == tx.tx_id)
              for v in ("v0", "v1", "v2")}
    truth = next(r for b in h.committed[liar] for r in make_replies(b, liar, keys[liar]) if r.tx_id == tx.tx_id)
    assert client.receive(liar, _lie(truth, keys[liar], membership.chain_id), 1.0) == []
    assert client.receive(liar, truth, 1.0) == []  # a replica cannot vote twice (its first answer counts)
    assert client.receive("v0", honest["v0"], 1.0) == []  # 1 honest + 1 liar on different hashes: no result yet
    assert tx.tx_id not in client.results
    effects = client.receive("v1", honest["v1"], 1.0)
    assert [type(e) for e in effects] == [CancelTimer]
    result = client.results[tx.tx_id]
    block = next(b for b in h.committed["v2"] if any(t.tx_id == tx.tx_id for t in b.transactions))
    assert (result.height, result.block_hash, result.replicas) == (block.height, block.hash, ("v0", "v1"))
    assert client.receive("v2", honest["v2"], 1.0) == [] and tx.tx_id not in client.pending


def test_client_never_accepts_f_lies_or_forged_replies():
    keys, membership, h, client, txs = _committed_run(1)
    tx = txs[0]
    reply = next(r for b in h.committed["v0"] for r in make_replies(b, "v0", keys["v0"]) if r.tx_id == tx.tx_id)
    lie = _lie(reply, keys["v3"], membership.chain_id)
    assert client.receive("v3", msgspec.structs.replace(lie, replica="v3"), 1.0) == []
    forged = msgspec.structs.replace(reply, replica="v1")  # v0's signature under v1's name
    assert isinstance(client.receive("v1", forged, 1.0)[0], Rejected)
    assert isinstance(client.receive("dev1", msgspec.structs.replace(reply, replica="dev1"), 1.0)[0], Rejected)
    assert client.receive("v0", reply, 1.0) == [] and tx.tx_id not in client.results  # v0 alone is not f+1


def test_client_retransmits_until_a_result_is_accepted():
    keys, membership = make_chain(4)
    client = PbftClient("dev0", keys["dev0"], membership, retry_s=1.5)
    tx, effects = client.submit("kv.set", KVSet(key="a", value=b"1"), 0.0)
    name = effects[1].name
    again = client.timer(name, 1.5)
    assert isinstance(again[0], Broadcast) and again[0].message.tx == tx and again[1].delay_s == 1.5
    client.pending.clear()
    assert client.timer(name, 3.0) == []
