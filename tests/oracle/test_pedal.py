import msgspec

from edgeledger.codec import decode, encode
from edgeledger.crypto.bls import bls_pop_prove
from edgeledger.crypto.threshold import combine, sign_share
from edgeledger.ledger.contracts import ContractCall, contract_state
from edgeledger.oracle import (
    Fulfillment, LyingSource, NoisySensor, OracleFulfill, ResultProposal, election_threshold, pending_request,
    pick_master, prove_term, qualifies, registration_call, result_message, verified_output,
)
from edgeledger.oracle.election import fallback_master
from edgeledger.oracle.work import prove_work
from tests.oracle.pedal_harness import ORACLES, SEED, CoreRouter, OracleChain, honest_sources


def fresh():
    return OracleChain()


def run_request(chain, sources=None, req=None, drop=lambda s, d, m: False):
    req = req or chain.request()
    cores = chain.cores()
    router = CoreRouter(cores, sources or honest_sources(), drop)
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    return req, cores, router


def signed_fulfillment(chain, req, master, election, group, signers, result=encode(50_000)):
    message = result_message("edgetoll", "oracle", req.request_id, result)
    shares = {chain.shares[m][group.group_id].index: sign_share(chain.shares[m][group.group_id], message)
              for m in signers}
    draw = prove_work(chain.okeys[master].vrf_secret, req.seed, req.term, req.request_id)
    return Fulfillment(request_id=req.request_id, result=result, master=master, group_id=group.group_id,
                       group_public_key=group.commitments[0], signature=combine(shares), election=election,
                       work_proof=draw)


def submit_fulfill(chain, sender, f):
    chain.nonces[sender] = chain.state.nonces.get(sender, 0)
    (receipt,) = chain.block([chain.tx(sender, "oracle.fulfill", OracleFulfill(proxy="oracle", fulfillment=f))])
    return receipt


def elected(chain, req, alpha_milli=1000):
    """The master of the request's term by its own qualifying proof (the harness's seed has one)."""
    proofs = [prove_term(o, chain.okeys[o].vrf_secret, req.seed, req.term) for o in ORACLES]
    vrf = {o: chain.okeys[o].vrf_public for o in ORACLES}
    master, cert = pick_master(proofs, election_threshold(alpha_milli, len(ORACLES)), len(ORACLES), vrf, req.seed)
    group = next(g for g in chain.groups if master in g.members)
    return master, cert, group, proofs


def test_registration_needs_a_valid_proof_of_possession_and_the_oracle_role():
    chain = fresh()
    keys = chain.okeys["o0"]
    bad = ContractCall(contract="oracle", method="register",
                       args=[keys.bls_public, bls_pop_prove(chain.okeys["o1"].bls_secret), keys.vrf_public])
    r = chain.submit("outsider", "contract.call", bad)
    assert not r.ok and "needs role oracle" in r.reason
    r = chain.submit("o0", "contract.call", registration_call("oracle", keys))
    assert not r.ok and "already registered" in r.reason
    assert len(contract_state(chain.state.kv, "oracle", "nodes")) == 9


def test_election_threshold_is_alpha_over_n_and_the_smallest_qualified_output_wins():
    assert election_threshold(1000, 8) == 2**512 // 8
    assert qualifies((2**509 - 1).to_bytes(64, "big"), 2**509) and not qualifies((2**509).to_bytes(64, "big"), 2**509)
    vrf = {f"n{i}": None for i in range(6)}
    from edgeledger.oracle import oracle_keys
    keys = {n: oracle_keys(SEED, n) for n in vrf}
    vrf = {n: k.vrf_public for n, k in keys.items()}
    proofs = [prove_term(n, keys[n].vrf_secret, SEED, 4) for n in vrf]
    outputs = {p.node_id: verified_output(p, vrf[p.node_id], SEED) for p in proofs}
    smallest = min(outputs, key=outputs.get)
    assert pick_master(proofs, 0, 6, vrf, SEED) is None  # nobody qualifies: the chain's fallback board decides
    assert fallback_master(outputs) == smallest  # ... the smallest of every posted output
    master, cert = pick_master(proofs, 2**512, 6, vrf, SEED)  # everybody qualifies: smallest wins
    assert master == smallest and cert == [p for p in proofs if p.node_id == smallest]


def test_data_request_is_fulfilled_with_the_median_and_called_back():
    chain = fresh()
    req, cores, router = run_request(chain)
    assert len(router.txs) == 1 and router.rejections == []
    (receipt,) = chain.block(router.txs)
    assert receipt.ok, receipt.reason
    value = contract_state(chain.state.kv, "feed", f"reading/{req.request_id}")
    true_milli = NoisySensor(seed=3).true_value(req.timestamp_ms) * 1000
    assert abs(value - true_milli) < 1000
    assert pending_request(chain.state.kv, "oracle", req.request_id) is None


def test_a_lying_source_does_not_move_the_median():
    chain = fresh()
    sources = honest_sources()
    sources["o0"] = sources["o3"] = sources["o6"] = None  # replaced below: one liar in each group
    for o in ("o0", "o3", "o6"):
        sources[o] = LyingSource(NoisySensor(seed=3))
    req, _, router = run_request(chain, sources)
    (receipt,) = chain.block(router.txs)
    assert receipt.ok, receipt.reason
    value = contract_state(chain.state.kv, "feed", f"reading/{req.request_id}")
    assert abs(value - NoisySensor(seed=3).true_value(req.timestamp_ms) * 1000) < 1000


