"""Members follow any master whose election certificate the proxy would accept, whatever their
own (possibly timed-out, possibly undecided) view of the election; forged certificates are
refused off chain by the same rule as on chain; masters' messages that outrun the request wait."""

import msgspec
import pytest

from edgeledger.codec import decode, encode
from edgeledger.effects import Broadcast, Rejected, Send
from edgeledger.ledger.contracts import contract_state
from edgeledger.oracle import (
    ElectionProof, OracleFulfill, ResultProposal, ResultShare, election_threshold, pending_request, prove_term,
    qualifies, verified_output,
)
from edgeledger.oracle.election import certificate_error, fallback_quorum
from edgeledger.oracle.records import ObservationCall
from tests.oracle.pedal_harness import ORACLES, SEED, CoreRouter, OracleChain, honest_sources
from tests.oracle.test_pedal import elected, run_request, signed_fulfillment, submit_fulfill

THRESHOLD = election_threshold(1000, len(ORACLES))


def outputs_of(chain, term):
    proofs = {o: prove_term(o, chain.okeys[o].vrf_secret, SEED, term) for o in ORACLES}
    return proofs, {o: verified_output(p, chain.okeys[o].vrf_public, SEED) for o, p in proofs.items()}


def fulfilled_by(chain, txs, master):
    """Commit ``master``'s fulfillment (first) and the others; the callback value of its request."""
    ours = [tx for tx in txs if tx.sender == master]
    assert ours, f"{master} never submitted a fulfillment"
    receipts = chain.block(ours[:1] + [tx for tx in txs if tx is not ours[0]])
    assert receipts[0].ok, receipts[0].reason
    assert all(not r.ok and "not pending" in r.reason for r in receipts[1:])  # other masters lose the race
    return decode(ours[0].payload, OracleFulfill).fulfillment


@pytest.mark.parametrize("timed_out_first", [True, False])
def test_members_with_another_view_of_the_election_still_serve_a_certified_master(timed_out_first):
    """Both other members of the master's group miss its VRF proof. Either their timer fires first
    (they elect someone else) or they are still undecided when the master calls; they must still
    send it their observations and sign its proposal, or its group never reaches t."""
    chain = OracleChain()
    req = chain.request()
    master, cert, group, _ = elected(chain, req)
    missed = [m for m in group.members if m != master]
    assert group.threshold == 2 and len(missed) == 2  # the master alone is one short of t
    held, holding = [], [timed_out_first]

    def drop(src, dst, msg):
        if src == master and dst in missed:
            if isinstance(msg, ElectionProof):
                return True  # lost for good
            if holding[0]:
                held.append((src, dst, msg))  # delayed until the members' timers fired
                return True
        return False

    cores = chain.cores()
    router = CoreRouter(cores, honest_sources(), drop)
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    for m in missed:  # the election timer made them decide without the master's proof
        assert cores[m].masters[req.term][0] != master
    holding[0] = False
    for src, dst, msg in held:
        router.run(dst, router.deliver(src, dst, msg))
    assert router.rejections == []
    f = fulfilled_by(chain, router.txs, master)
    assert f.master == master and f.election == cert
    assert {o.node_id for o in cores[master].requests[req.request_id].proposal.observations} & set(missed)
    value = contract_state(chain.state.kv, "feed", f"reading/{req.request_id}")
    assert value is not None and pending_request(chain.state.kv, "oracle", req.request_id) is None


def forged_setups(chain, req, master):
    """(forger, victim, election) triples the proxy refuses: a single proof above the threshold,
    a fallback set one short of 2/3, and a fallback set padded with a duplicate."""
    proofs, outputs = outputs_of(chain, req.term)
    group_of = {m: g for g in chain.groups for m in g.members}
    quorum = fallback_quorum(len(ORACLES))
    losers = sorted((o for o in ORACLES if not qualifies(outputs[o], THRESHOLD)), key=lambda o: outputs[o])
    # a non-qualifying node other than the master that still has quorum - 2 non-qualifying nodes above it
    forger = next(o for o in losers if o != master)
    victim = next(m for m in group_of[forger].members if m != forger)
    above = [proofs[o] for o in losers[losers.index(forger) + 1:]]
    assert len(above) >= quorum - 2
    return [
        (forger, victim, [proofs[forger]], "not under the election threshold"),
        (forger, victim, [proofs[forger]] + above[: quorum - 2], f"needs >= {quorum} distinct proofs"),
        (forger, victim, [proofs[forger]] + above[: quorum - 2] + [proofs[forger]],
         f"needs >= {quorum} distinct proofs"),
    ]


