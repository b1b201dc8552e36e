"""A scenario's standby sealer node (``consortium.standby_sealers``) joins PBFT after a membership vote.

The simulator builds the network from the scenario alone (``build_network``): four edge
validators, a standby sealer ``company-0`` (genesis role company, a standby PBFT replica) and
consortium accounts. The companies propose and vote it in over the chain; from its activation
height it proposes and its votes certify blocks, and every node keeps one valid chain.
"""

from __future__ import annotations

import pytest

from edgeledger.consensus.pbft import PbftReplica
from edgeledger.errors import ConfigError
from edgeledger.ledger import genesis_hash, make_transaction, validate_chain
from edgeledger.ledger.kv import KVSet
from edgeledger.market import (
    MembershipProposal,
    MembershipVote,
    proposal_state,
    validator_schedule,
)
from edgeledger.net.sim import Simulator
from edgeledger.scenario.assembly import build_network
from edgeledger.scenario.schema import parse_scenario
from edgeledger.scenario.topology import (
    consortium_keys,
    make_genesis,
    observers_of,
    plan_topology,
)

EDGES = ["edge-0", "edge-1", "edge-2", "edge-3"]
ACCOUNTS = {"proxy": "proxy", "c0": "company", "c1": "company", "c2": "company", "meter": "device"}
SCENARIO = {
    "name": "standby", "seed": 5,
    "topology": {"edges": 4, "devices_per_edge": 1, "validators": ["edge"]},
    "consensus": {"window": 4, "checkpoint_interval": 2, "rotate_leader": True, "batch_timeout_s": 0.02},
    "fl": {"rounds": 1, "clients_per_round": 4, "local_epochs": 1},
    "consortium": {"accounts": ACCOUNTS, "standby_sealers": 1},
}


def test_the_standby_sealer_is_a_genesis_company_that_follows_and_is_no_validator():
    scenario = parse_scenario(SCENARIO)
    plan = plan_topology(scenario)
    assert plan.standby == ["company-0"] and plan.roles["company-0"] == "company"
    assert plan.validators == EDGES and "company-0" in observers_of(plan)  # validators push blocks to it
    keys = {n: ("ed25519", bytes([i]) * 32) for i, n in enumerate(plan.roles)}
    genesis = make_genesis(plan, keys)
    assert make_genesis(plan_topology(parse_scenario(SCENARIO)), keys) == genesis  # every node derives it alike
    assert ("company-0", "company") in [(i.node_id, i.role) for i in genesis.identities]
    assert genesis.validators == EDGES
    without = make_genesis(plan_topology(parse_scenario({**SCENARIO, "consortium": {"accounts": ACCOUNTS}})), keys)
    assert [i.node_id for i in without.identities] == [i.node_id for i in genesis.identities if i.node_id != "company-0"]


