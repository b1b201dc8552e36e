import pytest

from edgeledger.codec import encode
from edgeledger.errors import IntegrityError
from edgeledger.ledger.blobs import MemoryBlobStore
from edgeledger.ledger.contracts import contract_state
from edgeledger.oracle.computing import FLTask, compute_work, run_fl_task, verify_global_model
from tests.oracle.pedal_harness import ORACLES, CoreRouter, OracleChain

TASK = FLTask(dataset="digits", model="mlp", rounds=2, epochs=1, lr_micro=100_000, batch_size=32, seed=4, n_clients=3)


def test_computing_oracle_writes_a_digest_members_verified_and_outvotes_a_tampering_member():
    chain = OracleChain()
    req = chain.request(source="fl-task", kind="compute", params=encode(TASK))
    blobs = {o: MemoryBlobStore() for o in ORACLES}
    work = {o: compute_work(blobs[o], tamper=o in ("o0", "o3", "o6")) for o in ORACLES}  # one bad member per group
    cores = chain.cores()
    router = CoreRouter(cores, work)
    for o in ORACLES:
        router.run(o, cores[o].on_request(req, 0.0))
    router.fire_timers()
    (receipt,) = chain.block(router.txs)
    assert receipt.ok, receipt.reason
    digest = contract_state(chain.state.kv, "feed", f"reading/{req.request_id}")
    trained = run_fl_task(TASK)  # deterministic: the same digest as every honest member's replay
    assert digest == trained.digest and trained.accuracy > 0.5 and len(trained.accuracies) == 2
    master = cores["o0"].masters[req.term][0]
    group = next(g for g in chain.groups if master in g.members)
    assert sum(len(b) for b in blobs.values()) == len(group.members)  # only the working group trained
    honest = next(o for o in group.members if o not in ("o0", "o3", "o6"))
    params = verify_global_model(blobs[honest], digest)  # nodes check the digest before the global update
    assert params.shape == trained.params.shape
    bad = next(o for o in group.members if o in ("o0", "o3", "o6"))
    with pytest.raises(IntegrityError):
        verify_global_model(blobs[bad], digest)  # the tampering member holds no model with that digest
