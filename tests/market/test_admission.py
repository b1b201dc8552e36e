"""Open membership: admission requests, the role policy, sponsors, and nodes that learn new keys."""

from __future__ import annotations

import tomllib
from importlib import resources

import msgspec
import pytest

from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Rejected, SubmitTransaction
from edgeledger.errors import SignatureError
from edgeledger.ledger import Block, BlockHeader, make_transaction, verify_transaction
from edgeledger.ledger.contracts import role_of
from edgeledger.ledger.kv import KVSet
from edgeledger.market.admission import (
    AdmissionDesk, AdmissionList, AdmissionSponsor, admitted_identities, make_admission_request,
)
from tests.market.consortium import Chain

ROLES = {"cloud": "cloud", "edge-0": "edge", "device-0": "device", "c0": "company", "c1": "company",
         "c2": "company", "proxy": "proxy"}
NEWCOMER = derive_key("ed25519", b"newcomer")


def request(node_id="device-7", role="device", key=NEWCOMER, chain="edgetoll"):
    return make_admission_request(key, chain, node_id, role)


def test_a_sponsored_request_admits_the_key_and_its_transactions_count_from_the_next_block():
    c = Chain(ROLES)
    tx = make_transaction(NEWCOMER, "device-7", 1, "kv.set", KVSet(key="k", value=b"v"))
    with pytest.raises(SignatureError, match="not a registered identity"):
        verify_transaction(tx, c.membership)
    receipt = c.submit("edge-0", "membership.admit", request())
    assert receipt.ok, receipt.reason
    (identity,) = admitted_identities(c.state)
    assert (identity.node_id, identity.role, identity.public_key) == ("device-7", "device", NEWCOMER.public_key)
    assert role_of(c.state.kv, c.membership, "device-7") == "device"
    assert c.membership.admit(identity) and not c.membership.admit(identity)  # what Node.identity_hook does
    verify_transaction(tx, c.membership)
    assert c.block([tx])[0].ok


@pytest.mark.parametrize(("sender", "req", "reason"), [
    ("device-0", request(), "'device-0' (role 'device') may not admit a 'device'"),
    ("edge-0", request(role="edge"), "may not admit a 'edge'; the role policy lets cloud do it"),
    ("cloud", request(role="company"), "role 'company' cannot join by admission"),
    ("edge-0", request(chain="another"), "is for chain 'another'"),
    ("edge-0", request(node_id="device-0"), "'device-0' is already a member"),  # a founder keeps its key
    ("edge-0", msgspec.structs.replace(request(), signature=bytes(64)), "bad signature"),
    ("edge-0", msgspec.structs.replace(request(), public_key=derive_key("ed25519", b"x").public_key), "bad signature"),
])
def test_the_chain_refuses_what_the_policy_or_the_signature_does_not_allow(sender, req, reason):
    c = Chain(ROLES)
    receipt = c.submit(sender, "membership.admit", req)
    assert not receipt.ok and reason in receipt.reason
    assert admitted_identities(c.state) == []


def test_an_admitted_id_keeps_its_key():
    c = Chain(ROLES)
    assert c.submit("edge-0", "membership.admit", request()).ok
    again = c.submit("cloud", "membership.admit", request(key=derive_key("ed25519", b"impostor")))
    assert not again.ok and "already a member" in again.reason
    assert [i.public_key for i in admitted_identities(c.state)] == [NEWCOMER.public_key]


def test_a_sponsor_submits_each_request_it_may_admit_once_and_retries_a_refused_one():
    c = Chain(ROLES)
    sponsor = AdmissionSponsor("edge-0", c.keys["edge-0"], "edge", ["device", "edge"])
    assert sponsor.open_roles == ("device",)  # an edge may not admit edges
    forged = msgspec.structs.replace(request(node_id="device-8"), signature=bytes(64))
    effects = sponsor.on_requests([request(), request(node_id="edge-5", role="edge"), forged], c.state)
    (submit,) = [e for e in effects if isinstance(e, SubmitTransaction)]
    assert any(isinstance(e, Rejected) and "bad signature" in e.reason for e in effects)
    assert sponsor.on_requests([request()], c.state) == []  # already submitted
    # the cloud sponsored the same newcomer first, in the same block: our admit is refused
    first = make_transaction(c.keys["cloud"], "cloud", 1, "membership.admit", request())
    header = BlockHeader(chain_id="edgetoll", height=1, prev_hash=b"", tx_root=b"", tx_count=2, proposer="c0",
                         timestamp_ms=0)
    block = Block(header=header, transactions=[first, submit.tx])
    receipts = c.state.apply_block(block)
    assert [r.ok for r in receipts] == [True, False]
    (refused,) = sponsor.on_block(block, receipts)
    assert isinstance(refused, Rejected) and "already a member" in refused.reason and sponsor.submitted == {}
    c.membership.admit(admitted_identities(c.state)[0])
    assert sponsor.on_requests([request()], c.state) == []  # a member now: nothing to sponsor


