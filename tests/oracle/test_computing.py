"""The computing oracle (Algorithm 2): per-member local training, Pedal aggregation checked by
every signer, the global model's digest on chain, round after round."""

import numpy as np
import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError
from edgeledger.fl.params import params_from_bytes, params_to_bytes
from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.ledger.contracts import contract_state
from edgeledger.oracle.computing import (
    FLTask,
    ModelUpdate,
    aggregate_updates,
    compute_work,
    evaluate_model,
    initial_model,
    pedal_model_aggregation,
    round_params,
    run_fl_task,
    train_update,
    verify_global_model,
)
from edgeledger.oracle.pedal import FetchJob
from edgeledger.oracle.records import OracleRequest
from tests.oracle.pedal_harness import ORACLES, CoreRouter, OracleChain

TASK = FLTask(dataset="digits", model="mlp", rounds=2, epochs=5, lr_micro=200_000, batch_size=32, seed=4,
              n_clients=len(ORACLES))
FREE_RIDERS = ("o0", "o3", "o6")  # one per group: uploads random parameters


def oracle_network(free_riders=FREE_RIDERS):
    chain = OracleChain()
    blobs = {o: MemoryBlobStore() for o in ORACLES}
    storage = MemoryBlobStore()  # the shared storage layer: next round's drawn work nodes fetch the model there
    work = {o: compute_work(blobs[o], part=i, tamper=o in free_riders, storage=storage)
            for i, o in enumerate(ORACLES)}
    cores = chain.cores(aggregators=lambda o: {"compute": pedal_model_aggregation(blobs[o], storage)})
    return chain, blobs, work, cores


def compute_request(params):
    return OracleRequest(request_id="oracle#1", kind="compute", source="fl-task", params=params, requester="plant",
                         requester_certificate=b"", callback_contract="feed", callback_method="deliver",
                         timestamp_ms=0, expires_at_height=100, term=0, height=1)


def run_round(chain, cores, work, round_, global_digest):
    req = chain.request(source="fl-task", kind="compute", params=round_params(TASK, round_, global_digest))
    router = CoreRouter(cores, work)
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    return req, router


def test_oracle_group_trains_locally_aggregates_with_pedal_and_chains_the_global_model_round_by_round():
    chain, blobs, work, cores = oracle_network()
    digest, global_params = b"", None
    for r in (1, 2):
        before = {o: set(blobs[o]._blobs) for o in ORACLES}
        req, router = run_round(chain, cores, work, r, digest)
        assert not router.rejections
        (receipt,) = chain.block(router.txs)
        assert receipt.ok, receipt.reason
        on_chain = contract_state(chain.state.kv, "feed", f"reading/{req.request_id}")
        master = cores["o1"].masters[req.term][0]
        group = next(g for g in chain.groups if master in g.members)
        proposal = cores[master].requests[req.request_id].proposal
        updates = [decode(o.value, ModelUpdate) for o in proposal.observations]
        assert [u.node_id for u in updates] == [o.node_id for o in proposal.observations]
        assert len(updates) >= group.threshold and all(u.round == r for u in updates)
        start = params_from_bytes(blobs[master].get(digest)) if digest else initial_model(TASK)
        for u in updates:  # each member trained its own partition from the verified global model
            if u.node_id not in FREE_RIDERS:
                assert train_update(TASK, r, start, ORACLES.index(u.node_id), u.node_id).digest == u.digest
        assert len({u.digest for u in updates}) == len(updates)  # distinct partitions give distinct models
        # the chain names the Pedal aggregate of exactly these signed updates; the free-rider is ranked out
        global_params = aggregate_updates(TASK, updates)
        assert on_chain == sha256(params_to_bytes(global_params))
        rider = [u for u in updates if u.node_id in FREE_RIDERS]
        assert all(not np.array_equal(params_from_bytes(u.params), global_params) for u in rider)
        for member in group.members:  # every member that checked the proposal holds the model, verified
            if member in {o.node_id for o in proposal.observations}:
                assert np.array_equal(verify_global_model(blobs[member], on_chain), global_params)
        workers = cores[master].requests[req.request_id].workers
        assert {o.node_id for o in proposal.observations} <= set(workers)
        idle = [o for o in ORACLES if o not in workers and o not in group.members]
        assert idle and all(set(blobs[o]._blobs) == before[o] for o in idle)  # only the drawn work nodes trained
        digest = on_chain
    assert evaluate_model(TASK, global_params) > 0.6


def test_members_refuse_a_master_whose_model_is_not_the_pedal_aggregate_of_the_signed_updates():
    chain, blobs, work, cores = oracle_network(free_riders=())

    def lying(node):
        honest = pedal_model_aggregation(blobs[node])

        def aggregate(request, values, threshold):
            result = honest(request, values, threshold)
            if result is not None and cores[node].requests[request.request_id].master == node:
                return encode(sha256(b"a model nobody trained"))  # the master alone lies
            return result

        return {"compute": aggregate}

    for o in ORACLES:
        cores[o].aggregators = lying(o)
    _, router = run_round(chain, cores, work, 1, b"")
    assert router.txs == []  # no shares, no group signature, nothing for the chain
    assert {r.what for _, r in router.rejections} == {"oracle.proposal"}
    assert any("not the aggregate" in r.reason for _, r in router.rejections)


