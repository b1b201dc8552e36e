"""The root fixes of issue 16: votes only in the replica's own view, one digest per (view, height)
across restarts, durable before sent, and conflicting certificates treated as evidence."""

import msgspec

from edgeledger.codec import encode
from edgeledger.consensus.base import Persist
from edgeledger.consensus.pbft import (BlockBatch, NewView, PbftConfig, PbftReplica, Prepare, PreparedCertificate,
                                       PrePrepare, Status, ViewChange)
from edgeledger.consensus.pbft.durable import VoteRecord
from edgeledger.consensus.pbft.viewchange import certificate_conflicts, valid_new_view
from edgeledger.effects import Broadcast, Metric, Rejected
from edgeledger.ledger import genesis_hash, make_transaction
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from tests.conftest import make_chain
from tests.consensus.harness import Harness

KEYS, MEMBERSHIP = make_chain(4)
GENESIS = genesis_hash(MEMBERSHIP.genesis)


def _sign(msg):
    return msgspec.structs.replace(msg, signature=KEYS[msg.replica].sign(msg.signing_bytes(MEMBERSHIP.chain_id)))


def _block(height, prev, proposer="v0", nonce=0):
    txs = [make_transaction(KEYS["dev0"], "dev0", height * 100 + nonce + 1, "test.noop", b"%d" % nonce)]
    header = BlockHeader(chain_id=MEMBERSHIP.chain_id, height=height, prev_hash=prev, tx_root=transactions_root(txs),
                         tx_count=len(txs), proposer=proposer, timestamp_ms=1000 + nonce)
    return Block(header=header, transactions=txs)


def _votes(effects, kind=Prepare):
    return [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, kind)]


def _durable(effects):
    return [encode(e.record) for e in effects if isinstance(e, Persist)]


def test_pbft_buffered_pre_prepare_is_not_prepared_after_a_view_change():
    """The reported attack, steps 1-2: a PRE-PREPARE for height 2 reaches a laggard that has not
    executed height 1; it changes view; then block 1 arrives by state transfer. It must not PREPARE
    the buffered block in its new view (nobody pre-prepared it there)."""
    h = Harness(KEYS, MEMBERSHIP, drop=lambda src, dst, msg: dst == "v3")
    h.submit("v0", make_transaction(KEYS["dev0"], "dev0", 1, "test.noop", b"a"))
    h.run(until=1.0)
    block1 = h.committed["v0"][0]
    laggard = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, GENESIS, h.config)
    byz_pre = _sign(PrePrepare(view=0, height=2, block=_block(2, block1.hash), replica="v0"))
    assert _votes(laggard.receive("v0", byz_pre, 1.0)) == []  # kept: height 1 is not executed yet
    laggard._start_view_change(1, 1.1)
    assert laggard.status is Status.VIEW_CHANGE
    effects = laggard.receive("v1", BlockBatch(blocks=[block1], tip_height=1, replica="v1"), 1.2)
    assert laggard.committed_height == 1
    assert _votes(effects) == []  # before the fix: a PREPARE signed for view 1 of a view-0 proposal


def test_pbft_restarted_replica_never_prepares_a_second_digest_at_one_view_and_height():
    replica = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, GENESIS)
    first = _sign(PrePrepare(view=0, height=1, block=_block(1, GENESIS, nonce=1), replica="v0"))
    effects = replica.receive("v0", first, 0.0)
    assert [p.digest for p in _votes(effects)] == [first.block.hash]
    durable = _durable(effects)
    assert durable
    restarted = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, GENESIS)
    restarted.resume([], durable)
    second = _sign(PrePrepare(view=0, height=1, block=_block(1, GENESIS, nonce=2), replica="v0"))
    effects = restarted.receive("v0", second, 1.0)
    assert _votes(effects) == []
    assert any(isinstance(e, Rejected) and "already voted" in e.reason for e in effects)
    again = _votes(restarted.receive("v0", first, 1.1))  # the digest it did vote for: the same vote again
    assert [p.digest for p in again] == [first.block.hash]


def test_pbft_every_vote_is_persisted_before_it_is_sent():
    h = Harness(KEYS, MEMBERSHIP)
    seen = []
    original = h.apply

    def apply(node, effects):
        durable = set()
        for e in effects:
            if isinstance(e, Persist) and isinstance(e.record, VoteRecord):
                durable.add((e.record.view, e.record.height, e.record.digest))
            if isinstance(e, Broadcast) and type(e.message).__name__ in ("PrePrepare", "Prepare", "Commit"):
                m = e.message
                digest = m.block.hash if isinstance(m, PrePrepare) else m.digest
                seen.append((m.view, m.height, digest) in durable or (m.view, m.height, digest) in persisted[node])
        for e in effects:
            if isinstance(e, Persist) and isinstance(e.record, VoteRecord):
                persisted[node].add((e.record.view, e.record.height, e.record.digest))
        original(node, effects)

    persisted = {v: set() for v in h.replicas}
    h.apply = apply
    for i in range(3):
        h.submit("v0", make_transaction(KEYS["dev0"], "dev0", i + 1, "test.noop", b"%d" % i))
    h.run()
    assert seen and all(seen)
    assert all(len(blocks) >= 1 for blocks in h.committed.values())


