"""The Fabric task-sharing contract: workflow, payment on settlement, private details, metered usage."""

import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.errors import IntegrityError, RemoteProtocolError
from edgeledger.ledger import make_transaction
from edgeledger.ledger.contracts import (
    EXECUTE_ORDER_VALIDATE, ContractCall, ContractDeploy, EndorseRequest, assemble, contract_state, endorse_proposal,
    events_since, implicit_collection,
)
from edgeledger.ledger.contracts.private import PrivateStore
from edgeledger.market import PrivateCollection, shortlist_servers
from edgeledger.market.sharing.contract import SHARING_POLICY, details_key
from tests.market.consortium import Chain

ROLES = {"cloud": "cloud", "e0": "edge", "e1": "edge", "e2": "edge", "e3": "edge", "dev0": "device",
         "proxy": "proxy", "c0": "company", "c1": "company", "c2": "company"}
SERVERS = ["e0", "e1", "e2", "e3"]


class Peers:
    """The consortium's endorsing peers over a Chain: each call endorsed by two of them, then committed."""

    def __init__(self) -> None:
        self.chain = Chain(ROLES)
        self.stores = {n: PrivateStore(n) for n in ROLES}

    def call(self, sender, method, *args, endorsers=None, transient=None):
        c = self.chain
        nonce = c.nonces.get(sender, 0) + 1
        request = EndorseRequest(sender=sender, call=ContractCall(contract="tasks", method=method, args=list(args)),
                                 nonce=nonce, transient=transient or {})
        responses = []
        for e in endorsers or [sender, "e3" if sender != "e3" else "e2"]:
            response, writes = endorse_proposal(c.state, e, c.keys[e], request, self.stores[e].view)
            if response.error:
                return None, response.error
            self.stores[e].keep("tasks", sender, nonce, writes)
            responses.append(response)
        c.nonces[sender] = nonce
        tx = make_transaction(c.keys[sender], sender, nonce, "contract.call", assemble(request, responses))
        from edgeledger.ledger.block import Block, BlockHeader

        block = Block(header=BlockHeader(chain_id="edgetoll", height=c.state.height + 1, prev_hash=b"", tx_root=b"",
                                         tx_count=1, proposer="proxy", timestamp_ms=0), transactions=[tx])
        receipts = c.state.apply_block(block)
        for store in self.stores.values():
            store.on_block(block, receipts)
        return receipts[0], receipts[0].reason

    def state(self, key, default=None):
        return contract_state(self.chain.state.kv, "tasks", key, default)


def setup() -> Peers:
    p = Peers()
    deploy = ContractDeploy(name="tasks", code="fabric.task_sharing", version=1, args=[SERVERS, 1000],
                            execution=EXECUTE_ORDER_VALIDATE, endorsement_policy=SHARING_POLICY)
    assert p.chain.submit("cloud", "contract.deploy", deploy).ok
    for server, load in [("e0", 90), ("e1", 20), ("e2", 50), ("e3", 20)]:
        r, why = p.call(server, "report_load", load, 100)
        assert r.ok, why
    return p


def test_shortlist_is_lowest_load_first_ties_by_id_and_skips_the_requester():
    loads = {"a": {"load": 5, "capacity": 10}, "b": {"load": 1, "capacity": 10}, "c": {"load": 1, "capacity": 10},
             "d": {"load": 9, "capacity": 10}}
    assert shortlist_servers(loads, need=2, exclude="b", k=3) == ["c", "a"]


