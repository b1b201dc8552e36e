"""Execute-order-validate as Fabric does it: signed endorsements, policies, MVCC, no execution at commit."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.errors import ConfigError
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.block import Block, BlockHeader
from edgeledger.ledger.contracts import (
    EXECUTE_ORDER_VALIDATE, CallContext, Contract, ContractCall, ContractDeploy, EndorsementMismatch, EndorseRequest,
    EndorserSignature, StateEntry, assemble, call_log, contract_method, contract_state, endorse_proposal, implicit_collection,
    parse_policy, private_hash_key, register_contract, satisfied,
)
from edgeledger.ledger.contracts.private import PrivateStore
from tests.market.consortium import Chain

TWO_COMPANIES = "OutOf(2, 'company.member', 'company.member', 'company.member')"
RUNS = itertools.count()  # the non-deterministic contract's source of disagreement


@register_contract
class Tally(Contract):
    name = "test.tally"
    executions = 0  # how often any peer or committer ran a method

    @contract_method()
    def add(self, ctx: CallContext, k: int) -> int:
        Tally.executions += 1
        n = ctx.get("n", 0) + k
        ctx.put("n", n)
        ctx.emit("added", n=n)
        return n

    @contract_method()
    def stamp(self, ctx: CallContext) -> int:
        value = next(RUNS)  # differs on every run: endorsers cannot agree
        ctx.put("stamp", value)
        return value

    @contract_method()
    def keep_secret(self, ctx: CallContext, party: str) -> None:
        secret = ctx.transient("secret")
        ctx.require(secret is not None, "transient 'secret' missing")
        for member in (ctx.sender, party):
            ctx.put_private(implicit_collection(member), "secret", secret)

    @contract_method()
    def read_secret(self, ctx: CallContext, owner: str) -> bytes:
        return ctx.get_private(implicit_collection(owner), "secret")


@pytest.fixture
def chain() -> Chain:
    c = Chain()
    r = c.submit("c0", "contract.deploy", ContractDeploy(name="tally", code="test.tally", version=1,
                                                         execution=EXECUTE_ORDER_VALIDATE,
                                                         endorsement_policy=TWO_COMPANIES))
    assert r.ok, r.reason
    return c


def propose(chain: Chain, sender: str, method: str, *args, transient=None) -> EndorseRequest:
    nonce = chain.nonces.get(sender, 0) + 1
    return EndorseRequest(sender=sender, call=ContractCall(contract="tally", method=method, args=list(args)),
                          nonce=nonce, transient=transient or {})


def endorse(chain: Chain, request: EndorseRequest, endorsers, stores=None):
    responses = []
    for e in endorsers:
        store = (stores or {}).get(e)
        response, writes = endorse_proposal(chain.state, e, chain.keys[e], request, store.view if store else None)
        if store is not None:
            store.keep("tally", request.sender, request.nonce, writes)
        responses.append(response)
    return responses


def submit(chain: Chain, request: EndorseRequest, call: ContractCall):
    chain.nonces[request.sender] = request.nonce
    tx = make_transaction(chain.keys[request.sender], request.sender, request.nonce, "contract.call", call)
    return tx, chain.block([tx])[0]


def test_endorsed_call_commits_its_signed_write_set_without_running_the_contract(chain):
    request = propose(chain, "dev0", "add", 4)
    before = Tally.executions
    call = assemble(request, endorse(chain, request, ["c0", "c1"]))
    assert Tally.executions == before + 2  # each endorser simulated once
    assert [s.endorser for s in call.endorsements] == ["c0", "c1"]
    tx, receipt = submit(chain, request, call)
    assert receipt.ok and receipt.code == "VALID"
    assert Tally.executions == before + 2  # the committer applied the write set: nothing ran
    assert contract_state(chain.state.kv, "tally", "n") == 4
    log = call_log(chain.state.kv, tx.tx_id)
    assert log.result == 4 and [e.name for e in log.events] == ["added"]


def test_a_forged_endorsement_fails_the_policy_and_stays_in_the_block_marked_invalid(chain):
    request = propose(chain, "dev0", "add", 1)
    call = assemble(request, endorse(chain, request, ["c0", "c1"]))
    forged = msgspec.structs.replace(call, endorsements=[
        call.endorsements[0], EndorserSignature(endorser="c1", signature=bytes(64))])
    tx, receipt = submit(chain, request, forged)
    assert not receipt.ok and receipt.code == "ENDORSEMENT_POLICY_FAILURE"
    assert "valid endorsements by ['c0']" in receipt.reason and "do not verify: ['c1']" in receipt.reason
    assert contract_state(chain.state.kv, "tally", "n") is None


def test_a_write_set_changed_after_endorsement_voids_every_signature(chain):
    request = propose(chain, "dev0", "add", 1)
    call = assemble(request, endorse(chain, request, ["c0", "c1"]))
    rigged = [msgspec.structs.replace(w, value=b"\x7f") for w in call.endorsement.write_set]
    tampered = msgspec.structs.replace(call, endorsement=msgspec.structs.replace(call.endorsement, write_set=rigged))
    _, receipt = submit(chain, request, tampered)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and "do not verify: ['c0', 'c1']" in receipt.reason


def test_missing_endorsements_and_a_policy_not_met_are_refused(chain):
    request = propose(chain, "dev0", "add", 1)
    bare = ContractCall(contract="tally", method="add", args=[1])
    _, receipt = submit(chain, request, bare)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and "carries no endorsement" in receipt.reason
    request = propose(chain, "dev0", "add", 1)
    one = assemble(request, endorse(chain, request, ["c0"]))
    _, receipt = submit(chain, request, one)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and "valid endorsements by ['c0']" in receipt.reason
    request = propose(chain, "dev0", "add", 1)
    not_companies = assemble(request, endorse(chain, request, ["c0", "proxy", "en0"]))  # proxy, en0: no company
    _, receipt = submit(chain, request, not_companies)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and str(parse_policy(TWO_COMPANIES)) in receipt.reason


def test_an_endorsement_cannot_be_replayed_in_another_transaction(chain):
    request = propose(chain, "dev0", "add", 1)
    call = assemble(request, endorse(chain, request, ["c0", "c1"]))
    _, first = submit(chain, request, call)
    assert first.ok
    again = msgspec.structs.replace(request, nonce=request.nonce + 1)  # same endorsed call, another nonce
    _, receipt = submit(chain, again, call)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE"


def test_reads_made_stale_by_an_earlier_transaction_are_an_mvcc_conflict(chain):
    first = propose(chain, "dev0", "add", 1)
    second = EndorseRequest(sender="dev1", call=first.call, nonce=1)  # endorsed on the same snapshot
    calls = [assemble(r, endorse(chain, r, ["c0", "c2"])) for r in (first, second)]
    txs = [make_transaction(chain.keys[r.sender], r.sender, r.nonce, "contract.call", c)
           for r, c in zip((first, second), calls)]
    receipts = chain.block(txs)
    assert [r.code for r in receipts] == ["VALID", "MVCC_READ_CONFLICT"]
    assert "MVCC read conflict on key 'n'" in receipts[1].reason
    assert contract_state(chain.state.kv, "tally", "n") == 1


def test_endorsers_that_disagree_are_caught_by_the_client_and_by_the_committers(chain):
    request = propose(chain, "dev0", "stamp")
    responses = endorse(chain, request, ["c0", "c1"])
    with pytest.raises(EndorsementMismatch, match="endorsers disagree"):
        assemble(request, responses)
    # a client that submits anyway, with c1's signature over another result: only c0's verifies
    call = assemble(request, responses[:1])
    mixed = msgspec.structs.replace(call, endorsements=call.endorsements + [
        EndorserSignature(endorser="c1", signature=responses[1].signature)])
    _, receipt = submit(chain, request, mixed)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and "do not verify: ['c1']" in receipt.reason


def test_an_upgrade_between_endorsement_and_commit_expires_the_endorsement(chain):
    @register_contract
    class TallyV2(Tally):
        version = 2

    request = propose(chain, "dev0", "add", 1)
    call = assemble(request, endorse(chain, request, ["c0", "c1"]))
    up = chain.submit("c0", "contract.deploy", ContractDeploy(name="tally", code="test.tally", version=2,
                                                              execution=EXECUTE_ORDER_VALIDATE,
                                                              endorsement_policy=TWO_COMPANIES))
    assert up.ok
    _, receipt = submit(chain, request, call)
    assert receipt.code == "EXPIRED_CHAINCODE"


def test_each_instance_names_its_execution_model_and_policy():
    c = Chain()
    assert c.deploy("c0", "plain", "test.tally").ok  # order-execute by default: runs in block order
    r, result = c.call("dev0", "plain", "add", 2)
    assert r.ok and result == 2
    request = EndorseRequest(sender="dev0", call=ContractCall(contract="plain", method="add", args=[1]), nonce=9)
    response, _ = endorse_proposal(c.state, "c0", c.keys["c0"], request)
    assert "runs order-execute" in response.error and not response.signature
    no_policy = c.submit("c0", "contract.deploy", ContractDeploy(name="x", code="test.tally", version=1,
                                                                 execution=EXECUTE_ORDER_VALIDATE))
    assert not no_policy.ok and "needs an endorsement_policy" in no_policy.reason
    typo = c.submit("c0", "contract.deploy", ContractDeploy(name="y", code="test.tally", version=1,
                                                            execution=EXECUTE_ORDER_VALIDATE,
                                                            endorsement_policy="OutOf(2, 'company.member'"))
    assert not typo.ok and "endorsement policy" in typo.reason


def test_private_data_goes_on_chain_as_hashes_and_stays_with_its_two_members(chain):
    stores = {n: PrivateStore(n) for n in ("c0", "c1", "c2")}
    request = propose(chain, "c0", "keep_secret", "c1", transient={"secret": b"price=42"})
    call = assemble(request, endorse(chain, request, ["c0", "c1"], stores))
    chain.nonces["c0"] = request.nonce
    tx = make_transaction(chain.keys["c0"], "c0", request.nonce, "contract.call", call)
    header = BlockHeader(chain_id="edgetoll", height=chain.state.height + 1, prev_hash=b"", tx_root=b"",
                         tx_count=1, proposer="proxy", timestamp_ms=0)
    block = Block(header=header, transactions=[tx])
    receipts = chain.state.apply_block(block)
    assert receipts[0].ok, receipts[0].reason
    # every node's state holds only sha256 of the value, versioned like any key
    assert not any(b"price=42" in v for v in chain.state.kv.values()) and b"price=42" not in encode(tx)
    for member in ("c0", "c1"):
        entry = decode(chain.state.kv[f"cs/tally/{private_hash_key(implicit_collection(member), 'secret')}"],
                       StateEntry)
        assert decode(entry.value, bytes) == sha256(encode(b"price=42")) and entry.version.height == block.height
    # the two endorsing members kept the plaintext until the commit, then moved it into their side database
    assert stores["c0"].transient and stores["c1"].transient and not stores["c2"].transient
    for store in stores.values():
        store.on_block(block, receipts)
    assert stores["c1"].view("tally", implicit_collection("c1"), "secret") == encode(b"price=42")
    assert stores["c0"].view("tally", implicit_collection("c0"), "secret") == encode(b"price=42")
    assert stores["c0"].view("tally", implicit_collection("c1"), "secret") is None  # each holds its own collection
    assert not stores["c2"].data and not stores["c1"].transient
    # a member can endorse a call that reads it; a peer outside the collection cannot
    reader = propose(chain, "dev0", "read_secret", "c1")
    ok, _ = endorse_proposal(chain.state, "c1", chain.keys["c1"], reader, stores["c1"].view)
    refused, _ = endorse_proposal(chain.state, "c2", chain.keys["c2"], reader, stores["c2"].view)
    assert ok.error == "" and ok.endorsement.result == b"price=42"
    assert "not held here" in refused.error and not refused.signature


def test_a_write_to_a_members_collection_needs_that_members_endorsement(chain):
    request = propose(chain, "c0", "keep_secret", "c1", transient={"secret": b"s"})
    call = assemble(request, endorse(chain, request, ["c0", "c2"]))  # two companies, but not c1
    _, receipt = submit(chain, request, call)
    assert receipt.code == "ENDORSEMENT_POLICY_FAILURE" and "without the endorsement of its member 'c1'" in receipt.reason


def test_policies_follow_fabric_syntax_and_use_each_signer_once():
    roles = {"c0": "company", "c1": "company", "e0": "edge"}.get
    two = parse_policy(TWO_COMPANIES)
    assert not satisfied(two, {"c0"}, roles) and satisfied(two, {"c0", "c1"}, roles)
    assert not satisfied(parse_policy("AND('company.member', 'company.member')"), {"c0", "e0"}, roles)
    # Fabric's greedy evaluator would give c0 to the role principal first and fail; every assignment is tried
    assert satisfied(parse_policy("AND('company.member', 'c0')"), {"c0", "c1"}, roles)
    assert satisfied(parse_policy("OR('e0', AND('c0', 'c1'))"), {"e0"}, roles)
    with pytest.raises(ConfigError, match=r"OutOf\(3, ...\) has 2 terms"):
        parse_policy("OutOf(3, 'a', 'b')")
    with pytest.raises(ConfigError, match="cannot read"):
        parse_policy("ANY('a')")


def test_receipts_keep_their_validation_code_in_the_store(tmp_path, chain):
    first = propose(chain, "dev0", "add", 1)
    second = EndorseRequest(sender="dev1", call=first.call, nonce=1)
    txs = [make_transaction(chain.keys[r.sender], r.sender, r.nonce, "contract.call",
                            assemble(r, endorse(chain, r, ["c0", "c1"]))) for r in (first, second)]
    header = BlockHeader(chain_id="edgetoll", height=chain.state.height + 1, prev_hash=b"", tx_root=b"",
                         tx_count=2, proposer="proxy", timestamp_ms=0)
    block = Block(header=header, transactions=txs)
    receipts = chain.state.apply_block(block)
    store = ChainStore(tmp_path / "chain.sqlite")
    for h in range(1, block.height):
        store.append(Block(header=msgspec.structs.replace(header, height=h, tx_count=0), transactions=[]), [])
    store.append(block, receipts)
    assert [r.code for r in store.receipts(block)] == ["VALID", "MVCC_READ_CONFLICT"]