def test_replay_of_a_fulfilled_request_is_rejected():
    chain = fresh()
    req, _, router = run_request(chain)
    (ok,) = chain.block(router.txs)
    assert ok.ok
    fulfill = decode(router.txs[0].payload, OracleFulfill)
    replay = submit_fulfill(chain, fulfill.fulfillment.master, fulfill.fulfillment)
    assert not replay.ok and "not pending" in replay.reason and "replay refused" in replay.reason
    assert contract_state(chain.state.kv, "feed", "count") == 1


def test_a_forged_master_is_rejected():
    chain = fresh()
    req = chain.request()
    master, cert, group, proofs = elected(chain, req)
    full = group.members
    # a group member that was not elected, presenting its own (non-qualifying) proof
    impostor = next(m for m in full if m != master)
    own = [p for p in proofs if p.node_id == impostor]
    r = submit_fulfill(chain, impostor, signed_fulfillment(chain, req, impostor, own, group, full))
    assert not r.ok and ("not under the election threshold" in r.reason or "smallest VRF output" in r.reason)
    # the real master's certificate, replayed by someone else
    r = submit_fulfill(chain, impostor, signed_fulfillment(chain, req, master, cert, group, full))
    assert not r.ok and "sent by" in r.reason
    # a proof made with another node's VRF key
    stolen = msgspec.structs.replace(cert[0], node_id=impostor) if len(cert) == 1 else None
    if stolen is not None:
        r = submit_fulfill(chain, impostor, signed_fulfillment(chain, req, impostor, [stolen], group, full))
        assert not r.ok and "does not verify" in r.reason
    assert pending_request(chain.state.kv, "oracle", req.request_id) is not None


def test_unsigned_or_partially_signed_results_are_rejected():
    chain = fresh()
    req = chain.request()
    master, cert, group, _ = elected(chain, req)
    t = group.threshold
    partial = signed_fulfillment(chain, req, master, cert, group, [m for m in group.members][: t - 1])
    r = submit_fulfill(chain, master, partial)
    assert not r.ok and "group signature" in r.reason
    unsigned = msgspec.structs.replace(partial, signature=b"")
    r = submit_fulfill(chain, master, unsigned)
    assert not r.ok
    good = signed_fulfillment(chain, req, master, cert, group, group.members[:t])
    tampered = msgspec.structs.replace(good, result=encode(99_999))
    r = submit_fulfill(chain, master, tampered)
    assert not r.ok and "group signature" in r.reason
    assert submit_fulfill(chain, master, good).ok


def test_an_expired_request_is_rejected():
    chain = fresh()
    req = chain.request(ttl_blocks=2)
    master, cert, group, _ = elected(chain, req)
    chain.empty_blocks(3)
    r = submit_fulfill(chain, master, signed_fulfillment(chain, req, master, cert, group, group.members))
    assert not r.ok and "expired" in r.reason


def test_members_refuse_a_proposal_that_is_not_the_median():
    chain = fresh()
    req, cores, router = run_request(chain)
    master = cores["o0"].masters[req.term][0]
    state = cores[master].requests[req.request_id]
    member = next(m for m in state.group.members if m != master)
    forged = ResultProposal(request_id=req.request_id, master=master, group_id=state.group.group_id,
                            result=encode(1), observations=state.proposal.observations,
                            election=state.proposal.election, work_proof=state.work_proof)
    effects = cores[member].on_proposal(master, forged, 0.0)
    assert len(effects) == 1 and "not the aggregate" in effects[0].reason


def test_callbacks_only_from_the_proxy_and_fulfill_only_through_its_kind():
    chain = fresh()
    r, _ = chain.call("outsider", "feed", "deliver", "oracle#1", 5)
    assert not r.ok and "for the oracle proxy" in r.reason
    r, _ = chain.call("o0", "oracle", "fulfill", b"")
    assert not r.ok and "has no method 'fulfill'" in r.reason


def test_an_unsigned_request_certificate_is_refused():
    chain = fresh()
    r, _ = chain.call("plant", "oracle", "request", "data", "x", b"", "feed", "deliver", 1, 5, b"\x00" * 64)
    assert not r.ok and "certificate" in r.reason


def test_a_qualified_master_is_accepted_and_a_stolen_proof_is_not():
    chain = OracleChain(alpha_milli=2500, term_blocks=1)
    for _ in range(10):  # the term is the request height: find one where somebody qualifies
        req = chain.request()
        master, cert, group, proofs = elected(chain, req, 2500)
        if len(cert) == 1:
            break
    assert len(cert) == 1
    impostor = next(m for m in group.members if m != master)
    stolen = msgspec.structs.replace(cert[0], node_id=impostor)
    r = submit_fulfill(chain, impostor, signed_fulfillment(chain, req, impostor, [stolen], group, group.members))
    assert not r.ok and "does not verify" in r.reason
    assert submit_fulfill(chain, master, signed_fulfillment(chain, req, master, cert, group, group.members)).ok


def test_observations_that_outrun_the_masters_view_of_the_request_are_kept_until_it_arrives():
    chain = fresh()
    req1, cores, router = run_request(chain)
    (receipt,) = chain.block(router.txs)
    assert receipt.ok, receipt.reason
    req2 = chain.request(timestamp_ms=2000)
    assert req2.term == req1.term  # the same master: members can answer before it sees the request
    master = cores["o0"].masters[req1.term][0]
    router = CoreRouter(cores, honest_sources())
    for o in [o for o in ORACLES if o != master] + [master]:  # the master learns of the request last
        router.run(o, cores[o].on_request(req2, 0.0))
    assert not router.rejections
    (receipt,) = chain.block(router.txs)
    assert receipt.ok, receipt.reason
    assert contract_state(chain.state.kv, "feed", f"reading/{req2.request_id}") is not None
    assert cores[master].early == {}
