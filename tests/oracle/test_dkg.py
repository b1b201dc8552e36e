"""Oracle groups make their keys by distributed key generation; a bad share is identified and excluded.

A PBFT chain in the simulator (validators ticking the chain clock) with three groups of three
oracle nodes: the operator opens each group, the members deal, check, complain, answer and
close on chain (:mod:`edgeledger.oracle.dkg`). Nobody deals the group key; requests are signed
with it.
"""


from edgeledger.crypto.bls import CURVE_ORDER
from edgeledger.crypto.dkg import combine_commitments
from edgeledger.crypto.threshold import Share, verify_share
from edgeledger.ledger.contracts import events_since
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle.dkg import dkg_session, qualified_dealers
from edgeledger.oracle.dkg_member import DkgFaults, KeyGenService
from edgeledger.oracle.proxy import oracle_group
from edgeledger.oracle.service import OracleService
from edgeledger.oracle.simnet import PROXY, build_oracle_chain
from edgeledger.oracle.sources import NoisySensor

GROUPS = {f"g{g}": [f"D.o{3 * g + i}" for i in range(3)] for g in range(3)}


def bad(share: Share) -> Share:
    return Share(index=share.index, value=((share.secret + 1) % CURVE_ORDER).to_bytes(32, "big"))


def network(faults=None, until=12.0):
    sim = Simulator(3, lambda a, b: Link(0.005, 1e9))
    rejections = []
    sim.on_reject = lambda node, r, now: rejections.append((node, r.reason))
    sources = {o: NoisySensor(seed=3) for members in GROUPS.values() for o in members}
    chain = build_oracle_chain(sim, "D", GROUPS, sources=sources, seed=b"pedal-dkg-test-seed-0001",
                               dkg_faults=faults, dkg_window_ms=2_000)
    sim.run(until=until, stop=chain.ready)
    assert chain.ready(), "the key generations did not finish"
    return sim, chain, rejections


def services(chain, node, kind):
    return next(s for s in chain.nodes[node].services if isinstance(s, kind))


def group_events(chain):
    kv = chain.nodes[chain.requester].state
    return {e.attributes["group_id"]: e.attributes for _, e in events_since(kv, 0, PROXY, "group")}


def test_every_group_key_is_generated_by_its_members_and_signs_requests():
    sim, chain, rejections = network()
    kv = chain.nodes[chain.requester].state.kv
    events = group_events(chain)
    for group_id, members in GROUPS.items():
        group = oracle_group(kv, PROXY, group_id)
        assert group.members == members and group.indices == [1, 2, 3] and events[group_id]["excluded"] == []
        session = dkg_session(kv, PROXY, group_id)
        dealt = [session["dealt"][m] for m in members]
        assert group.commitments == combine_commitments(dealt)  # the sum of every member's polynomial
        assert group.commitments[0] not in {c[0] for c in dealt}  # no member dealt the group key
        shares = {m: services(chain, m, KeyGenService).member.shares[group_id] for m in members}
        assert all(verify_share(s.index, s, group.commitments) for s in shares.values())
        assert len({s.value for s in shares.values()}) == 3
        for m in members:
            assert services(chain, m, OracleService).core.shares[group_id] == shares[m]
    chain.request("boiler", 1000)
    sim.run(until=sim.now + 3.0)
    assert len(chain.latencies()) == 1 and not [r for r in rejections if "already" not in r[1]]