def test_full_workflow_pays_the_metered_usage_and_keeps_the_details_with_the_two_parties():
    p = setup()
    payload, result = b"task: render tile 7", b"tile 7 pixels"
    assert p.call("e0", "request_help", "t1", 30, 2)[0].ok
    assert "needs role cloud" in p.call("e1", "shortlist", "t1", 2, SERVERS)[1]
    r, _ = p.call("cloud", "shortlist", "t1", 2, SERVERS, endorsers=["cloud", "e1"])
    assert r.ok and p.state("task/t1")["shortlist"] == ["e1", "e3"]
    assert "not shortlisted" in p.call("e2", "volunteer", "t1", True, 1)[1]
    assert p.call("e1", "volunteer", "t1", False)[0].ok  # declines: its local load rose
    assert "exceeds the requester's 2" in p.call("e3", "volunteer", "t1", True, 5)[1]
    assert p.call("e3", "volunteer", "t1", True, 2)[0].ok
    details = encode({"payload_digest": sha256(payload), "payload_size": len(payload)})
    assert "did not volunteer" in p.call("e0", "agree", "t1", "e1", 50, endorsers=["e0", "e1"],
                                         transient={"details": details})[1]
    r, why = p.call("e0", "agree", "t1", "e3", 50, endorsers=["e0", "e3"], transient={"details": details})
    assert r.ok, why
    assert p.state("balance/e0") == 1000 - 100  # 2 tokens x 50 units in escrow
    # the details: only their hashes on chain; the two parties hold the plaintext, nobody else
    assert all(sha256(payload) not in v and details not in v for v in p.chain.state.kv.values())
    key = details_key("t1")
    assert decode(p.stores["e0"].view("tasks", implicit_collection("e0"), key), bytes) == details
    assert decode(p.stores["e3"].view("tasks", implicit_collection("e3"), key), bytes) == details
    assert all(not p.stores[n].data for n in ROLES if n not in ("e0", "e3"))
    assert "only the chosen volunteer" in p.call("e1", "countersign", "t1")[1]
    assert p.call("e3", "countersign", "t1", endorsers=["e3", "e0"])[0].ok
    pdc = PrivateCollection("t1", ("e0", "e3"))
    pdc.put("e0", "payload", payload, decode(decode(p.stores["e3"].view("tasks", implicit_collection("e3"), key),
                                                    bytes), dict)["payload_digest"])
    assert pdc.get("e3", "payload") == payload
    with pytest.raises(RemoteProtocolError):
        pdc.get("e1", "payload")
    assert "the contract allows 50" in p.call("e3", "submit_result", "t1", sha256(result), 51,
                                                endorsers=["e3", "e0"])[1]
    assert p.call("e3", "submit_result", "t1", sha256(result), 30, endorsers=["e3", "e0"])[0].ok
    with pytest.raises(IntegrityError):
        pdc.put("e3", "result", b"tampered", p.state("task/t1")["result_digest"])
    pdc.put("e3", "result", result, p.state("task/t1")["result_digest"])
    assert p.call("e0", "confirm", "t1", True, endorsers=["e0", "e3"])[0].ok
    task = p.state("task/t1")
    assert (task["status"], task["paid"], task["refunded"]) == ("settled", 60, 40)  # 30 metered units x 2
    assert (p.state("balance/e0"), p.state("balance/e3")) == (940, 1060)
    assert p.state("usage/e3") == {"tasks": 1, "units": 30, "earned": 60}
    names = [e.name for _, e in events_since(p.chain.state, 0, "tasks") if e.name != "load_reported"]
    assert names == ["requested", "shortlisted", "declined", "volunteered", "agreed", "contracted",
                     "result_submitted", "settled"]


def test_a_dispute_refunds_the_escrow_and_pays_nothing():
    p = setup()
    assert p.call("e0", "request_help", "t1", 10, 3)[0].ok
    assert p.call("cloud", "shortlist", "t1", 1, SERVERS, endorsers=["cloud", "e1"])[0].ok
    assert p.call("e1", "volunteer", "t1", True, 3)[0].ok
    assert p.call("e0", "agree", "t1", "e1", 10, endorsers=["e0", "e1"], transient={"details": b"d"})[0].ok
    assert p.call("e1", "countersign", "t1", endorsers=["e1", "e0"])[0].ok
    assert p.call("e1", "submit_result", "t1", b"\1" * 32, 10, endorsers=["e1", "e0"])[0].ok
    assert p.call("e0", "confirm", "t1", False, endorsers=["e0", "e1"])[0].ok
    assert p.state("task/t1")["status"] == "disputed"
    assert (p.state("balance/e0"), p.state("balance/e1")) == (1000, 1000)


def test_agree_needs_both_parties_to_endorse_and_the_details_as_transient_input():
    p = setup()
    assert p.call("e0", "request_help", "t1", 10, 3)[0].ok
    assert p.call("cloud", "shortlist", "t1", 1, SERVERS, endorsers=["cloud", "e1"])[0].ok
    assert p.call("e1", "volunteer", "t1", True, 3)[0].ok
    assert "transient input 'details'" in p.call("e0", "agree", "t1", "e1", 10, endorsers=["e0", "e1"])[1]
    r, why = p.call("e0", "agree", "t1", "e1", 10, endorsers=["e0", "e2"], transient={"details": b"d"})
    assert not r.ok and r.code == "ENDORSEMENT_POLICY_FAILURE" and "its member 'e1'" in why
    assert "needs 3000" in p.call("e0", "agree", "t1", "e1", 1000, endorsers=["e0", "e1"],
                                  transient={"details": b"d"})[1]  # 3 x 1000 > its 1000 tokens


def test_out_of_order_steps_are_rejected():
    p = setup()
    assert p.call("e0", "request_help", "t1", 10, 2)[0].ok
    assert "did not volunteer" in p.call("e0", "agree", "t1", "e1", 5, transient={"details": b"d"})[1]
    assert "only the volunteer" in p.call("e0", "submit_result", "t1", b"\0" * 32, 1)[1]
    assert "is requested, expected result_submitted" in p.call("e0", "confirm", "t1", True)[1]
    assert "taken" in p.call("e1", "request_help", "t1", 10, 2)[1]
    assert p.call("e0", "request_help", "t2", 500, 2)[0].ok
    assert "no edge server can take 500" in p.call("cloud", "shortlist", "t2", 2, SERVERS, endorsers=["cloud", "e1"])[1]
