from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle import NoisySensor
from edgeledger.oracle.crosschain import GATEWAY
from edgeledger.oracle.multichain import build_federation
from tests.oracle.xchain_apps import Inventory, Orders  # noqa: F401  (registers the contracts)


def test_federal_and_local_chains_in_one_simulation_run_data_oracles_and_a_cross_chain_request():
    sim = Simulator(3, lambda a, b: Link(latency_s=0.005, bandwidth_bps=1e9))
    rejections = []
    sim.on_reject = lambda node, r, now: rejections.append((node, r))
    fed = build_federation(sim, ["lbc1", "lbc2"], sources=NoisySensor(seed=1), n_groups=1)
    l1, l2 = fed.lbcs["lbc1"], fed.lbcs["lbc2"]
    l2.submit(l2.requester, l2.tx(l2.requester, "contract.deploy", ContractDeploy(
        name="inventory", code="test.inventory", version=1, args=[10])), at=0.1)
    l1.submit(l1.requester, l1.tx(l1.requester, "contract.deploy", ContractDeploy(
        name="orders", code="test.orders", version=1, args=[])), at=0.1)
    sim.run(until=1.5)
    l1.submit(l1.requester, l1.tx(l1.requester, "contract.call", ContractCall(
        contract=GATEWAY, method="send", args=["lbc2", "inventory", "reserve", [3], "orders", "confirmed", 10_000])), at=2.0)
    for chain in fed.chains.values():
        chain.request("boiler", 1000, at=2.0)
    sim.run(until=5.0)
    assert rejections == []
    assert len({c.membership.chain_id for c in fed.chains.values()}) == 3
    assert all(len(c.latencies()) == 1 for c in fed.chains.values())  # every chain's own data oracle answered
    fbc_view = fed.fbc.nodes["fbc.v0"].state.kv
    roots = [k for k in fbc_view if k.startswith("cs/xchain/root/lbc1/")]
    assert len(roots) == 1  # the request was filed on the federal chain
    batch = int(roots[0].rsplit("/", 1)[1])
    l1_view = l1.nodes["lbc1.v0"].state.kv
    assert contract_state(l1_view, GATEWAY, f"anchor/{batch}") == contract_state(fbc_view, GATEWAY,
                                                                                    f"root/lbc1/{batch}")
    assert contract_state(l2.nodes["lbc2.v0"].state.kv, "inventory", "stock") == 7  # state change on the destination
    assert contract_state(l1_view, "orders", "confirmed/lbc1:1") == 7  # callback on the source
    for relay in fed.relays.values():  # every relay follows all three chains with their own certificates
        assert {n.state.height > 0 for n in relay.nodes.values()} == {True}
