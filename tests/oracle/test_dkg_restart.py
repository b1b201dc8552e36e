"""A member restarted in the middle of a key generation resumes from its saved state and is not excluded.

The simulator's oracle chain runs the groups' key generation; ``D.o1`` is "restarted" once its
deal has committed: its key-generation service is replaced by a fresh member with nothing in
memory, and the node starts it again as a restarted process would (``Node.start``: ``resume``
from the record the service kept with the node). With the record it finishes with a valid
share of the group key; without it (a first start) it has lost its polynomial and the shares
it received, and ends with none.
"""

import random

from edgeledger.codec import decode
from edgeledger.crypto.threshold import verify_share
from edgeledger.effects import Rejected
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle.dkg import dkg_session
from edgeledger.oracle.dkg_member import STATE_KEY, DkgMember, DkgSaved, KeyGenService
from edgeledger.oracle.proxy import oracle_group
from edgeledger.oracle.simnet import PROXY, build_oracle_chain
from edgeledger.oracle.sources import NoisySensor

GROUPS = {"g0": ["D.o0", "D.o1", "D.o2"], "g1": ["D.o3", "D.o4", "D.o5"]}
VICTIM = "D.o1"


def _service(node):
    return next(s for s in node.services if isinstance(s, KeyGenService))


def _restart(sim, node, with_saved_state: bool) -> KeyGenService:
    """Replace the member's service by a fresh one and start the node's services again."""
    old = _service(node)
    member = DkgMember(VICTIM, old.member.key, old.member.membership, PROXY, random.Random(7), old.member.sign)
    fresh = KeyGenService(member, old.state_view, old.on_group, old.chain_height)
    others, node.services = node.services, [fresh]
    if not with_saved_state:  # the node finds no record for it: a first start
        fresh.state_key = ""
    try:
        sim.apply(VICTIM, node.start(sim.now))
    finally:
        node.services = [fresh if s is old else s for s in others]
    return fresh


def _run(with_saved_state: bool):
    sim = Simulator(3, lambda a, b: Link(0.005, 1e9))
    sources = {o: NoisySensor(seed=3) for members in GROUPS.values() for o in members}
    chain = build_oracle_chain(sim, "D", GROUPS, sources=sources, seed=b"pedal-dkg-test-seed-0001",
                               dkg_window_ms=2_000)
    node = chain.nodes[VICTIM]

    def dealt():
        session = dkg_session(node.state.kv, PROXY, "g0")
        return session is not None and VICTIM in session["dealt"]

    sim.run(until=10.0, stop=dealt)
    assert dealt() and dkg_session(node.state.kv, PROXY, "g0")["status"] == "open"  # mid-generation
    kept = decode(node.store.get_meta(f"service/{STATE_KEY}"), DkgSaved)
    # the polynomial it dealt was durable before its deal left
    assert sorted(kept.generations["g0"].dealt) == GROUPS["g0"] and kept.height <= node.store.height
    fresh = _restart(sim, node, with_saved_state)
    sim.run(until=sim.now + 10.0, stop=chain.ready)
    return chain, fresh


def test_a_member_restarted_mid_generation_resumes_from_its_saved_state():
    chain, fresh = _run(with_saved_state=True)
    kv = chain.nodes[chain.requester].state.kv
    group = oracle_group(kv, PROXY, "g0")
    assert group is not None and group.members == GROUPS["g0"]  # nobody excluded
    share = fresh.member.shares["g0"]
    assert verify_share(share.index, share, group.commitments)


def test_without_its_saved_state_a_restarted_member_ends_without_a_share():
    chain, fresh = _run(with_saved_state=False)
    assert "g0" not in fresh.member.shares  # its polynomial and received shares were lost


def test_a_damaged_saved_state_is_a_counted_rejection_not_a_crash():
    sim = Simulator(1, lambda a, b: Link(0.005, 1e9))
    chain = build_oracle_chain(sim, "D", {"g0": ["D.o0", "D.o1"]}, sources={"D.o0": NoisySensor(seed=1),
                                                                       "D.o1": NoisySensor(seed=1)})
    service = _service(chain.nodes["D.o0"])
    effects = service.resume(b"\x93not a record", chain.nodes["D.o0"].store, 0.0)
    assert any(isinstance(e, Rejected) and "saved key-generation state unreadable" in e.reason for e in effects)
    assert service.member.generations == {}  # it goes on as a first start would


def test_a_malformed_deal_event_is_a_complaint_not_a_crash():
    from edgeledger.oracle.dkg_member import _Generation

    sim = Simulator(1, lambda a, b: Link(0.005, 1e9))
    chain = build_oracle_chain(sim, "D", {"g0": ["D.o0", "D.o1"]}, sources={"D.o0": NoisySensor(seed=1),
                                                                       "D.o1": NoisySensor(seed=1)})
    member = _service(chain.nodes["D.o0"]).member
    member.generations["gz"] = _Generation(["D.o0", "D.o1", "D.o2"], 2)
    for dealer, shares in [("D.o1", 5), ("D.o2", {"D.o0": 7})]:
        assert member.on_event("dkg_dealt", {"group_id": "gz", "dealer": dealer, "shares": shares,
                                             "commitments": []}) == []
    assert member.generations["gz"].complaints == {"D.o1", "D.o2"}


def test_a_deal_or_answer_that_did_not_commit_is_sent_again():
    from edgeledger.ledger.contracts import ContractCall
    from edgeledger.oracle.dkg_member import RESEND_BLOCKS

    sim = Simulator(1, lambda a, b: Link(0.005, 1e9))
    chain = build_oracle_chain(sim, "D", {"g0": ["D.o0", "D.o1"]}, sources={"D.o0": NoisySensor(seed=1),
                                                                       "D.o1": NoisySensor(seed=1)})
    member = _service(chain.nodes["D.o0"]).member
    (deal,) = member.on_event("dkg_opened", {"group_id": "gz", "members": ["D.o0", "D.o1"], "threshold": 2})
    session = {"status": "open", "members": ["D.o0", "D.o1"], "threshold": 2, "window_ms": 10**9, "opened_ms": 1,
               "dealt": {}, "verdicts": {}, "answers": {}, "marks": {}}
    waits = [member.on_state("gz", session, 2) for _ in range(RESEND_BLOCKS + 1)]
    assert waits[:-1] == [[]] * RESEND_BLOCKS and len(waits[-1]) == 1  # the deal never committed: again

    def args(effect):
        return decode(effect.tx.payload, ContractCall).args

    assert args(waits[-1][0])[1] == args(deal)[1]  # the same polynomial's commitments
    session.update(dealt={"D.o0": args(deal)[1], "D.o1": args(deal)[1]}, verdicts={"D.o0": [], "D.o1": ["D.o0"]},
                   marks={"verdicts": 2, "answers": 3})
    (answer,) = member.on_state("gz", session, 4)
    assert args(answer)[1] == "D.o1"
    waits = [member.on_state("gz", session, 4) for _ in range(RESEND_BLOCKS + 1)]
    assert waits[:-1] == [[]] * RESEND_BLOCKS and args(waits[-1][0]) == args(answer)
    session["answers"] = {"D.o0/D.o1": True}  # committed: no more answers, the generation closes
    later = [e for _ in range(RESEND_BLOCKS + 2) for e in member.on_state("gz", session, 4)]
    assert [decode(e.tx.payload, ContractCall).method for e in later] == ["dkg_finish"]
