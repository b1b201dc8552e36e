import pytest

from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError, RemoteProtocolError
from edgeledger.ledger.contracts import contract_state, events_since
from edgeledger.market import PrivateCollection, shortlist_servers
from tests.market.consortium import Chain

ROLES = {"cloud": "cloud", "e0": "edge", "e1": "edge", "e2": "edge", "e3": "edge", "dev0": "device",
         "proxy": "proxy", "c0": "company", "c1": "company", "c2": "company"}


def setup():
    c = Chain(ROLES)
    assert c.deploy("cloud", "tasks", "fabric.task_sharing").ok
    for server, load in [("e0", 90), ("e1", 20), ("e2", 50), ("e3", 20)]:
        assert c.call(server, "tasks", "report_load", load, 100)[0].ok
    return c


def test_shortlist_is_lowest_load_first_ties_by_id_and_skips_the_requester():
    loads = {"a": {"load": 5, "capacity": 10}, "b": {"load": 1, "capacity": 10}, "c": {"load": 1, "capacity": 10},
             "d": {"load": 9, "capacity": 10}}
    assert shortlist_servers(loads, need=2, exclude="b", k=3) == ["c", "a"]


def test_full_workflow_keeps_payload_private_and_settles():
    c = setup()
    payload, result = b"task: render tile 7", b"tile 7 pixels"
    assert c.call("e0", "tasks", "request_help", "t1", sha256(payload), 30)[0].ok
    assert "needs role cloud" in c.call("e1", "tasks", "shortlist", "t1", 2)[0].reason
    r, chosen = c.call("cloud", "tasks", "shortlist", "t1", 2)
    assert chosen == ["e1", "e3"]
    assert "not shortlisted" in c.call("e2", "tasks", "volunteer", "t1", True)[0].reason
    assert c.call("e1", "tasks", "volunteer", "t1", False)[0].ok  # declines: its local load rose
    assert c.call("e3", "tasks", "volunteer", "t1", True)[0].ok
    assert "did not volunteer" in c.call("e0", "tasks", "agree", "t1", "e1")[0].reason
    assert c.call("e0", "tasks", "agree", "t1", "e3")[0].ok
    assert "only the chosen volunteer" in c.call("e1", "tasks", "countersign", "t1")[0].reason
    assert c.call("e3", "tasks", "countersign", "t1")[0].ok
    task = contract_state(c.state.kv, "tasks", "task/t1")
    pdc = PrivateCollection("t1", ("e0", "e3"))
    pdc.put("e0", "payload", payload, task["payload_digest"])
    assert pdc.get("e3", "payload") == payload
    with pytest.raises(RemoteProtocolError):
        pdc.get("e1", "payload")
    assert all(payload not in v for v in c.state.kv.values())  # the bytes never reach the chain
    assert c.call("e3", "tasks", "submit_result", "t1", sha256(result))[0].ok
    with pytest.raises(IntegrityError):
        pdc.put("e3", "result", b"tampered", contract_state(c.state.kv, "tasks", "task/t1")["result_digest"])
    pdc.put("e3", "result", result, contract_state(c.state.kv, "tasks", "task/t1")["result_digest"])
    assert c.call("e0", "tasks", "confirm", "t1", True)[0].ok
    assert contract_state(c.state.kv, "tasks", "task/t1")["status"] == "settled"
    names = [e.name for _, e in events_since(c.state, 0, "tasks")]
    assert names == ["requested", "shortlisted", "declined", "volunteered", "agreed", "contracted",
                     "result_submitted", "settled"]


def test_out_of_order_steps_are_rejected():
    c = setup()
    c.call("e0", "tasks", "request_help", "t1", sha256(b"x"), 10)
    assert "did not volunteer" in c.call("e0", "tasks", "agree", "t1", "e1")[0].reason
    assert "only the volunteer" in c.call("e0", "tasks", "submit_result", "t1", b"\0" * 32)[0].reason
    assert "is requested, expected result_submitted" in c.call("e0", "tasks", "confirm", "t1", True)[0].reason
    assert "taken" in c.call("e1", "tasks", "request_help", "t1", sha256(b"y"), 10)[0].reason
    assert c.call("e0", "tasks", "request_help", "t2", sha256(b"y"), 500)[0].ok
    assert "no edge server can take 500" in c.call("cloud", "tasks", "shortlist", "t2", 2)[0].reason
