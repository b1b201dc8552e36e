"""The twin registry contract: roles, and state that changes only through threshold-signed fulfilments."""

from edgeledger.codec import encode
from edgeledger.ledger.contracts import contract_state
from edgeledger.twins.records import REGISTRY, TwinObservation
from tests.twins.plant_chain import PlantChain, near_failure_samples


def state(c, key, default=None):
    return contract_state(c.state.kv, REGISTRY, key, default)


def add(c, sender, twin="w1", kind="workpiece", gateway="gw0", sensors=None, commands=None):
    return c.call(sender, REGISTRY, "add_twin", twin, kind, "edge0", gateway, c.sensor.public_key,
                  c.actuator.public_key, sensors or [["diameter", "mm"]], commands if commands is not None else [])


def test_a_company_adds_twins_it_owns_and_no_other_role_can():
    c = PlantChain()
    r, count = add(c, "bolt")
    assert r.ok and count == 2
    assert state(c, "twin/w1")["owner"] == "bolt" and state(c, "twin/w1")["kind"] == "workpiece"
    for sender in ("engineer", "gw0", "o1"):
        r, _ = add(c, sender, twin=f"w-{sender}")
        assert not r.ok and "needs role company" in r.reason
    assert not add(c, "bolt")[0].ok  # the id exists
    r, _ = add(c, "bolt", twin="w2", commands=[["bad", [["x", 5, 1]]]])
    assert not r.ok and "commands must be" in r.reason
    r, _ = add(c, "bolt", twin="w3", kind="robot")
    assert not r.ok and "kind must be" in r.reason
    assert state(c, "ids") == ["m0", "w1"]


def test_only_the_owner_updates_retires_and_grants():
    c = PlantChain()
    r, version = c.call("acme", REGISTRY, "update_twin", "m0", "gateway", "gw0")
    assert r.ok and version == 2
    for method, args in (("update_twin", ["m0", "edge", "edge9"]), ("retire_twin", ["m0"]), ("grant", ["m0", "intruder"])):
        r, _ = c.call("bolt", REGISTRY, method, *args)
        assert not r.ok and "only the owner company 'acme'" in r.reason
    r, _ = c.call("acme", REGISTRY, "update_twin", "m0", "owner", "bolt")
    assert not r.ok and "cannot be updated" in r.reason
    r, _ = c.call("acme", REGISTRY, "update_twin", "m0", "actuator_key", b"short")
    assert not r.ok and "32-byte" in r.reason
    assert c.call("acme", REGISTRY, "retire_twin", "m0")[0].ok
    assert state(c, "twin/m0")["status"] == "retired"
    r, _ = c.call("engineer", REGISTRY, "command", "m0", "set_speed", [800])
    assert not r.ok and "takes no commands" in r.reason


def test_twin_state_changes_only_through_an_oracle_fulfilment():
    c = PlantChain()
    forged = encode(TwinObservation(twin_id="m0", seq=1, digest=b"\0" * 32, verdict="attested", values=[1, 2, 3, 4]))
    from typing import Any

    from edgeledger.codec import decode

    for sender in ("acme", "gw0", "o0", "operator"):
        r, _ = c.call(sender, REGISTRY, "deliver", "oracle#1", decode(forged, Any))
        assert not r.ok and "only through oracle fulfilments" in r.reason
        r, _ = c.call(sender, REGISTRY, "set_model", "oracle#1", [b"x" * 32, 1, b"y" * 32])
        assert not r.ok and "only through oracle fulfilments" in r.reason
    assert state(c, "state/m0") is None and state(c, "model") is None


def test_an_attested_reading_becomes_the_twin_state_with_its_digest():
    c = PlantChain()
    batch = c.batch(1)
    (done,) = c.read(batch)
    s = state(c, "state/m0")
    assert s["seq"] == 1 and s["values"] == [2000, 40000, 12000, 1200000] and s["status"] == "running"
    assert s["digest"] == c.store.put(encode(batch)) and s["tx"] == done.tx_id
    assert state(c, "reading/m0/1")[0] == s["digest"] and s["risk_milli"] == -1  # no model yet
    assert state(c, "stats/m0") == [1, 0, 0]


