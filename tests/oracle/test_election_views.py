"""Members follow any master whose election certificate the proxy would accept, whatever their
own (possibly timed-out, possibly undecided) view of the election; forged certificates are
refused off chain by the same rule as on chain; masters' messages that outrun the request wait."""

import msgspec

from edgeledger.codec import decode, encode
from edgeledger.effects import Broadcast, Rejected, Send, SubmitTransaction
from edgeledger.ledger.contracts import contract_state
from edgeledger.oracle import (
    ElectionProof, OracleFulfill, ResultProposal, ResultShare, election_threshold, pending_request, prove_term,
    qualifies, verified_output,
)
from edgeledger.oracle.election import certificate_error
from edgeledger.oracle.records import ObservationCall
from edgeledger.oracle.work import prove_work
from tests.oracle.pedal_harness import ORACLES, CoreRouter, OracleChain, honest_sources
from tests.oracle.test_pedal import elected, run_request, signed_fulfillment, submit_fulfill

THRESHOLD = election_threshold(1000, len(ORACLES))


def outputs_of(chain, req):
    proofs = {o: prove_term(o, chain.okeys[o].vrf_secret, req.seed, req.term) for o in ORACLES}
    return proofs, {o: verified_output(p, chain.okeys[o].vrf_public, req.seed) for o, p in proofs.items()}


def fulfilled_by(chain, txs, master):
    """Commit ``master``'s fulfillment (first) and the others; the callback value of its request."""
    ours = [tx for tx in txs if tx.sender == master and tx.kind == "oracle.fulfill"]
    assert ours, f"{master} never submitted a fulfillment"
    receipts = chain.block(ours[:1])
    assert receipts[0].ok, receipts[0].reason
    return decode(ours[0].payload, OracleFulfill).fulfillment


def test_nodes_that_missed_the_masters_proof_still_serve_it():
    """Every other node misses the qualified master's VRF proof: their timers fire, they see nobody
    qualified and post their proofs on the fallback board. The master's call still carries a
    certificate the proxy accepts, so the nodes its draw named work for it, and its group signs."""
    chain = OracleChain()
    req = chain.request()
    master, cert, group, _ = elected(chain, req)
    cores = chain.cores()
    router = CoreRouter(cores, honest_sources(), lambda s, d, m: s == master and isinstance(m, ElectionProof))
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    posted = [tx for tx in router.txs if tx.kind == "contract.call"]
    assert {tx.sender for tx in posted} == set(ORACLES) - {master}  # they fell back, the master did not
    assert all(req.term not in cores[o].masters for o in ORACLES if o != master)
    assert router.rejections == []
    f = fulfilled_by(chain, router.txs, master)
    assert f.master == master and f.election == cert
    workers = cores[master].requests[req.request_id].workers
    assert {o.node_id for o in cores[master].requests[req.request_id].proposal.observations} <= set(workers)
    assert contract_state(chain.state.kv, "feed", f"reading/{req.request_id}") is not None
    assert pending_request(chain.state.kv, "oracle", req.request_id) is None


def test_members_refuse_a_forged_certificate_by_the_rule_the_proxy_applies():
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    state = cores[master].requests[req.request_id]
    proofs, outputs = outputs_of(chain, req)
    losers = sorted((o for o in ORACLES if not qualifies(outputs[o], THRESHOLD)), key=lambda o: outputs[o])
    forger = losers[0]  # the smallest output of all: it would have won the old, self-presented fallback
    group = next(g for g in chain.groups if forger in g.members)
    victim = next(m for m in group.members if m != forger)
    cases = [([proofs[forger]], "not under the election threshold"),
             ([proofs[o] for o in losers[:6]], "got 6 proofs"),  # a 2/3 subset where it is the smallest
             ([proofs[master]], "no VRF proof from the master")]  # the master's proof, presented by another
    draw = prove_work(chain.okeys[forger].vrf_secret, req.seed, req.term, req.request_id)
    for election, reason in cases:
        error = certificate_error(forger, election, req.term, len(ORACLES), THRESHOLD, req.seed,
                                  {o: chain.okeys[o].vrf_public for o in ORACLES}.get)
        assert error is not None and reason in error
        r = submit_fulfill(chain, forger, signed_fulfillment(chain, req, forger, election, group, group.members))
        assert not r.ok and reason in r.reason  # the proxy refuses it for the same reason
        call = ObservationCall(request_id=req.request_id, master=forger, group_id=group.group_id, election=election,
                               work_proof=draw)
        for node in ORACLES:  # nobody works for it ...
            effects = cores[node].on_call(forger, call, 0.0) if node != forger else []
            assert all(isinstance(e, Rejected) for e in effects)
        forged = ResultProposal(request_id=req.request_id, master=forger, group_id=group.group_id,
                                result=state.proposal.result, observations=state.proposal.observations,
                                election=election, work_proof=draw)
        effects = cores[victim].on_proposal(forger, forged, 0.0)  # ... and its group does not sign
        assert [type(e) for e in effects] == [Rejected] and "not an elected master" in effects[0].reason
        assert forger not in cores[victim].requests[req.request_id].followed


