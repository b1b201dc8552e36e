"""The storage layer: a reader detects every batch the cloud rewrote, dropped or swapped after attestation."""

from edgeledger.codec import encode
from edgeledger.twins.storage import audit_readings
from tests.twins.plant_chain import PlantChain


def attested(n=4):
    c = PlantChain()
    batches = [c.batch(seq) for seq in range(1, n + 1)]
    for b in batches:
        c.read(b)
    return c, batches


def test_a_clean_store_passes_the_audit():
    c, _ = attested()
    report = audit_readings(c.state.kv, c.store.fetch)
    assert report.ok and report.checked == 4


def test_every_rewritten_or_dropped_batch_is_found_and_only_those():
    c, batches = attested()
    digests = [c.store.put(encode(b)) for b in batches]
    c.store.tamper(digests[1])
    c.store.tamper(digests[3], how="drop")
    report = audit_readings(c.state.kv, c.store.fetch)
    assert report.checked == 4
    assert sorted((f.seq, f.problem) for f in report.findings) == [(2, "tampered"), (4, "missing")]
    assert {f.digest for f in report.findings} == set(c.store.tampered)


def test_a_store_that_swaps_in_another_validly_hashed_blob_is_found():
    c, batches = attested(2)
    digest = c.store.put(encode(batches[0]))
    other = encode(batches[1])
    c.store._blobs[digest] = other  # serves real, signed bytes of another reading under the first one's key
    report = audit_readings(c.state.kv, c.store.fetch)
    assert [(f.seq, f.problem) for f in report.findings] == [(1, "tampered")]