def test_members_refuse_a_forged_certificate_by_the_rule_the_proxy_applies():
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    proposal = cores[master].requests[req.request_id].proposal
    for forger, victim, election, reason in forged_setups(chain, req, master):
        assert forger != master
        group = next(g for g in chain.groups if forger in g.members)
        error = certificate_error(forger, election, req.term, len(ORACLES), THRESHOLD, SEED,
                                  {o: chain.okeys[o].vrf_public for o in ORACLES}.get)
        assert error is not None and reason in error
        # the proxy refuses it for the same reason
        r = submit_fulfill(chain, forger, signed_fulfillment(chain, req, forger, election, group, group.members))
        assert not r.ok and reason in r.reason
        # members refuse its call (no observation) and its proposal (no share)
        call = ObservationCall(request_id=req.request_id, master=forger, group_id=group.group_id, election=election)
        effects = cores[victim].on_call(forger, call, 0.0)
        assert [type(e) for e in effects] == [Rejected] and "not valid" in effects[0].reason
        forged = ResultProposal(request_id=req.request_id, master=forger, group_id=group.group_id,
                                result=proposal.result, observations=proposal.observations, election=election)
        effects = cores[victim].on_proposal(forger, forged, 0.0)
        assert [type(e) for e in effects] == [Rejected] and "not an elected master" in effects[0].reason
        assert forger not in cores[victim].requests[req.request_id].followed
    # a stolen certificate: the master's own proofs presented by a member of its group
    group = next(g for g in chain.groups if master in g.members)
    impostor, victim = [m for m in group.members if m != master]
    stolen = ResultProposal(request_id=req.request_id, master=impostor, group_id=group.group_id,
                            result=proposal.result, observations=proposal.observations, election=proposal.election)
    effects = cores[victim].on_proposal(impostor, stolen, 0.0)
    assert [type(e) for e in effects] == [Rejected]


def test_malformed_certificates_are_refused_without_raising():
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    proposal = cores[master].requests[req.request_id].proposal
    group = next(g for g in chain.groups if master in g.members)
    member = next(m for m in group.members if m != master)
    other = next(o for o in ORACLES if o not in group.members)
    good = proposal.election
    for election in ([], [msgspec.structs.replace(good[0], proof=b"\x00" * 3)],
                     [msgspec.structs.replace(good[0], term=req.term + 1)],
                     [msgspec.structs.replace(good[0], node_id="nobody")]):
        bad = msgspec.structs.replace(proposal, election=election)
        cores[member].certified.clear()
        cores[member].masters.clear()  # no shortcut through its own view: check the certificate itself
        effects = cores[member].on_proposal(master, bad, 0.0)
        assert [type(e) for e in effects] == [Rejected], election
    # a master's message naming another master, or a group the receiver is not in
    assert isinstance(cores[member].on_proposal(other, proposal, 0.0)[0], Rejected)
    call = ObservationCall(request_id=req.request_id, master=master, group_id=group.group_id, election=good)
    assert isinstance(cores[other].on_call(master, call, 0.0)[0], Rejected)
    # the genuine certificate passes once checked from scratch
    assert [type(e) for e in cores[member].on_proposal(master, proposal, 0.0)] == [Send]


