"""SewingChain's node kinds in one federation: local, observation and federal-interacting."""

import msgspec
import pytest

from edgeledger.consensus.pbft.events import ForwardRequest, Prepare
from edgeledger.effects import Rejected, Send
from edgeledger.errors import ConfigError
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.sim import Link, Simulator
from edgeledger.node.gossip import CommittedBlock
from edgeledger.oracle import NoisySensor
from edgeledger.oracle.crosschain import GATEWAY
from edgeledger.oracle.multichain import NODE_KINDS, build_federation
from tests.oracle.xchain_apps import Inventory, Orders  # noqa: F401  (registers the contracts)


def federation(**kwargs):
    sim = Simulator(5, lambda a, b: Link(latency_s=0.005, bandwidth_bps=1e9))
    rejections = []
    sim.on_reject = lambda node, r, now: rejections.append((node, r))
    fed = build_federation(sim, ["lbc1", "lbc2"], sources=NoisySensor(seed=1), n_groups=1,
                           observers={"auditor": ["fbc", "lbc1"]}, **kwargs)
    return sim, fed, rejections


def test_every_node_has_one_kind_and_local_nodes_belong_to_one_chain():
    _, fed, _ = federation(validators_per_chain=5, n_relays=3)
    assert set(fed.kinds.values()) == set(NODE_KINDS)
    assert fed.nodes_of_kind("observation") == ["auditor"]
    assert fed.nodes_of_kind("federal-interacting") == ["relay0", "relay1", "relay2"]
    assert fed.kind_of("lbc1.v4") == "local" and fed.home["lbc1.v4"] == "lbc1"  # 5 validators per chain
    for node_id in fed.nodes_of_kind("local"):
        chain = fed.home[node_id]
        member_of = [c for c, oc in fed.chains.items() if node_id in oc.membership.identities]
        assert member_of == [chain], node_id  # an identity on its own chain only
    for relay in fed.nodes_of_kind("federal-interacting"):  # an identity on every chain
        assert all(relay in c.membership.identities for c in fed.chains.values())
    assert all("auditor" not in c.membership.identities for c in fed.chains.values())
    with pytest.raises(ConfigError, match="lbc9"):
        build_federation(Simulator(1), ["lbc1"], sources=NoisySensor(seed=1), observers={"x": ["lbc9"]})


def test_observation_node_holds_the_verified_chain_but_its_votes_and_transactions_do_not_count():
    sim, fed, rejections = federation()
    l1 = fed.lbcs["lbc1"]
    sim.run(until=1.5)
    auditor = fed.observers["auditor"]
    assert set(auditor.nodes) == {"fbc", "lbc1"}  # it follows only the chains it was given
    height = l1.nodes["lbc1.v0"].state.height
    # a transaction signed by the auditor reaches lbc1's validator and is refused there
    tx = make_transaction(auditor.key, "auditor", 1, "contract.call", ContractCall(
        contract="feed", method="deliver", args=["oracle#1", 5]))
    sim.apply("auditor", auditor.submit("lbc1", tx, sim.now))
    # so is a PBFT vote it signs for the next height
    vote = Prepare(view=0, height=height + 1, digest=b"\x11" * 32, replica="auditor")
    vote = msgspec.structs.replace(vote, signature=auditor.key.sign(vote.signing_bytes("lbc1")))
    sim.apply("auditor", [Send(v, vote) for v in l1.validators])
    l1.request("boiler", 1000, at=sim.now + 0.05)  # the chain keeps committing around it
    sim.run(until=sim.now + 1.5)
    assert any(n == "lbc1.v0" and "not a registered identity" in r.reason for n, r in rejections)
    assert sum(1 for n, r in rejections if r.what == "Prepare" and n in l1.validators) == len(l1.validators)
    for chain_id in ("fbc", "lbc1"):
        validator = fed.chains[chain_id].nodes[f"{chain_id}.v0"]
        assert validator.state.height > 3
        assert auditor.head_hash(chain_id) == validator.store.head().hash  # the same chain, verified
    assert all(tx.sender != "auditor" for b in l1.nodes["lbc1.v0"].store.blocks() for tx in b.transactions)
    assert len(l1.latencies()) == 1
    # a block whose certificate does not match it is refused, and the auditor's chain does not move
    head = l1.nodes["lbc1.v0"].store.head()
    forged_header = msgspec.structs.replace(head.header, height=head.height + 1, prev_hash=head.hash)
    forged = msgspec.structs.replace(head, header=forged_header)
    effects = auditor.on_message("lbc1.v0", CommittedBlock(block=forged), sim.now)
    assert any(isinstance(e, Rejected) and e.what == "chain.block" for e in effects)
    assert auditor.head_hash("lbc1") == head.hash


def test_local_node_reaches_another_local_chain_only_through_the_relay_path():
    sim, fed, rejections = federation()
    l1, l2 = fed.lbcs["lbc1"], fed.lbcs["lbc2"]
    l2.submit(l2.requester, l2.tx(l2.requester, "contract.deploy", ContractDeploy(
        name="inventory", code="test.inventory", version=1, args=[10])), at=0.1)
    l1.submit(l1.requester, l1.tx(l1.requester, "contract.deploy", ContractDeploy(
        name="orders", code="test.orders", version=1, args=[])), at=0.1)
    sim.run(until=1.5)
    # directly: the link from lbc1's requester to lbc2's validator is cut, and lbc2 would not know it anyway
    direct = l1.tx(l1.requester, "contract.call", ContractCall(
        contract="inventory", method="reserve", args=[3]))
    dropped = sim.traffic[l1.requester].messages_dropped
    sim.apply(l1.requester, [Send("lbc2.v0", ForwardRequest(tx=direct))])
    sim.run(until=sim.now + 0.5)
    assert sim.traffic[l1.requester].messages_dropped == dropped + 1
    sim.heal(l1.requester, "lbc2.v0")
    sim.apply(l1.requester, [Send("lbc2.v0", ForwardRequest(tx=direct))])
    sim.run(until=sim.now + 0.5)
    assert any(n == "lbc2.v0" and "not a registered identity" in r.reason for n, r in rejections)
    assert contract_state(l2.nodes["lbc2.v0"].state.kv, "inventory", "stock") == 10
    # through its gateway, the FBC and the federal-interacting relays: the reservation lands
    l1.submit(l1.requester, l1.tx(l1.requester, "contract.call", ContractCall(
        contract=GATEWAY, method="send", args=["lbc2", "inventory", "reserve", [3], "orders", "confirmed", 10_000])))
    sim.run(until=sim.now + 3.0)
    assert contract_state(l2.nodes["lbc2.v0"].state.kv, "inventory", "stock") == 7
    assert contract_state(l1.nodes["lbc1.v0"].state.kv, "orders", "confirmed/lbc1:1") == 7
