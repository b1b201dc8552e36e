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


def test_a_reading_request_names_its_batch_so_the_storage_layer_keeps_it():
    """A gateway's reading request is the transaction that names the batch's blob (rule 3): without it a
    storage node counts every batch as an upload nobody named, refuses uploads once 256 wait (the plant
    stalled after ~45 s) and deletes each batch when its window passes (the audit then finds it missing)."""
    from edgeledger.ledger.blobs import named_blobs
    from edgeledger.ledger.contracts import ContractCall
    from edgeledger.ledger.transaction import make_transaction

    c = PlantChain()
    batch = c.batch(1)
    digest = c.store.put(encode(batch))
    (effect,) = c.gateway.file_reading("m0", 1, digest, len(encode(batch)), b"", now=1.0)
    assert named_blobs(effect.tx) == [digest]
    receipt = c.block([effect.tx])[0]
    assert receipt.ok, receipt.reason
    key = c.keys["gw0"]
    sealed = ContractCall(contract="oracle", method="request",
                          args=["twin", "m0", b"an envelope", "twins", "deliver", 0, 10, b"", 0, True])
    garbage = [ContractCall(contract="oracle", method="request", args=["twin", "m0", b"\xc1 not msgpack"]),
               ContractCall(contract="oracle", method="request", args=[7]),
               ContractCall(contract="oracle", method="request", args=["data", "x", b"params"])]
    for n, call in enumerate([sealed, *garbage], start=1):  # opaque, malformed or unregistered: names nothing
        assert named_blobs(make_transaction(key, "gw0", 1000 + n, "contract.call", call)) == []
