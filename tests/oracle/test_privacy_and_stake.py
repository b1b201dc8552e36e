"""Sealed requests and results are readable by their recipients only; junk requests forfeit their stake.

A PBFT chain in the simulator with three groups of three oracle nodes (keys by distributed key
generation) and a plant that files requests through the proxy.
"""

import pytest

from edgeledger.codec import encode
from edgeledger.errors import IntegrityError
from edgeledger.ledger.contracts import ContractCall, contract_state, events_since
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle.privacy import open_params, open_result, seal_params
from edgeledger.oracle.simnet import FEED, PROXY, build_oracle_chain
from edgeledger.oracle.sources import NoisySensor
from edgeledger.oracle.stake import JUNK

GROUPS = {f"g{g}": [f"P.o{3 * g + i}" for i in range(3)] for g in range(3)}


def network(min_stake=0):
    sim = Simulator(4, lambda a, b: Link(0.005, 1e9))
    sources = {o: NoisySensor(seed=3) for members in GROUPS.values() for o in members}
    chain = build_oracle_chain(sim, "P", GROUPS, sources=sources, seed=b"pedal-privacy-test-seed-1",
                               min_stake=min_stake)
    sim.run(until=10.0, stop=chain.ready)
    assert chain.ready()
    return sim, chain


def kv(chain):
    return chain.nodes[chain.requester].state.kv


def test_a_sealed_request_and_its_result_are_unreadable_by_anyone_but_their_recipients():
    sim, chain = network()
    params = encode({"unit": "milli"})
    sealed = seal_params(params, {o: chain.keys[o].public_key for o in chain.oracles}, seed=b"test-envelope-1")
    chain.request("boiler", 1000, params=sealed, sealed=True)
    sim.run(until=sim.now + 4.0)
    ((request_id, _),) = chain.latencies().items()
    stored = contract_state(kv(chain), FEED, f"reading/{request_id}")
    result = encode(stored)  # the callback got the sealed form: [ciphertext, digest]
    value = open_result(chain.keys[chain.requester], result)  # the requester opens and checks the digest
    from edgeledger.codec import decode

    reading = decode(value, int)
    assert abs(reading - NoisySensor(seed=3).true_value(1000) * 1000) < 1000
    outsiders = [chain.validators[0], chain.validators[3], chain.oracles[0]]
    for who in outsiders:  # validators (other companies) and oracle nodes cannot read the result
        with pytest.raises(IntegrityError):
            open_result(chain.keys[who], result)
    for who in chain.validators + [chain.requester]:  # nor anyone but the oracle nodes the request's parameters
        with pytest.raises(IntegrityError):
            open_params(chain.keys[who], who, sealed)
    assert all(open_params(chain.keys[o], o, sealed) == params for o in chain.oracles)
    assert encode(reading) not in {v for v in kv(chain).values()} and params not in encode(stored)
    fulfilled = [e for _, e in events_since(chain.nodes[chain.requester].state, 0, PROXY, "fulfilled")]
    assert fulfilled[0].attributes["result"] == result  # what the group signed: the sealed result and its digest


def fund(sim, chain, account, amount):
    call = ContractCall(contract=PROXY, method="fund", args=[account, amount])
    chain.submit(chain.validators[0], chain.tx(chain.validators[0], "contract.call", call))
    sim.run(until=sim.now + 1.0)


def balance(chain, account):
    return contract_state(kv(chain), PROXY, f"bal/{account}", 0)


def test_a_junk_request_forfeits_its_stake_to_the_drawn_work_nodes_and_a_good_one_gets_it_back():
    sim, chain = network(min_stake=10)
    fund(sim, chain, chain.requester, 100)
    assert balance(chain, chain.requester) == 100
    chain.request("boiler", 1000, params=b"\xc1 not a request", stake=30)  # malformed: junk
    sim.run(until=sim.now + 4.0)
    state = chain.nodes[chain.requester].state
    (fulfilled,) = [e for _, e in events_since(state, 0, PROXY, "fulfilled")]
    assert fulfilled.attributes["junk"] and fulfilled.attributes["result"] == JUNK
    (forfeited,) = [e for _, e in events_since(state, 0, PROXY, "forfeited")]
    workers = fulfilled.attributes["workers"]
    assert forfeited.attributes["to"] == workers and forfeited.attributes["stake"] == 30
    assert balance(chain, chain.requester) == 70 and all(balance(chain, w) == 10 for w in workers)
    rid = fulfilled.attributes["request_id"]
    assert contract_state(kv(chain), FEED, f"reading/{rid}") is None  # no callback for junk
    chain.request("boiler", 2000, stake=30)  # a good request: its stake comes back with the result
    sim.run(until=sim.now + 4.0)
    assert len(chain.latencies()) == 1 and balance(chain, chain.requester) == 70
    chain.request("boiler", 3000, stake=5)  # below the proxy's min_stake: refused at filing
    sim.run(until=sim.now + 2.0)
    assert contract_state(kv(chain), PROXY, "seq") == 2 and balance(chain, chain.requester) == 70


def test_an_expired_request_is_refused_and_its_stake_returned():
    sim, chain = network(min_stake=10)
    fund(sim, chain, chain.requester, 50)
    for o in chain.oracles:  # the oracle nodes cannot reach the validator they submit through
        sim.cut(o, chain.validators[0])
    chain.request("boiler", 1000, stake=20, ttl_blocks=2)
    sim.run(until=sim.now + 3.0)  # heartbeat blocks pass the request's last block
    for o in chain.oracles:
        sim.heal(o, chain.validators[0])
    assert chain.latencies() == {} and balance(chain, chain.requester) == 30
    call = ContractCall(contract=PROXY, method="expire", args=[f"{PROXY}#1"])
    chain.submit(chain.requester, chain.tx(chain.requester, "contract.call", call))
    sim.run(until=sim.now + 1.0)
    assert balance(chain, chain.requester) == 50
    assert contract_state(kv(chain), PROXY, f"pending/{PROXY}#1") is None
