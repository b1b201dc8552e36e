from edgeledger.ledger.contracts import CallContext, contract_state, events_since, register_contract
from edgeledger.market import ServiceMatching, audit_matches, favoured_companies, nearest_node
from tests.market.consortium import Chain


@register_contract
class RiggedMatching(ServiceMatching):
    """A tampered version that sends every device to company c1 when it can."""

    name = "test.rigged_matching"

    def edge_match(self, ctx: CallContext, device, x, y, need):  # noqa: D401 - same contract method
        nodes = [ctx.get(f"node/{i}") for i in ctx.get("nodes", [])]
        pick = next((n for n in nodes if n["company"] == "c1" and n["free"] >= need), None)
        if pick is None:
            return super().edge_match(ctx, device, x, y, need)
        pick["free"] -= need
        ctx.put(f"node/{pick['en_id']}", pick)
        count = ctx.get("match_count", 0)
        match = {"seq": count, "device": device, "x": x, "y": y, "need": need, "en_id": pick["en_id"],
                 "company": pick["company"], "height": ctx.height}
        ctx.put(f"match/{count}", match)
        ctx.put("match_count", count + 1)
        ctx.emit("matched", **match)
        return pick["en_id"]

    edge_match.__contract_roles__ = ("device", "proxy")  # type: ignore[attr-defined]


def setup(code="edgetoll.matching"):
    c = Chain()
    assert c.deploy("proxy", "matching", code).ok
    for en, company, x, y, cap in [("en-a", "c0", 0, 0, 2), ("en-b", "c1", 10, 0, 5), ("en-c", "c2", 0, 10, 1),
                                   ("en-d", "c0", 10, 10, 3)]:
        assert c.call(company, "matching", "add_node", en, company, x, y, cap, 7)[0].ok
    return c


def test_edge_match_picks_the_nearest_node_with_capacity():
    c = setup()
    assert c.call("dev0", "matching", "edge_match", "dev0", 1, 1, 1)[1] == "en-a"
    assert c.call("dev0", "matching", "edge_match", "dev0", 1, 1, 2)[1] == "en-b"  # en-a has 1 left, en-c only 1
    assert c.call("dev1", "matching", "edge_match", "dev1", 9, 9, 3)[1] == "en-d"
    assert contract_state(c.state.kv, "matching", "node/en-a")["free"] == 1
    assert contract_state(c.state.kv, "matching", "match_count") == 3
    matched = events_since(c.state, 0, "matching", "matched")
    assert [e.attributes["en_id"] for _, e in matched] == ["en-a", "en-b", "en-d"]


def test_ties_are_broken_by_en_id():
    nodes = [{"en_id": "z", "x": 1, "y": 0, "free": 1}, {"en_id": "a", "x": -1, "y": 0, "free": 1}]
    assert nearest_node(nodes, 0, 0, 1)["en_id"] == "a"
    c = setup()
    # (5, 5) is equidistant from all four; en-a is the smallest id
    assert c.call("dev0", "matching", "edge_match", "dev0", 5, 5, 1)[1] == "en-a"


def test_no_capacity_and_wrong_roles_are_rejected():
    c = setup()
    r, _ = c.call("dev0", "matching", "edge_match", "dev0", 0, 0, 50)
    assert not r.ok and "no edge node has 50 free capacity" in r.reason
    r, _ = c.call("dev0", "matching", "add_node", "en-x", "c0", 0, 0, 1, 1)
    assert not r.ok and "needs role company or proxy" in r.reason
    r, _ = c.call("c0", "matching", "edge_match", "c0", 0, 0, 1)
    assert not r.ok and "needs role device or proxy" in r.reason
    assert "already registered" in c.call("c0", "matching", "add_node", "en-a", "c0", 0, 0, 1, 1)[0].reason


def test_release_returns_capacity():
    c = setup()
    c.call("dev0", "matching", "edge_match", "dev0", 0, 0, 2)
    assert not c.call("dev1", "matching", "release", 0)[0].ok
    assert c.call("dev0", "matching", "release", 0)[0].ok
    assert contract_state(c.state.kv, "matching", "node/en-a")["free"] == 2
    assert audit_matches(c.state) == []


def test_audit_finds_nothing_on_the_honest_contract():
    c = setup()
    for i, (x, y) in enumerate([(0, 0), (1, 2), (9, 1), (3, 8), (10, 10), (0, 0)]):
        c.call(f"dev{i % 3}", "matching", "edge_match", f"dev{i % 3}", x, y, 1)
    assert audit_matches(c.state) == []


def test_audit_reports_the_favoured_company_of_a_rigged_contract():
    c = setup("test.rigged_matching")
    assert c.call("dev0", "matching", "edge_match", "dev0", 0, 0, 1)[1] == "en-b"  # nearest is en-a (c0)
    assert c.call("dev1", "matching", "edge_match", "dev1", 10, 1, 1)[1] == "en-b"  # honest too: en-b is nearest
    findings = audit_matches(c.state)
    assert [(f.seq, f.chosen, f.expected, f.expected_company) for f in findings] == [(0, "en-b", "en-a", "c0")]
    assert favoured_companies(findings) == {"c1": 1}


def test_matches_committed_through_pbft_are_identical_on_every_replica():
    from edgeledger.ledger import LedgerState
    from edgeledger.ledger.contracts import ContractCall, ContractDeploy
    from tests.consensus.harness import Harness

    c = Chain()
    h = Harness(c.keys, c.membership)
    txs = [c.tx("proxy", "contract.deploy", ContractDeploy(name="matching", code="edgetoll.matching", version=1))]
    txs += [c.tx(f"c{i}", "contract.call", ContractCall(contract="matching", method="add_node",
                                                        args=[f"en-{i}", f"c{i}", i * 10, 0, 2, 1])) for i in range(3)]
    txs += [c.tx(d, "contract.call", ContractCall(contract="matching", method="edge_match", args=[d, x, 0, 1]))
            for d, x in [("dev0", 1), ("dev1", 19), ("dev2", 11), ("dev0", 2), ("dev1", 3)]]
    for tx in txs:
        h.submit("proxy", tx)
    h.run()
    states = {}
    for v in c.membership.validators:
        s = LedgerState(c.membership)
        for block in h.committed[v]:
            assert all(r.ok for r in s.apply_block(block))
        states[v] = s.kv
    assert all(kv == states["proxy"] for kv in states.values())
    matched = [contract_state(states["proxy"], "matching", f"match/{i}")["en_id"] for i in range(5)]
    assert matched == ["en-0", "en-2", "en-1", "en-0", "en-1"]