def test_malformed_certificates_and_draws_are_refused_without_raising():
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    state = cores[master].requests[req.request_id]
    proposal = state.proposal
    group = state.group
    member = next(m for m in group.members if m != master)
    good = proposal.election
    for election in ([msgspec.structs.replace(good[0], proof=b"\x00" * 3)],
                     [msgspec.structs.replace(good[0], term=req.term + 1)],
                     [msgspec.structs.replace(good[0], node_id="nobody")]):
        bad = msgspec.structs.replace(proposal, election=election)
        cores[member].certified.clear()
        cores[member].masters.clear()  # no shortcut through its own view: check the certificate itself
        effects = cores[member].on_proposal(master, bad, 0.0)
        assert [type(e) for e in effects] == [Rejected], election
    for draw in (b"", b"\x01" * 80, prove_work(chain.okeys[master].vrf_secret, req.seed, req.term, "oracle#2")):
        effects = cores[member].on_proposal(master, msgspec.structs.replace(proposal, work_proof=draw), 0.0)
        assert [type(e) for e in effects] == [Rejected] and "draw does not verify" in effects[0].reason
    # a master's message naming another master; a call to a node its draw did not name
    other = next(o for o in ORACLES if o not in state.workers and o != master)
    assert isinstance(cores[member].on_proposal(other, proposal, 0.0)[0], Rejected)
    call = ObservationCall(request_id=req.request_id, master=master, group_id=group.group_id, election=good,
                           work_proof=state.work_proof)
    effects = cores[other].on_call(master, call, 0.0)
    assert isinstance(effects[0], Rejected) and "did not name" in effects[0].reason
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
    proof = prove_term(late, chain.okeys[late].vrf_secret, req.seed, req.term)
    router.run(late, [Broadcast(cores[late].peers, proof)])
    for o in ORACLES:
        if o != late:
            router.run(o, cores[o].on_request(req, 0.0))
    assert router.rejections == [] and router.txs == []
    assert set(cores[late].early_proposals.get(req.request_id, {})) == {master}
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


def test_an_undecided_work_node_sends_its_late_reading_to_the_master_that_called_it():
    """The work node has none of the others' proofs yet and its source answers only after the call."""
    chain = OracleChain()
    req, cores, _ = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    state = cores[master].requests[req.request_id]
    worker = next(w for w in state.workers if w != master)
    core = chain.cores()[worker]
    core.on_request(req, 0.0)  # starts the source read; its own proof only: undecided
    call = ObservationCall(request_id=req.request_id, master=master, group_id=state.group.group_id,
                           election=state.certificate, work_proof=state.work_proof)
    assert core.on_call(master, call, 0.0) == [] and req.term not in core.masters
    effects = core.on_fetched(req.request_id, encode(50_000), 0.1)
    assert [(type(e), e.to) for e in effects] == [(Send, master)]
    obs = effects[0].message
    assert obs.node_id == worker and chain.membership.verify(worker, obs.signing_bytes(), obs.signature)
    assert core.on_call(master, call, 0.2) == []  # sent once per master
    assert not any(isinstance(e, SubmitTransaction) for e in effects)