def test_pbft_restart_in_a_view_change_resends_the_same_view_change_with_its_certificates():
    h = Harness(KEYS, MEMBERSHIP, drop=lambda src, dst, msg: type(msg).__name__ == "Commit")
    h.submit("v0", make_transaction(KEYS["dev0"], "dev0", 1, "test.noop", b"a"))
    h.run(until=0.5)
    replica = h.replicas["v2"]
    assert replica.prepared and not h.committed["v2"]  # prepared, not committed (every COMMIT lost)
    h.apply("v2", replica._start_view_change(1, 1.0))
    before = replica._own_view_changes[1]
    assert before.prepared
    restarted = PbftReplica("v2", KEYS["v2"], MEMBERSHIP, GENESIS, h.config)
    restarted.resume([], h.durable_log("v2"))  # its vote, prepared certificate, view and VIEW-CHANGE
    effects = restarted.start(2.0)
    assert restarted.status is Status.VIEW_CHANGE and restarted.view == 1
    resent = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, ViewChange)]
    assert resent == [before] and resent[0].prepared


def _cert(view, height, block, proposer, voters):
    pre = _sign(PrePrepare(view=view, height=height, block=block, replica=proposer))
    prepares = [_sign(Prepare(view=view, height=height, digest=block.hash, replica=v)) for v in voters]
    return PreparedCertificate(pre_prepare=pre, prepares=prepares)


def _vc(replica, view, certs):
    return _sign(ViewChange(new_view=view, checkpoint_height=0, checkpoint_digest=GENESIS, checkpoint_proof=[],
                            prepared=certs, committed_height=0, replica=replica))


def test_pbft_new_view_with_same_view_conflicting_certificates_is_refused_naming_the_double_signers():
    a, b = _block(1, GENESIS, nonce=1), _block(1, GENESIS, nonce=2)
    cert_a = _cert(1, 1, a, "v1", ["v0", "v2"])  # v1 and v0 sign both: proof that both equivocated
    cert_b = _cert(1, 1, b, "v1", ["v0", "v3"])
    vcs = [_vc("v0", 2, []), _vc("v2", 2, [cert_a]), _vc("v3", 2, [cert_b])]
    conflicts = certificate_conflicts(vcs)
    assert [c.signers for c in conflicts] == [("v0", "v1")]
    pres = [_sign(PrePrepare(view=2, height=1, block=a if a.hash < b.hash else b, replica="v2"))]
    nv = _sign(NewView(view=2, view_changes=vcs, pre_prepares=pres, replica="v2"))
    replica = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, GENESIS)
    reason = valid_new_view(MEMBERSHIP, nv, GENESIS, replica.proposer_ok, 1, "v2")
    assert reason is not None and "['v0', 'v1'] signed both" in reason
    replica.view, replica.status = 2, Status.VIEW_CHANGE
    effects = replica.receive("v2", nv, 5.0)
    assert any(isinstance(e, Metric) and e.name == "pbft.equivocation_evidence" for e in effects)
    assert any(isinstance(e, Rejected) and e.what == "NewView" for e in effects)
    assert replica.status is Status.VIEW_CHANGE  # not installed


def test_pbft_new_primary_leaves_out_view_changes_with_conflicting_certificates():
    a, b = _block(1, GENESIS, nonce=1), _block(1, GENESIS, nonce=2)
    cert_a = _cert(1, 1, a, "v1", ["v0", "v3"])
    cert_b = _cert(1, 1, b, "v1", ["v0", "v3"])
    leader = PbftReplica("v2", KEYS["v2"], MEMBERSHIP, GENESIS)
    effects = leader._start_view_change(2, 1.0)  # v2 leads view 2
    for vc in (_vc("v0", 2, [cert_a]), _vc("v3", 2, [cert_b]), _vc("v1", 2, [])):
        effects += leader.receive(vc.replica, vc, 1.1)
    assert any(isinstance(e, Metric) and e.name == "pbft.equivocation_evidence" for e in effects)
    new_views = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, NewView)]
    assert new_views == []  # v0 and v3 carry the conflict: {v1, v2} is no quorum, so it waits
    leader.view_changes[2].pop("v3")  # say v3's VIEW-CHANGE had not arrived: {v0, v1, v2} has no conflict
    effects = leader.receive("v1", _vc("v1", 2, []), 1.2)
    new_views = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, NewView)]
    assert len(new_views) == 1 and sorted(vc.replica for vc in new_views[0].view_changes) == ["v0", "v1", "v2"]
    assert [p.block.hash for p in new_views[0].pre_prepares] == [a.hash]


def test_pbft_two_prepares_of_one_replica_at_one_slot_are_reported_as_evidence():
    replica = PbftReplica("v3", KEYS["v3"], MEMBERSHIP, GENESIS)
    block = _block(1, GENESIS)
    replica.receive("v0", _sign(PrePrepare(view=0, height=1, block=block, replica="v0")), 0.0)
    replica.receive("v1", _sign(Prepare(view=0, height=1, digest=block.hash, replica="v1")), 0.1)
    effects = replica.receive("v1", _sign(Prepare(view=0, height=1, digest=b"\x01" * 32, replica="v1")), 0.2)
    assert any(isinstance(e, Metric) and e.name == "pbft.equivocation_evidence" for e in effects)
    assert any(isinstance(e, Rejected) and e.sender == "v1" and "two digests" in e.reason for e in effects)


def test_pbft_explicit_leader_order_names_each_views_primary():
    replica = PbftReplica("v0", KEYS["v0"], MEMBERSHIP, GENESIS, PbftConfig(leader_order=(2, 2, 0)))
    assert [replica.primary_of(v, 1) for v in range(4)] == ["v2", "v2", "v0", "v2"]
    assert [replica.view_leader(v) for v in range(4)] == ["v2", "v2", "v0", "v2"]
