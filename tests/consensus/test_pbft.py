import msgspec
import pytest

from edgeledger.consensus.pbft import Commit, PbftReplica, PrePrepare
from edgeledger.errors import ConfigError
from edgeledger.ledger import genesis_hash, make_transaction, validate_chain
from tests.conftest import make_chain
from tests.consensus.harness import Harness


def _txs(keys, n, sender="dev0"):
    return [make_transaction(keys[sender], sender, i + 1, "test.noop", b"x%d" % i) for i in range(n)]


def test_pbft_commits_with_four_replicas_and_all_agree():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    for tx in _txs(keys, 25):
        h.submit("v1", tx)  # a backup: forwarded to the primary
    h.run()
    chains = [[b.hash for b in blocks] for blocks in h.committed.values()]
    assert all(c == chains[0] for c in chains)
    assert sum(len(b.transactions) for b in h.committed["v0"]) == 25
    validate_chain(h.committed["v2"], membership, genesis_hash(membership.genesis))


def test_pbft_commits_with_one_silent_replica():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, silent={"v3"})
    for tx in _txs(keys, 5):
        h.submit("v0", tx)
    h.run()
    assert sum(len(b.transactions) for b in h.committed["v1"]) == 5
    assert h.committed["v3"] == []
    validate_chain(h.committed["v1"], membership, genesis_hash(membership.genesis))


def test_pbft_stalls_without_a_quorum():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, silent={"v2", "v3"})
    for tx in _txs(keys, 3):
        h.submit("v0", tx)
    h.run()
    assert all(blocks == [] for blocks in h.committed.values())


def test_pbft_rejects_pre_prepare_from_a_backup_and_forged_votes():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    honest = h.replicas["v1"]
    # v2 (not primary) proposes: rejected, nothing changes
    rogue = PbftReplica("v2", keys["v2"], membership, genesis_hash(membership.genesis))
    rogue.view = 0
    for tx in _txs(keys, 1):
        rogue.mempool[tx.tx_id] = tx
    pre = [e.message for e in rogue._propose(0.0) if hasattr(e, "message")][0]
    assert isinstance(pre, PrePrepare)
    effects = honest.receive("v2", pre, 0.0)
    assert [type(e).__name__ for e in effects] == ["Rejected"]
    assert honest.slots.get(1) is None or honest.slots[1].block is None
    # a COMMIT claiming to be from v3 but signed by v2
    forged = Commit(view=0, height=1, digest=b"\0" * 32, replica="v3")
    forged = msgspec.structs.replace(forged, signature=keys["v2"].sign(forged.signing_bytes("test")))
    assert [type(e).__name__ for e in honest.receive("v3", forged, 0.0)] == ["Rejected"]


def test_pbft_refuses_fewer_than_four_validators():
    keys, membership = make_chain(3)
    with pytest.raises(ConfigError, match="at least 4 validators; got n=3"):
        PbftReplica("v0", keys["v0"], membership, genesis_hash(membership.genesis))


def test_pbft_never_commits_a_transaction_twice():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    txs = _txs(keys, 3)
    for tx in txs + txs:
        h.submit("v0", tx)
        h.submit("v2", tx)
    h.run()
    ids = [tx.tx_id for b in h.committed["v0"] for tx in b.transactions]
    assert len(ids) == len(set(ids)) == 3
