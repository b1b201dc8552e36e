"""Pedal's rules as SewingChain states them: no choice in the fallback, chained seeds, drawn work nodes."""

import msgspec

from edgeledger.codec import decode
from edgeledger.crypto.vrf import vrf_proof_to_hash
from edgeledger.ledger.contracts import contract_state, events_since
from edgeledger.oracle import OracleFulfill, prove_term, verified_output
from edgeledger.oracle.election import fallback_master, next_seed
from edgeledger.oracle.terms import fallback_view, term_seed
from edgeledger.oracle.work import prove_work, work_nodes
from tests.oracle.pedal_harness import ORACLES, SEED, CoreRouter, OracleChain, honest_sources
from tests.oracle.test_pedal import run_request, signed_fulfillment, submit_fulfill


def outputs(chain, req, nodes=ORACLES):
    return {o: verified_output(prove_term(o, chain.okeys[o].vrf_secret, req.seed, req.term),
                               chain.okeys[o].vrf_public, req.seed) for o in nodes}


def fallback_round(chain, req):
    """Nobody qualifies (alpha ~ 0): every core posts its proof on the board after its timer."""
    cores = chain.cores()
    router = CoreRouter(cores, honest_sources())
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    posts = [tx for tx in router.txs if tx.kind == "contract.call"]
    router.txs = [tx for tx in router.txs if tx.kind != "contract.call"]
    return cores, router, posts


def serve(chain, req, commit=True):
    """Run a request to its fulfillment, through the fallback board when nobody qualifies; the
    (committed) fulfillment and the cores."""
    _, cores, router = run_request(chain, req=req)
    posts = [tx for tx in router.txs if tx.kind == "contract.call"]
    if posts:
        assert all(r.ok for r in chain.block(posts))
        master = fallback_view(chain.state.kv, "oracle", req.term)[0]
        for o in ORACLES:
            router.run(o, cores[o].on_fallback(req.term, master, 0.0))
    fulfills = [tx for tx in router.txs if tx.kind == "oracle.fulfill"]
    assert fulfills, f"{req.request_id} got no fulfillment"
    if commit:
        (receipt,) = chain.block(fulfills[:1])
        assert receipt.ok, receipt.reason
    return decode(fulfills[0].payload, OracleFulfill).fulfillment, cores


def test_the_fallback_master_is_the_smallest_of_every_posted_proof_and_nobody_can_choose():
    chain = OracleChain(alpha_milli=1)  # practically nobody qualifies: the fallback decides
    req = chain.request()
    cores, router, posts = fallback_round(chain, req)
    assert sorted(tx.sender for tx in posts) == ORACLES and router.rejections == []
    out = outputs(chain, req)
    winner = fallback_master(out)
    # a node that is the smallest of a 2/3 subset without the winner: the old rule let it claim
    pretender = fallback_master({o: b for o, b in out.items() if o != winner})
    group = next(g for g in chain.groups if pretender in g.members)
    subset = [prove_term(o, chain.okeys[o].vrf_secret, req.seed, req.term) for o in ORACLES if o != winner][:6]
    r = submit_fulfill(chain, pretender, signed_fulfillment(chain, req, pretender, subset, group, group.members))
    assert not r.ok and "got 6 proofs" in r.reason
    # on chain, the board: while open (6 of 9 in, window of chain time not over) nobody is the fallback master
    early = [tx for tx in posts if tx.sender != winner][:6]
    assert all(r.ok for r in chain.block(early))
    assert fallback_view(chain.state.kv, "oracle", req.term)[0] is None
    r = submit_fulfill(chain, pretender, signed_fulfillment(chain, req, pretender, [], group, group.members))
    assert not r.ok and "the fallback board is open" in r.reason
    chain.empty_blocks(20)  # blocks do not close it: it is timed in chain time, which only the sealers move
    assert fallback_view(chain.state.kv, "oracle", req.term)[0] is None
    assert all(r.ok for r in chain.block([tx for tx in posts if tx not in early]))  # everyone in: it closes
    master, _, posted = fallback_view(chain.state.kv, "oracle", req.term)
    assert master == winner and posted == out  # the smallest of all nine, whoever posted last
    r = submit_fulfill(chain, pretender, signed_fulfillment(chain, req, pretender, [], group, group.members))
    assert not r.ok and f"the fallback master of term {req.term} is {winner!r}, not {pretender!r}" in r.reason
    # the members follow the board: only the winner is served, and its fulfillment carries no proof
    for o in ORACLES:
        router.run(o, cores[o].on_fallback(req.term, master, 0.0))
    assert router.rejections == []
    (f_tx,) = [tx for tx in router.txs if tx.kind == "oracle.fulfill"]
    f = decode(f_tx.payload, OracleFulfill).fulfillment
    assert f.master == winner and f.election == []
    (receipt,) = chain.block([f_tx])
    assert receipt.ok, receipt.reason
    assert contract_state(chain.state.kv, "oracle", f"output/{req.term}") == out[winner]