def test_a_batch_the_gateway_rewrote_is_refused_even_when_a_member_vouches_for_it():
    c = PlantChain(liar="o1")
    batch = c.batch(1)
    rewritten = encode(type(batch)(**{**{f: getattr(batch, f) for f in batch.__struct_fields__},
                                      "samples": [[1000, 40000, 12000, 1200000]] * 8}))
    (done,) = c.read(batch, data=rewritten)
    refused = state(c, "refused/m0/1")
    assert refused[1] == "forged" and refused[3] == done.tx_id
    assert state(c, "state/m0") is None and state(c, "reading/m0/1") is None
    c.read(c.batch(2))  # an honest batch still goes through with the liar in the group
    assert state(c, "state/m0")["seq"] == 2 and state(c, "stats/m0") == [1, 1, 0]


def test_a_batch_the_store_rewrote_before_it_was_read_is_refused_as_mismatch():
    c = PlantChain()
    batch = c.batch(1)
    digest = c.store.put(encode(batch))
    c.store.tamper(digest)
    c.read(batch)
    assert state(c, "refused/m0/1")[1] == "mismatch" and state(c, "state/m0") is None


def test_an_older_reading_enters_the_history_but_not_the_state():
    c = PlantChain()
    c.read(c.batch(2))
    c.read(c.batch(1, samples=[[2500, 41000, 12500, 1100000]] * 8))
    assert state(c, "state/m0")["seq"] == 2 and state(c, "reading/m0/1") is not None


def test_a_risk_over_the_threshold_opens_one_order_the_owner_closes():
    c = PlantChain(risk_threshold_milli=1)
    model = c.train()
    assert state(c, "model")[:2] == [model, 2]
    c.read(c.batch(1, samples=near_failure_samples()), model=model)
    s = state(c, "state/m0")
    assert s["model"] == model and s["risk_milli"] >= 1
    order = state(c, "order/1")
    assert order["twin"] == "m0" and order["status"] == "open" and state(c, "open_order/m0") == 1
    c.read(c.batch(2, samples=near_failure_samples()), model=model)
    assert state(c, "order_seq") == 1  # one open order per twin
    r, _ = c.call("bolt", REGISTRY, "close_order", 1, "repaired")
    assert not r.ok and "only the owner" in r.reason
    assert not c.call("acme", REGISTRY, "close_order", 1, "fixed")[0].ok
    assert c.call("acme", REGISTRY, "close_order", 1, "repaired")[0].ok
    assert state(c, "order/1")["outcome"] == "repaired" and state(c, "open_order/m0") is None


def test_a_risk_under_a_model_the_chain_does_not_know_is_not_recorded():
    c = PlantChain(risk_threshold_milli=1)
    c.read(c.batch(1, samples=near_failure_samples()), model=b"\x01" * 32)
    s = state(c, "state/m0")
    assert s["seq"] == 1 and s["risk_milli"] == -1 and state(c, "order_seq") is None


def test_model_rounds_must_follow_each_other_and_the_task_is_fixed_once_trained():
    c = PlantChain()
    c.train(rounds=1)
    assert state(c, "model")[1] == 1
    r, _ = c.call("operator", REGISTRY, "set_model_task", b"\x02" * 32)
    assert not r.ok and "fixed once" in r.reason
    r, _ = c.call("acme", REGISTRY, "set_model_task", b"\x02" * 32)
    assert not r.ok and "only the admin" in r.reason



def test_a_failure_is_counted_once_however_many_failed_readings_report_it():
    c = PlantChain()
    c.read(c.batch(1))
    for seq in (2, 3):
        c.read(c.batch(seq, samples=[], status="failed"))
    c.read(c.batch(4))
    c.read(c.batch(5, samples=[], status="failed"))
    assert state(c, "stats/m0") == [5, 0, 2] and state(c, "state/m0")["status"] == "failed"
