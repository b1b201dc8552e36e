"""PBFT recovery paths: view change, leader rotation, checkpoints, state transfer, restart."""

import msgspec

from edgeledger.consensus.pbft import (BlockBatch, Commit, NewView, PbftConfig, PbftReplica, PrePrepare, Status,
                                       ViewChange)
from edgeledger.ledger import genesis_hash, make_transaction, validate_chain
from tests.conftest import make_chain
from tests.consensus.harness import Harness


def _txs(keys, n, sender="dev0", start=0):
    return [make_transaction(keys[sender], sender, start + i + 1, "test.noop", b"x%d" % (start + i)) for i in range(n)]


def _heights(h):
    return {v: len(blocks) for v, blocks in h.committed.items()}


def _assert_agree(h, membership):
    longest = max(h.committed.values(), key=len)
    for blocks in h.committed.values():
        assert [b.hash for b in blocks] == [b.hash for b in longest[: len(blocks)]]
    validate_chain(longest, membership, genesis_hash(membership.genesis))


def test_pbft_view_change_replaces_a_silent_primary():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, silent={"v0"}, config=PbftConfig(view_change_timeout_s=0.5))
    for tx in _txs(keys, 3):
        h.submit("v1", tx)
    h.run(until=10)
    assert all(h.replicas[v].view == 1 and h.replicas[v].status is Status.NORMAL for v in ("v1", "v2", "v3"))
    assert [len(h.committed[v]) for v in ("v1", "v2", "v3")] == [1, 1, 1]
    assert h.committed["v2"][0].header.proposer == "v1"
    _assert_agree(h, membership)


def test_pbft_view_change_keeps_prepared_request():
    """Only v1 gets the COMMITs for height 1, then goes silent: the others must commit the same block."""
    keys, membership = make_chain(4)

    def drop(src, dst, msg):
        return isinstance(msg, Commit) and dst != "v1"

    h = Harness(keys, membership, config=PbftConfig(view_change_timeout_s=0.5), drop=drop)
    for tx in _txs(keys, 2):
        h.submit("v0", tx)
    h.run(until=0.2)
    assert len(h.committed["v1"]) == 1 and all(len(h.committed[v]) == 0 for v in ("v0", "v2", "v3"))
    prepared_block = h.committed["v1"][0]
    h.silent.add("v1")
    h.drop = lambda src, dst, msg: False
    h.run(until=10)
    assert all(h.replicas[v].view >= 1 for v in ("v0", "v2", "v3"))
    for v in ("v0", "v2", "v3"):
        assert h.committed[v][0].hash == prepared_block.hash
    _assert_agree(h, membership)


def test_pbft_view_change_timeouts_double():
    keys, membership = make_chain(7)  # f = 2: the primary of view 0 and the leader of view 1 are silent
    h = Harness(keys, membership, silent={"v0", "v1"}, config=PbftConfig(view_change_timeout_s=0.5))
    h.submit("v3", _txs(keys, 1)[0])
    h.run(until=20)
    delays = [d for _, node, name, d in h.timer_log if node == "v3" and name == "pbft.view_change"]
    # request timer T; in view change 1: resend T, NEW-VIEW wait T; in view change 2: resend T, NEW-VIEW wait 2T
    assert delays[:5] == [0.5, 0.5, 0.5, 0.5, 1.0]
    assert all(h.replicas[v].view == 2 for v in ("v2", "v3", "v4", "v5", "v6"))
    assert len(h.committed["v3"]) == 1 and h.committed["v3"][0].header.proposer == "v2"


def test_pbft_rotating_leader_changes_proposer_every_block():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, config=PbftConfig(max_block_txs=1, rotate_leader=True))
    for tx in _txs(keys, 6):
        h.submit("v2", tx)
    h.run()
    proposers = [b.header.proposer for b in h.committed["v0"]]
    assert proposers == ["v1", "v2", "v3", "v0", "v1", "v2"]
    _assert_agree(h, membership)


def test_pbft_rotating_leader_skips_a_silent_sealer():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, silent={"v2"},
                config=PbftConfig(max_block_txs=1, rotate_leader=True, view_change_timeout_s=0.5))
    for tx in _txs(keys, 4):
        h.submit("v1", tx)
    h.run(until=30)
    assert sum(len(b.transactions) for b in h.committed["v0"]) == 4
    _assert_agree(h, membership)


def test_pbft_checkpoints_become_stable_and_collect_the_log():
    keys, membership = make_chain(4)
    cfg = PbftConfig(max_block_txs=1, checkpoint_interval=2, window=8)
    h = Harness(keys, membership, config=cfg)
    for tx in _txs(keys, 7):
        h.submit("v0", tx)
    h.run()
    for replica in h.replicas.values():
        assert replica.committed_height == 7
        assert replica.checkpoints.stable_height == 6
        assert len(replica.checkpoints.stable_proof) >= membership.quorum
        assert all(height > 6 for height in replica.prepared)


