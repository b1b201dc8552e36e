from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.ledger.contracts import ContractCall, contract_state
from edgeledger.net.sim import Link, Simulator
from edgeledger.oracle import LyingSource, NoisySensor, SlowSource, archive_series, check_series, sensor_series
from edgeledger.oracle.simnet import FEED, build_oracle_chain

import pytest
from edgeledger.errors import IntegrityError

GROUPS = {"g0": ["L.o0", "L.o1", "L.o2"], "g1": ["L.o3", "L.o4", "L.o5"], "g2": ["L.o6", "L.o7", "L.o8"]}


def run_chain(seed=1, requests=3):
    sim = Simulator(seed, lambda a, b: Link(0.005, 1e9))
    rejections = []
    sim.on_reject = lambda node, r, now: rejections.append((node, r))
    sensor = NoisySensor(seed=1)
    sources = {o: sensor for g in GROUPS.values() for o in g}
    sources["L.o1"] = LyingSource(sensor)
    sources["L.o4"] = SlowSource(sensor, extra_delay_s=2.0)
    chain = build_oracle_chain(sim, "L", GROUPS, sources=sources)
    sim.run(until=1.5)
    for i in range(requests):
        chain.request("boiler", 1000 * i, at=2.0 + 0.1 * i)
    sim.run(until=4.0 if requests else 1.5)
    return chain, rejections


def test_data_oracle_on_a_pbft_chain_calls_back_every_request_despite_a_liar_and_a_slow_source():
    chain, rejections = run_chain()
    latencies = chain.latencies()
    assert len(latencies) == 3 and all(0 < s < 1.0 for s in latencies.values())  # the slow source is not waited for
    assert not [r for r in rejections if "oracle" in r[1].what]
    state = chain.nodes["L.v0"].state.kv
    for i, request_id in enumerate(sorted(latencies)):
        value = contract_state(state, FEED, f"reading/{request_id}")
        assert abs(value - NoisySensor(seed=1).true_value(1000 * i) * 1000) < 1000
    again, _ = run_chain()
    assert again.latencies() == latencies
    assert again.nodes["L.v0"].store.head().hash == chain.nodes["L.v0"].store.head().hash


def test_stored_series_is_anchored_by_digest_and_tampering_is_detected():
    chain, _ = run_chain(requests=0)
    blobs = MemoryBlobStore()
    meta = archive_series(blobs, "boiler-2026-11", sensor_series(NoisySensor(seed=1), "boiler", 50))
    requester = chain.requester
    chain.submit(requester, chain.tx(requester, "contract.call", ContractCall(
        contract=FEED, method="record_series", args=[meta.name, meta.digest, meta.size, meta.samples])))
    chain.sim.run(until=chain.sim.now + 1.0)
    view = chain.nodes["L.v0"].state.kv
    assert len(check_series(blobs, view, FEED, "boiler-2026-11")) == 50
    blobs._blobs[meta.digest] = blobs._blobs[meta.digest][:-1] + b"\x00"  # tamper with the stored bytes
    with pytest.raises(IntegrityError, match="does not match its on-chain digest"):
        check_series(blobs, view, FEED, "boiler-2026-11")