def test_the_center_keeps_only_requests_of_registered_nodes_with_the_same_key():
    desk = AdmissionDesk()
    assert "not registered" in desk.submit(request(), None)
    assert "another key" in desk.submit(request(), derive_key("ed25519", b"x").public_key)
    assert "bad signature" in desk.submit(msgspec.structs.replace(request(), signature=b"\0" * 64),
                                          NEWCOMER.public_key)
    assert desk.submit(request(), NEWCOMER.public_key) is None
    assert [r.node_id for r in desk.requests().requests] == ["device-7"]


def test_a_device_joins_a_running_simulated_network_and_its_transaction_commits():
    from edgeledger.net.sim import Simulator
    from edgeledger.scenario.assembly import build_network
    from edgeledger.scenario.schema import apply_overrides, parse_scenario

    data = tomllib.loads(resources.files("edgeledger.scenario").joinpath("demo.toml").read_text())
    scenario = parse_scenario(apply_overrides(data, ["fl.enabled=false", "attacks=[]", "topology.devices_per_edge=1",
                                                     "fl.clients_per_round=3", 'consortium.open_roles=["device"]']))
    net = build_network(scenario)
    sim = Simulator(1, net.link_for)
    for node in net.nodes.values():
        sim.add_host(node)
    for n in sorted(net.nodes):
        sim.start(n, net.nodes[n].start(0.0))
    sim.run(until=1.0)
    newcomer = derive_key("ed25519", b"device-3")
    req = make_admission_request(newcomer, net.membership.chain_id, "device-3", "device")
    from edgeledger.market.admission import AdmissionService, AdmissionSponsor

    sponsor = net.nodes["edge-0"]
    sponsor.add_service(AdmissionService(AdmissionSponsor("edge-0", sponsor.key, "edge", ["device"]), sponsor.state))
    sim.apply("edge-0", sponsor.on_message("center", AdmissionList(requests=[req]), sim.now))
    sim.run(until=sim.now + 2.0)
    for n in net.validators:  # every validator registered the key from its own committed state
        assert net.nodes[n].membership.identities["device-3"].public_key == newcomer.public_key
    tx = make_transaction(newcomer, "device-3", 1, "kv.set", KVSet(key="hello", value=b"from a newcomer"))
    sim.apply("edge-1", net.nodes["edge-1"].submit(tx, sim.now))
    sim.run(until=sim.now + 2.0)
    assert all(net.nodes[n].state.kv.get("kv/hello") == b"from a newcomer" for n in net.validators)


def test_an_admitted_member_can_endorse_and_its_signature_is_checked_against_the_state():
    from edgeledger.ledger.contracts import (
        EXECUTE_ORDER_VALIDATE, ContractCall, ContractDeploy, EndorseRequest, assemble, contract_state,
        endorse_proposal,
    )
    from tests.ledger.test_endorsement import Tally  # noqa: F401  (registers test.tally)

    c = Chain(ROLES)
    deploy = ContractDeploy(name="t", code="test.tally", version=1, execution=EXECUTE_ORDER_VALIDATE,
                            endorsement_policy="AND('c0', 'device.member')")
    assert c.submit("c0", "contract.deploy", deploy).ok
    proposal = EndorseRequest(sender="c1", call=ContractCall(contract="t", method="add", args=[3]), nonce=1)
    newcomer_signed = endorse_proposal(c.state, "device-7", NEWCOMER, proposal)[0]
    call = assemble(proposal, [endorse_proposal(c.state, "c0", c.keys["c0"], proposal)[0], newcomer_signed])
    tx = make_transaction(c.keys["c1"], "c1", 1, "contract.call", call)
    (before,) = c.block([tx])  # not a member yet: its signature counts for nothing
    assert before.code == "ENDORSEMENT_POLICY_FAILURE" and "do not verify: ['device-7']" in before.reason
    assert c.submit("edge-0", "membership.admit", request()).ok  # the chain's state now holds its key
    (after,) = c.block([make_transaction(c.keys["c1"], "c1", 2, "contract.call", call_for(c, proposal, 2))])
    assert after.ok and contract_state(c.state.kv, "t", "n") == 3


def call_for(c, proposal, nonce):
    from edgeledger.ledger.contracts import assemble, endorse_proposal

    again = msgspec.structs.replace(proposal, nonce=nonce)
    return assemble(again, [endorse_proposal(c.state, "c0", c.keys["c0"], again)[0],
                            endorse_proposal(c.state, "device-7", NEWCOMER, again)[0]])