def test_a_member_who_sends_a_bad_share_is_identified_and_excluded():
    faults = {"D.o1": DkgFaults(tamper=lambda to, share: bad(share) if to == "D.o2" else share)}
    sim, chain, _ = network(faults)
    kv = chain.nodes[chain.requester].state.kv
    session = dkg_session(kv, PROXY, "g0")
    assert session["verdicts"]["D.o2"] == ["D.o1"]  # identified: its victim complained on chain ...
    assert session["answers"] == {"D.o1/D.o2": False}  # ... and the share it revealed fails the Feldman check
    assert qualified_dealers(session) == ["D.o0", "D.o2"]
    group = oracle_group(kv, PROXY, "g0")
    assert group.members == ["D.o0", "D.o2"] and group.indices == [1, 3]  # excluded; the others keep their index
    assert group_events(chain)["g0"]["excluded"] == ["D.o1"]
    assert group.commitments == combine_commitments([session["dealt"]["D.o0"], session["dealt"]["D.o2"]])
    assert "g0" not in services(chain, "D.o1", OracleService).core.shares  # it signs nothing for g0
    for m in group.members:
        share = services(chain, m, OracleService).core.shares["g0"]
        assert verify_share(share.index, share, group.commitments)
    for group_id in ("g1", "g2"):  # the other groups are untouched
        assert oracle_group(kv, PROXY, group_id).members == GROUPS[group_id]
    chain.request("boiler", 1000)
    sim.run(until=sim.now + 3.0)
    assert len(chain.latencies()) == 1  # the oracle still serves, with two of g0's three members


def test_a_dealer_who_stays_silent_when_accused_is_excluded_once_the_window_passes():
    faults = {"D.o4": DkgFaults(tamper=lambda to, share: bad(share), answer_complaints=False)}
    sim, chain, _ = network(faults)
    kv = chain.nodes[chain.requester].state.kv
    session = dkg_session(kv, PROXY, "g1")
    assert sorted(session["verdicts"]) == ["D.o3", "D.o4", "D.o5"] and session["answers"] == {}
    assert oracle_group(kv, PROXY, "g1").members == ["D.o3", "D.o5"]


def test_an_honest_dealer_falsely_accused_reveals_its_share_and_stays():
    faults = {"D.o7": DkgFaults(accuse=("D.o6",))}
    sim, chain, _ = network(faults)
    kv = chain.nodes[chain.requester].state.kv
    session = dkg_session(kv, PROXY, "g2")
    assert session["verdicts"]["D.o7"] == ["D.o6"] and session["answers"] == {"D.o6/D.o7": True}
    group = oracle_group(kv, PROXY, "g2")
    assert group.members == GROUPS["g2"]  # the accuser used the revealed share: everyone keeps a valid share
    share = services(chain, "D.o7", KeyGenService).member.shares["g2"]
    assert verify_share(share.index, share, group.commitments)


def test_the_contract_refuses_steps_out_of_turn():
    from tests.oracle.pedal_harness import ORACLES, OracleChain

    chain = OracleChain(groups={"g0": ORACLES[:3]})
    r, _ = chain.call("plant", "oracle", "open_group", "gx", ORACLES[3:6])
    assert not r.ok and "only the admin" in r.reason
    r, t = chain.call("operator", "oracle", "open_group", "gx", ORACLES[3:6])
    assert r.ok and t == 2
    assert "exists" in chain.call("operator", "oracle", "open_group", "g0", ORACLES[:3])[0].reason
    assert "not a member" in chain.call("o0", "oracle", "dkg_deal", "gx", [], {})[0].reason
    assert "dealing phase, not verdicts" in chain.call("o3", "oracle", "dkg_verdict", "gx", [])[0].reason
    r, _ = chain.call("o3", "oracle", "dkg_deal", "gx", [b"\x00" * 48] * 2, {"o4": b"", "o5": b""})
    assert not r.ok and "bad commitment" in r.reason
    assert "one sealed share to each other member" in chain.call("o3", "oracle", "dkg_deal", "gx", [], {})[0].reason
    malformed = chain.call("o3", "oracle", "dkg_deal", "gx", [], {"o4": 5, "o5": b""})[0].reason
    assert "(bytes each), got {'o4': 5" in malformed  # a malformed deal is refused, never handed to the members
    assert "dealing phase, not finish" in chain.call("o4", "oracle", "dkg_finish", "gx")[0].reason