def test_a_proposal_that_reaches_a_member_before_the_request_is_signed_once_the_request_arrives():
    chain = OracleChain()
    req = chain.request()
    master, _, group, _ = elected(chain, req)
    late, other = [m for m in group.members if m != master]
    cores = chain.cores()
    # ``other``'s share never reaches the master: without ``late``'s share it cannot reach t
    router = CoreRouter(cores, honest_sources(), lambda s, d, m: s == other and isinstance(m, ResultShare))
    # ``late`` already sent its VRF proof for the term (an earlier request) but has not seen this block yet
    proof = prove_term(late, chain.okeys[late].vrf_secret, SEED, req.term)
    router.run(late, [Broadcast(cores[late].peers, proof)])
    for o in ORACLES:
        if o != late:
            router.run(o, cores[o].on_request(req, 0.0))
    assert router.rejections == [] and router.txs == []
    assert set(cores[late].early_proposals.get(req.request_id, {})) == {master}
    assert set(cores[late].early_calls.get(req.request_id, {})) == {master}
    router.run(late, cores[late].on_request(req, 0.0))  # the block commits at ``late``
    assert router.rejections == []
    assert cores[late].early_proposals == {} and cores[late].early_calls == {}
    f = fulfilled_by(chain, router.txs, master)
    assert f.request_id == req.request_id
    assert contract_state(chain.state.kv, "feed", f"reading/{req.request_id}") is not None


def test_held_calls_and_proposals_are_bounded_and_forgotten_with_their_request():
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    proposal = cores[master].requests[req.request_id].proposal
    core = cores[next(o for o in ORACLES if o != master)]
    cap = core.EARLY_REQUESTS
    for i in range(cap + 5):
        assert core.on_proposal(master, msgspec.structs.replace(proposal, request_id=f"oracle#x{i}"), 0.0) == []
        assert core.on_proposal(master, msgspec.structs.replace(proposal, request_id=f"oracle#x{i}"), 0.0) == []
    assert len(core.early_proposals) == cap and "oracle#x0" not in core.early_proposals
    assert all(len(v) == 1 for v in core.early_proposals.values())
    # an unregistered sender's messages are not even held
    ghost = msgspec.structs.replace(proposal, request_id="oracle#ghost", master="ghost")
    assert isinstance(core.on_proposal("ghost", ghost, 0.0)[0], Rejected)
    assert "oracle#ghost" not in core.early_proposals
    core.forget(f"oracle#x{cap + 4}")
    assert f"oracle#x{cap + 4}" not in core.early_proposals


def test_a_node_whose_timer_fired_too_early_decides_once_enough_proofs_arrive():
    """The timer fires with fewer than 2/3 of the proofs in (nobody qualified): the node decides as
    soon as later proofs make the election decidable, instead of staying undecided for the term."""
    chain = OracleChain(alpha_milli=1)  # practically nobody qualifies: the fallback needs 6 of 9 proofs
    req = chain.request()
    cores = chain.cores()
    node = cores["o0"]
    node.on_request(req, 0.0)
    proofs, _ = outputs_of(chain, req.term)
    for o in ORACLES[1:4]:
        assert node.on_election_proof(o, proofs[o], 0.0) == []
    node.on_timer(f"oracle.elect:{req.term}", 0.2)
    assert req.term not in node.masters  # 4 proofs: undecided
    node.on_election_proof("o4", proofs["o4"], 0.3)
    assert req.term not in node.masters
    node.on_election_proof("o5", proofs["o5"], 0.4)  # 6 of 9: the fallback is decidable
    master, cert = node.masters[req.term]
    assert len(cert) == 6 and master in ORACLES[:6]


def test_an_undecided_member_sends_its_late_reading_to_the_master_that_called_it():
    """The member has none of the others' proofs yet and its source answers only after the call."""
    chain = OracleChain()
    req = chain.request()
    master, cert, group, _ = elected(chain, req)
    member = next(m for m in group.members if m != master)
    core = chain.cores()[member]
    core.on_request(req, 0.0)  # starts the source read; its own proof only: undecided
    call = ObservationCall(request_id=req.request_id, master=master, group_id=group.group_id, election=cert)
    assert core.on_call(master, call, 0.0) == [] and req.term not in core.masters
    effects = core.on_fetched(req.request_id, encode(50_000), 0.1)
    assert [(type(e), e.to) for e in effects] == [(Send, master)]
    obs = effects[0].message
    assert obs.node_id == member and chain.membership.verify(member, obs.signing_bytes(), obs.signature)
    assert core.on_call(master, call, 0.2) == []  # sent once per master