@pytest.mark.parametrize("consortium, protocol, message", [
    ({"standby_sealers": -1}, "pbft", "consortium.standby_sealers: got -1; expected input should be greater than"),
    ({"standby_sealers": "two"}, "pbft", "consortium.standby_sealers: got 'two'; expected"),
    ({"standby_sealers": 1}, "pow", "consortium.standby_sealers: 1 standby sealers need PBFT but .* 'pow'"),
    ({"standby_sealers": 2, "accounts": {"company-1": "company"}}, "pbft",
     r"consortium.accounts: 'company-1' is already a node id of the topology \(a standby sealer\)"),
])
def test_bad_standby_declarations_are_one_line_config_errors(consortium, protocol, message):
    with pytest.raises(ConfigError, match=message) as exc:
        parse_scenario({**SCENARIO, "consensus": {"protocol": protocol}, "consortium": consortium})
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def admitted():
    scenario = parse_scenario(SCENARIO)
    net = build_network(scenario)
    standby = net.nodes["company-0"]
    assert isinstance(standby.consensus, PbftReplica) and not standby.consensus.votes_at(1)
    sim = Simulator(scenario.seed, net.link_for)
    for node in net.nodes.values():
        sim.add_host(node)
    for node_id in sorted(net.nodes):
        sim.start(node_id, net.nodes[node_id].start(0.0))
    keys = consortium_keys(scenario)
    nonces: dict[str, int] = {}

    def submit(sender: str, kind: str, payload: object) -> None:
        nonces[sender] = nonces.get(sender, 0) + 1
        tx = make_transaction(keys[sender], sender, nonces[sender], kind, payload)
        sim.apply("edge-1", net.nodes["edge-1"].submit(tx, sim.now))

    pumping = [True]

    def pump() -> None:  # a steady trickle of transactions, so that blocks keep coming
        if pumping[0]:
            submit("meter", "kv.set", KVSet(key=f"k{nonces.get('meter', 0)}", value=b"x"))
            sim.call_later(0.05, pump)

    def run_until(done, limit_s: float = 60.0) -> None:
        sim.run(until=sim.now + limit_s, stop=done)
        assert done(), f"not reached by t={sim.now:.2f}s; heights {heights()}"

    def heights() -> dict[str, int]:
        return {n: net.nodes[n].store.height for n in EDGES + ["company-0", "cloud"]}

    sim.call_at(0.0, pump)
    state = net.nodes["edge-0"].state
    run_until(lambda: min(heights().values()) >= 2)
    submit("proxy", "membership.propose", MembershipProposal(action="add_sealer", node_id="company-0"))
    run_until(lambda: proposal_state(state.kv, 0) is not None)
    for voter in ("c0", "c1", "c2"):  # companies: c0..c2 and company-0 itself; 3 of 4 is > 2/3
        submit(voter, "membership.vote", MembershipVote(proposal=0, approve=True))
    run_until(lambda: (p := proposal_state(state.kv, 0)) is not None and p.status == "passed")
    effective, _ = validator_schedule(state)[-1]
    run_until(lambda: min(heights().values()) >= effective + 10)
    silenced_at = net.nodes["edge-0"].store.height
    gone = "edge-3"  # one of five cut off: edge-0..2 and company-0 are exactly a quorum of 4 (n = 5, f = 1)
    for other in net.nodes:
        if other != gone:
            sim.cut(gone, other)
    live = ("edge-0", "edge-1", "edge-2", "company-0")
    run_until(lambda: min(net.nodes[n].store.height for n in live) >= silenced_at + 5)
    pumping[0] = False
    return net, effective, silenced_at


def test_the_admitted_standby_node_proposes_and_certifies_blocks_after_activation(admitted):
    net, effective, silenced_at = admitted
    five = ("edge-0", "edge-1", "edge-2", "edge-3", "company-0")
    for n in EDGES + ["company-0"]:
        m = net.nodes[n].membership
        assert m.validators_at(effective - 1) == tuple(EDGES) and m.validators_at(effective) == five
    assert net.nodes["company-0"].consensus.votes_at(effective)
    blocks = net.nodes["edge-0"].store.blocks()
    before, after = blocks[:effective - 1], blocks[effective - 1:]
    assert all(b.header.proposer != "company-0" and
               "company-0" not in {v.replica for v in b.certificate.votes} for b in before)
    assert any(b.header.proposer == "company-0" for b in after)  # rotate_leader gives it its turns
    assert any("company-0" in {v.replica for v in b.certificate.votes} for b in after)
    silent = blocks[silenced_at:]  # with an edge cut off, only company-0's vote completes a quorum
    assert len(silent) >= 5
    assert all({v.replica for v in b.certificate.votes} == {"edge-0", "edge-1", "edge-2", "company-0"}
               for b in silent)


def test_every_node_holds_the_same_valid_chain(admitted):
    net, effective, silenced_at = admitted
    g = genesis_hash(net.membership.genesis)
    live = ["edge-0", "edge-1", "company-0"]
    common = min(net.nodes[n].store.height for n in live)
    assert common >= silenced_at + 5
    reference = [b.hash for b in net.nodes["edge-0"].store.blocks()[:common]]
    for n in live:
        assert [b.hash for b in net.nodes[n].store.blocks()[:common]] == reference, f"{n} forked"
        validate_chain(net.nodes[n].store.blocks(), net.nodes[n].membership, g)
    for n in ("edge-2", "edge-3", "cloud"):  # cut off or observing: a prefix of the same chain, past activation
        blocks = net.nodes[n].store.blocks()
        assert len(blocks) >= effective and [b.hash for b in blocks] == reference[:len(blocks)], n