def test_updates_and_global_models_are_checked_against_their_digests():
    blobs = MemoryBlobStore()

    def job(params):
        return FetchJob("o1", compute_request(params))

    start = initial_model(TASK)
    good = [train_update(TASK, 1, start, p, f"o{p}") for p in (1, 2)]
    forged = ModelUpdate(node_id="o3", round=1, weight=good[0].weight, digest=good[0].digest,
                         params=good[1].params)  # claims one model's digest, carries another's bytes
    copied = ModelUpdate(node_id="o4", round=1, weight=1, digest=good[0].digest, params=good[0].params)
    rule = pedal_model_aggregation(blobs)
    request = compute_request(round_params(TASK, 1))
    values = [encode(good[0]), encode(forged), encode(copied), b"", b"junk"]
    assert rule(request, values, 2) is None  # one valid update, a copy of it and garbage: no quorum
    result = rule(request, [encode(u) for u in good] + values[1:], 2)
    assert decode(result, bytes) == sha256(params_to_bytes(aggregate_updates(TASK, good)))
    # a member refuses to train from a global model whose bytes do not match the digest on chain
    digest = blobs.put(params_to_bytes(start))
    blobs._blobs[digest] = params_to_bytes(start + np.float32(1e-3))
    refused = compute_work(blobs, part=1)(job(round_params(TASK, 2, digest)))
    assert refused.value == b""
    with pytest.raises(IntegrityError):
        verify_global_model(blobs, digest)
    honest = compute_work(MemoryBlobStore(), part=1)(job(round_params(TASK, 1)))
    assert decode(honest.value, ModelUpdate).digest == good[0].digest  # deterministic local training
    # a member that was not in last round's group fetches the model from the storage layer, verified too
    storage = MemoryBlobStore()
    shared = storage.put(params_to_bytes(start))
    fetched = compute_work(MemoryBlobStore(), part=1, storage=storage)(job(round_params(TASK, 2, shared)))
    assert decode(fetched.value, ModelUpdate).round == 2
    storage._blobs[shared] = params_to_bytes(start * np.float32(2))
    assert compute_work(MemoryBlobStore(), part=1, storage=storage)(job(round_params(TASK, 2, shared))).value == b""


def test_reference_run_is_deterministic_and_learns():
    small = FLTask(dataset="digits", model="mlp", rounds=2, epochs=1, seed=2, n_clients=3)
    first, again = run_fl_task(small), run_fl_task(small)
    assert first.digest == again.digest and len(first.accuracies) == 2
    assert first.accuracy > 0.5


def test_computing_oracle_on_a_pbft_chain_in_the_simulator_chains_two_rounds():
    from edgeledger.net.sim import Link, Simulator
    from edgeledger.oracle.simnet import FEED, build_oracle_chain

    sim = Simulator(2, lambda a, b: Link(0.005, 1e9))
    rejections = []
    sim.on_reject = lambda node, r, now: rejections.append((node, r))
    groups = {f"g{g}": [f"C.o{3 * g + i}" for i in range(3)] for g in range(3)}
    oracles = sorted(m for members in groups.values() for m in members)
    blobs = {o: MemoryBlobStore() for o in oracles}
    storage = MemoryBlobStore()  # the storage layer the drawn work nodes fetch the global model from
    chain = build_oracle_chain(
        sim, "C", groups, sources={},
        work=lambda o: compute_work(blobs[o], part=oracles.index(o), seconds_per_round=0.2, storage=storage),
        aggregators=lambda o: {"compute": pedal_model_aggregation(blobs[o], storage)})
    sim.run(until=1.5)
    digest, digests = b"", []
    for r in (1, 2):
        chain.request("fl-task", 1000 * r, kind="compute", params=round_params(TASK, r, digest))
        sim.run(until=sim.now + 3.0)
        assert len(chain.latencies()) == r, f"round {r} was not called back"
        request_id = max(chain.latencies())
        digest = contract_state(chain.nodes["C.v0"].state.kv, FEED, f"reading/{request_id}")
        holders = [o for o in oracles if blobs[o].has(digest)]
        assert len(holders) >= 2  # the master and the members that checked its aggregate
        for o in holders:  # anyone fetching the model checks it against the chain first
            assert sha256(params_to_bytes(verify_global_model(blobs[o], digest))) == digest
        digests.append(digest)
    assert not [r for _, r in rejections if r.what.startswith("oracle")]
    assert len(set(digests)) == 2
    assert evaluate_model(TASK, verify_global_model(blobs[holders[0]], digests[-1])) > 0.6


def test_a_task_with_shard_partitions_gives_each_oracle_node_two_label_shards():
    """McMahan's split: two shards of label-sorted data each (a shard may straddle a label boundary)."""
    from edgeledger.oracle.computing import _data

    shards = FLTask(dataset="digits", model="mlp", rounds=1, epochs=1, lr_micro=100_000, batch_size=32, seed=4,
                    n_clients=10, partition="shards")
    labels = [len(np.unique(c.train_data.y)) for c in _data(shards).clients]
    iid = [len(np.unique(c.train_data.y)) for c in _data(msgspec_replace(shards, partition="iid")).clients]
    assert max(labels) <= 4 and sum(labels) / len(labels) <= 3 and min(iid) == 10


def msgspec_replace(task, **changes):
    import msgspec

    return msgspec.structs.replace(task, **changes)