def test_the_fallback_board_closes_on_chain_time_and_refuses_late_proofs():
    chain = OracleChain(alpha_milli=1, fallback_ms=3_000)
    req = chain.request()
    _, _, posts = fallback_round(chain, req)
    assert all(r.ok for r in chain.block(posts[:7]))  # two nodes are slow
    assert "open" in fallback_view(chain.state.kv, "oracle", req.term)[1]
    chain.advance(2_999)
    assert fallback_view(chain.state.kv, "oracle", req.term)[0] is None
    chain.advance(1)
    master, _, posted = fallback_view(chain.state.kv, "oracle", req.term)
    assert master == fallback_master(posted) and len(posted) == 7  # 7 >= ceil(2 * 9 / 3) = 6
    late = chain.block(posts[7:])
    assert all(not r.ok and "board of term" in r.reason and "is closed" in r.reason for r in late)


def test_the_term_seed_is_chained_from_the_previous_terms_master():
    chain = OracleChain(term_blocks=4)
    req = chain.request()
    assert req.seed == term_seed(chain.state.kv, "oracle", req.term) == next_seed(SEED, b"", req.term)
    same = chain.request(timestamp_ms=1500)
    assert same.term == req.term and same.seed == req.seed  # one term, one seed
    master = serve(chain, req)[0].master
    beta = contract_state(chain.state.kv, "oracle", f"output/{req.term}")
    assert beta == outputs(chain, req, [master])[master]
    while chain.state.height // 4 == req.term:
        chain.empty_blocks(1)
    nxt = chain.request(timestamp_ms=2000)
    assert nxt.term > req.term and nxt.seed == next_seed(req.seed, beta, nxt.term) != req.seed
    while chain.state.height // 4 == nxt.term:  # a term whose request was never fulfilled
        chain.empty_blocks(1)
    third = chain.request(timestamp_ms=3000)
    assert third.seed == next_seed(nxt.seed, b"", third.term)
    # a proof over the old, constant seed is no proof for the new term
    forged = prove_term(master, chain.okeys[master].vrf_secret, SEED, nxt.term)
    assert verified_output(forged, chain.okeys[master].vrf_public, nxt.seed) is None


def test_the_master_draws_the_work_nodes_verifiably_and_cannot_pick_them():
    chain = OracleChain(term_blocks=2)
    draws = []
    for i in range(8):
        req = chain.request(timestamp_ms=1000 * (i + 1))
        f, cores = serve(chain, req)
        (event,) = [e for _, e in events_since(chain.state, chain.state.height - 1, "oracle", "fulfilled")]
        drawn = work_nodes(vrf_proof_to_hash(f.work_proof), ORACLES, 3)
        assert event.attributes["workers"] == drawn == cores[f.master].requests[req.request_id].workers
        group = next(g for g in chain.groups if f.master in g.members)
        draws.append((tuple(drawn), set(group.members)))
    assert len({d for d, _ in draws}) > 3  # not a fixed group ...
    assert any(not set(d) <= members for d, members in draws)  # ... and not the master's own group
    # the master cannot substitute a draw of its liking: a proof for another request does not verify
    req = chain.request(timestamp_ms=99_000)
    f, _ = serve(chain, req, commit=False)
    other = prove_work(chain.okeys[f.master].vrf_secret, req.seed, req.term, "oracle#1")
    forged = msgspec.structs.replace(f, work_proof=other)
    r = submit_fulfill(chain, f.master, forged)
    assert not r.ok and "work-node draw" in r.reason
    assert submit_fulfill(chain, f.master, f).ok  # the genuine draw is accepted
