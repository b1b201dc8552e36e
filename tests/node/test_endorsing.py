"""Endorsing peers and the endorsement client (sans-IO), wired by hand."""

from __future__ import annotations

import itertools

from edgeledger.effects import Rejected, Send, SetTimer, SubmitTransaction
from edgeledger.ledger.block import Block, BlockHeader
from edgeledger.ledger.contracts import (
    EXECUTE_ORDER_VALIDATE, CallContext, Contract, ContractDeploy, contract_method, contract_state, register_contract,
)
from edgeledger.node.endorsing import EndorsementClient, EndorserService
from tests.market.consortium import Chain

POLICY = "OutOf(2, 'company.member', 'company.member', 'company.member')"
DRAWS = itertools.count()


@register_contract
class Box(Contract):
    name = "test.box"

    @contract_method()
    def bump(self, ctx: CallContext) -> int:
        n = ctx.get("n", 0) + 1
        ctx.put("n", n)
        return n

    @contract_method()
    def draw(self, ctx: CallContext) -> int:
        ctx.put("draw", next(DRAWS))  # a non-deterministic contract: every endorser draws another value
        return 0


def setup():
    chain = Chain()
    deploy = ContractDeploy(name="box", code="test.box", version=1, execution=EXECUTE_ORDER_VALIDATE,
                            endorsement_policy=POLICY)
    assert chain.submit("c0", "contract.deploy", deploy).ok
    peers = {n: EndorserService(n, chain.keys[n], chain.state) for n in ("c0", "c1", "c2")}
    client = EndorsementClient("dev0", chain.keys["dev0"], local=None, timer_prefix="t.")
    return chain, peers, client


def deliver(peers, client, effects):
    """Answer every proposal the client sent; return the client's effects that follow."""
    out = []
    for e in effects:
        if isinstance(e, Send):
            (reply,) = peers[e.to].on_message("dev0", e.message, 0.0)
            out += client.on_response(e.to, reply.message)
    return out


def commit(chain, txs):
    header = BlockHeader(chain_id="edgetoll", height=chain.state.height + 1, prev_hash=b"", tx_root=b"",
                         tx_count=len(txs), proposer="proxy", timestamp_ms=0)
    block = Block(header=header, transactions=txs)
    return block, chain.state.apply_block(block)


def test_the_client_submits_once_every_endorser_signed_and_the_chain_applies_it():
    chain, peers, client = setup()
    sent = client.call("box", "bump", [], ["c0", "c1"])
    assert [type(e) for e in sent] == [SetTimer, Send, Send]
    (submit,) = deliver(peers, client, sent)
    assert isinstance(submit, SubmitTransaction) and submit.tx.nonce == 1
    _, (receipt,) = commit(chain, [submit.tx])
    assert receipt.ok and contract_state(chain.state.kv, "box", "n") == 1
    assert peers["c0"].endorsed == peers["c1"].endorsed == 1 and peers["c2"].endorsed == 0


def test_an_mvcc_conflict_is_endorsed_again_and_resubmitted():
    chain, peers, client = setup()
    first = deliver(peers, client, client.call("box", "bump", [], ["c0", "c1"]))
    second = deliver(peers, client, client.call("box", "bump", [], ["c1", "c2"]))  # same snapshot
    block, receipts = commit(chain, [first[0].tx, second[0].tx])
    assert [r.code for r in receipts] == ["VALID", "MVCC_READ_CONFLICT"]
    again = client.on_block(block, receipts)
    (retry,) = deliver(peers, client, again)
    _, (receipt,) = commit(chain, [retry.tx])
    assert receipt.ok and contract_state(chain.state.kv, "box", "n") == 2 and client.resubmitted == 1


def test_endorsers_that_disagree_are_asked_again_then_the_client_gives_up():
    chain, peers, client = setup()
    effects = client.call("box", "draw", [], ["c0", "c1"])
    for _ in range(client.retries + 1):
        effects = deliver(peers, client, effects)
        retry = [e for e in effects if isinstance(e, SetTimer) and e.name.startswith("t.endorse-retry:")]
        if retry:  # asked again after a short delay (a peer a block behind catches up)
            assert retry[0].delay_s == client.retry_delay_s and client.owns(retry[0].name)
            effects = client.on_timer(retry[0].name, 0.0)
    assert client.mismatches == client.retries + 1
    assert not any(isinstance(e, SubmitTransaction) for e in effects)
    assert any(isinstance(e, Rejected) and "gave up" in e.reason and "endorsers disagree" in e.reason for e in effects)


def test_a_silent_endorser_times_out_and_the_proposal_is_retried():
    chain, peers, client = setup()
    sent = client.call("box", "bump", [], ["c0", "c1"])
    client.on_response("c0", peers["c0"].on_message("dev0", sent[1].message, 0.0)[0].message)
    retry = client.on_timer("t.endorse:1", 2.0)
    assert {e.to for e in retry if isinstance(e, Send)} == {"c0", "c1"} and retry[1].message.nonce == 2
    assert client.on_timer("t.endorse:1", 2.0) == []  # answered once


def test_a_peer_refuses_a_proposal_relayed_for_another_client():
    chain, peers, client = setup()
    sent = client.call("box", "bump", [], ["c0"])
    (refused,) = peers["c0"].on_message("dev1", sent[1].message, 0.0)
    assert isinstance(refused, Rejected) and "sent by 'dev1'" in refused.reason


def test_a_peer_that_has_not_seen_the_contract_yet_is_asked_again_after_a_delay():
    chain, peers, client = setup()
    sent = client.call("nowhere", "bump", [], ["c0", "c1"])  # not deployed: both refuse
    effects = deliver(peers, client, sent)
    (retry,) = [e for e in effects if isinstance(e, SetTimer)]
    assert retry.name == "t.endorse-retry:1"
    again = client.on_timer(retry.name, 0.05)
    assert {e.to for e in again if isinstance(e, Send)} == {"c0", "c1"} and again[1].message.nonce == 2