def test_pbft_state_transfer_catches_up_a_partitioned_replica():
    keys, membership = make_chain(4)
    cut = {"on": True}
    h = Harness(keys, membership, config=PbftConfig(max_block_txs=1, checkpoint_interval=2, window=8),
                drop=lambda src, dst, msg: cut["on"] and "v3" in (src, dst))
    for tx in _txs(keys, 12):
        h.submit("v0", tx)
    h.run(until=5)
    assert h.replicas["v3"].committed_height == 0 and h.replicas["v0"].committed_height == 12
    cut["on"] = False
    h.submit("v0", _txs(keys, 1, start=12)[0])
    h.run(until=10)
    assert h.replicas["v3"].committed_height == 13
    _assert_agree(h, membership)


def test_pbft_state_transfer_refuses_a_block_without_a_valid_certificate():
    keys, membership = make_chain(4)
    h = Harness(keys, membership)
    for tx in _txs(keys, 2):
        h.submit("v0", tx)
    h.run()
    good = h.committed["v0"][0]
    cert = msgspec.structs.replace(good.certificate, votes=good.certificate.votes[:1])
    fresh = PbftReplica("v3", keys["v3"], membership, genesis_hash(membership.genesis))
    effects = fresh.receive("v1", BlockBatch(blocks=[msgspec.structs.replace(good, certificate=cert)], tip_height=1,
                                             replica="v1"), 0.0)
    assert [type(e).__name__ for e in effects if type(e).__name__ == "Rejected"] == ["Rejected"]
    assert fresh.committed_height == 0
    effects = fresh.receive("v1", BlockBatch(blocks=[good], tip_height=1, replica="v1"), 0.0)
    assert fresh.committed_height == 1 and fresh.last_hash == good.hash


def test_pbft_restarted_replica_resumes_and_catches_up():
    keys, membership = make_chain(4)
    h = Harness(keys, membership, config=PbftConfig(max_block_txs=1))
    for tx in _txs(keys, 3):
        h.submit("v0", tx)
    h.run()
    kept = h.committed["v2"][:2]
    h.replicas["v2"] = PbftReplica("v2", keys["v2"], membership, genesis_hash(membership.genesis), h.config)
    h.replicas["v2"].resume(kept)
    h.committed["v2"] = list(kept)
    for tx in _txs(keys, 2, start=3):
        h.submit("v0", tx)
    h.run()
    assert h.replicas["v2"].committed_height == 5
    _assert_agree(h, membership)


def test_pbft_backup_refuses_a_new_view_with_tampered_reproposals():
    keys, membership = make_chain(4)

    def drop(src, dst, msg):
        return isinstance(msg, Commit)

    h = Harness(keys, membership, silent={"v0"}, config=PbftConfig(view_change_timeout_s=0.5))
    h.submit("v1", _txs(keys, 1)[0])
    h.run(until=10)
    new_views = [m for _, _, m in h.sent if isinstance(m, NewView)]
    assert new_views, "a NEW-VIEW was sent"
    nv = new_views[0]
    assert isinstance(nv.view_changes[0], ViewChange)
    tampered = msgspec.structs.replace(nv, pre_prepares=nv.pre_prepares[:-1] if nv.pre_prepares else [
        PrePrepare(view=nv.view, height=1, block=h.committed["v1"][0], replica=nv.replica)])
    tampered = msgspec.structs.replace(tampered, signature=keys[nv.replica].sign(
        tampered.signing_bytes(membership.chain_id)))
    fresh = PbftReplica("v3", keys["v3"], membership, genesis_hash(membership.genesis))
    fresh.view, fresh.status = nv.view, Status.VIEW_CHANGE
    effects = fresh.receive(nv.replica, tampered, 1.0)
    assert [type(e).__name__ for e in effects] == ["Rejected"]
    assert fresh.status is Status.VIEW_CHANGE


def test_pbft_accepts_a_new_view_forwarded_by_another_replica_but_not_a_forged_one():
    """Replicas answer laggards with the latest NEW-VIEW, authored by the new primary (self-authenticating)."""
    keys, membership = make_chain(4)
    h = Harness(keys, membership, silent={"v0"}, config=PbftConfig(view_change_timeout_s=0.5))
    for tx in _txs(keys, 3):
        h.submit("v1", tx)
    h.run(until=10)
    new_view = h.replicas["v2"].last_new_view
    assert new_view is not None and new_view.replica == "v1"
    laggard = PbftReplica("v3", keys["v3"], membership, genesis_hash(membership.genesis),
                          PbftConfig(view_change_timeout_s=0.5))
    effects = laggard.receive("v2", new_view, 11.0)  # forwarded by v2, authored by v1
    assert not any(type(e).__name__ == "Rejected" and "named in the message" in e.reason for e in effects)
    forged = msgspec.structs.replace(new_view, signature=keys["v2"].sign(new_view.signing_bytes("test")))
    effects = laggard.receive("v2", forged, 12.0)
    assert any(type(e).__name__ == "Rejected" for e in effects)
