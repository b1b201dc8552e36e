import random
from collections import deque

import msgspec

from edgeledger.codec import decode
from edgeledger.crypto.keys import derive_key
from edgeledger.effects import Send
from edgeledger.ledger import Block, Genesis, Identity, LedgerState, Membership, make_transaction
from edgeledger.ledger.block import BlockHeader
from edgeledger.ledger.contracts import (
    ContractCall, ContractDeploy, contract_state, logs_at,
)
from edgeledger.oracle import deal_groups
from tests.oracle.xchain_apps import Inventory, Orders  # noqa: F401  (registers the contracts)
from edgeledger.oracle.crosschain import GATEWAY, GATEWAY_CODE, XDeliver
from edgeledger.oracle.queries import message_trace
from edgeledger.oracle.relay import ChainSubmit, RelayCore

RELAYS = ["r0", "r1", "r2", "r3"]
CHAINS = ["fbc", "lbc1", "lbc2"]


class MiniChain:
    def __init__(self, chain_id, keys):
        ids = [Identity(node_id=n, role="company", scheme="ed25519", public_key=k.public_key) for n, k in keys.items()]
        self.chain_id, self.keys = chain_id, keys
        self.state = LedgerState(Membership(Genesis(chain_id=chain_id, identities=ids, validators=["op"])))
        self.nonces, self.mempool = {}, []

    def tx(self, sender, kind, payload):
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        return make_transaction(self.keys[sender], sender, self.nonces[sender], kind, payload)

    def seal(self):
        txs, self.mempool = self.mempool, []
        h = self.state.height + 1
        header = BlockHeader(chain_id=self.chain_id, height=h, prev_hash=b"", tx_root=b"", tx_count=len(txs),
                             proposer="op", timestamp_ms=0)
        receipts = self.state.apply_block(Block(header=header, transactions=txs))
        events = [(ev.name, ev.attributes) for log in logs_at(self.state.kv, h) for ev in log.events
                  if ev.contract == GATEWAY]
        return h, receipts, events


def build():
    keys = {n: derive_key("ed25519", n.encode()) for n in ["op", "plant"] + RELAYS}
    chains = {c: MiniChain(c, keys) for c in CHAINS}
    (group,), shares = deal_groups({"relay": RELAYS}, random.Random(5))
    for c in chains.values():
        c.mempool.append(c.tx("op", "contract.deploy", ContractDeploy(name=GATEWAY, code=GATEWAY_CODE, version=1,
                                                                       args=["fbc", group.commitments[0]])))
    chains["lbc2"].mempool.append(chains["lbc2"].tx("op", "contract.deploy", ContractDeploy(
        name="inventory", code="test.inventory", version=1, args=[10])))
    chains["lbc1"].mempool.append(chains["lbc1"].tx("plant", "contract.deploy", ContractDeploy(
        name="orders", code="test.orders", version=1, args=[])))
    for c in chains.values():
        c.seal()
    relays = {r: RelayCore(r, keys[r], "fbc", group, shares[r]["relay"]) for r in RELAYS}
    return chains, relays


def drive(chains, relays, rounds=12, tamper=None):
    receipts = []
    for _ in range(rounds):
        queue = deque()
        for c in chains.values():
            h, rs, events = c.seal()
            receipts += [(c.chain_id, r) for r in rs]
            for r in RELAYS:
                queue.extend((r, e) for e in relays[r].on_block_events(c.chain_id, h, events, 0.0))
        while queue:
            node, e = queue.popleft()
            if isinstance(e, Send):
                queue.extend((e.to, x) for x in relays[e.to].on_share(node, e.message, 0.0))
            elif isinstance(e, ChainSubmit):
                tx = tamper(e) if tamper else e.tx
                if tx is not None:
                    chains[e.chain_id].mempool.append(tx)
    return receipts


def send_order(chains, qty=3):
    lbc1 = chains["lbc1"]
    lbc1.mempool.append(lbc1.tx("plant", "contract.call", ContractCall(
        contract=GATEWAY, method="send", args=["lbc2", "inventory", "reserve", [qty], "orders", "confirmed", 10_000])))


def test_cross_chain_request_is_filed_on_the_fbc_anchored_delivered_and_called_back():
    chains, relays = build()
    send_order(chains, 3)
    receipts = drive(chains, relays)
    assert all(r.ok for _, r in receipts), [r.reason for _, r in receipts if not r.ok]
    fbc_roots = {k: v for k, v in chains["fbc"].state.kv.items() if k.startswith("cs/xchain/root/")}
    assert len(fbc_roots) == 1
    (batch_key,) = fbc_roots
    batch = int(batch_key.rsplit("/", 1)[1])
    root = contract_state(chains["fbc"].state.kv, GATEWAY, f"root/lbc1/{batch}")
    assert contract_state(chains["lbc1"].state.kv, GATEWAY, f"anchor/{batch}") == root
    assert contract_state(chains["lbc2"].state.kv, "inventory", "stock") == 7
    assert contract_state(chains["lbc1"].state.kv, "orders", "confirmed/lbc1:1") == 7
    trace = message_trace({c: chain.state for c, chain in chains.items()}, "lbc1:1")
    assert trace["delivery"] == "delivered" and trace["acknowledged"] and trace["call"] == "inventory.reserve"
    assert message_trace({"lbc1": chains["lbc1"].state}, "lbc1:1")["delivery"] == "destination not followed here"
    assert message_trace({c: chain.state for c, chain in chains.items()}, "lbc1:9") is None


def test_cross_chain_replay_and_forged_root_are_rejected():
    chains, relays = build()
    held = []

    def hold(e):  # the relay's delivery is held back so forgeries go first
        if e.tx.kind == "xchain.deliver":
            held.append(e.tx)
            return None
        return e.tx

    send_order(chains, 3)
    drive(chains, relays, tamper=hold)
    lbc2 = chains["lbc2"]
    d = decode(held[0].payload, XDeliver)
    forged_msg = d.message.replace(b"\x03", b"\x09")  # reserve 9 instead of 3
    assert forged_msg != d.message
    lbc2.mempool.append(lbc2.tx("op", "xchain.deliver", msgspec.structs.replace(d, message=forged_msg)))
    lbc2.mempool.append(lbc2.tx("op", "xchain.deliver", msgspec.structs.replace(d, root=b"\x00" * 32)))
    lbc2.mempool.append(held[0])
    lbc2.mempool.append(lbc2.tx("op", "xchain.deliver", d))  # the same message again
    _, receipts, _ = lbc2.seal()
    reasons = [r.reason for r in receipts]
    assert [r.ok for r in receipts] == [False, False, True, False], reasons
    assert "not under the filed root" in reasons[0]
    assert "signature does not verify" in reasons[1]
    assert "replay refused" in reasons[3]
    assert contract_state(lbc2.state.kv, "inventory", "stock") == 7


def test_a_message_past_its_timeout_is_refused_and_the_sender_told():
    chains, relays = build()
    lbc1, lbc2 = chains["lbc1"], chains["lbc2"]
    deadline = lbc2.state.height + 2  # a destination height the relay will be too late for
    lbc1.mempool.append(lbc1.tx("plant", "contract.call", ContractCall(
        contract=GATEWAY, method="send", args=["lbc2", "inventory", "reserve", [3], "orders", "confirmed", deadline])))
    held = []

    def hold(e):  # the relay group is slow: its delivery reaches lbc2 only after the timeout
        if e.tx.kind == "xchain.deliver" and not held:
            held.append(e.tx)
            return None
        return e.tx

    drive(chains, relays, rounds=4, tamper=hold)
    assert held and lbc2.state.height > deadline
    lbc2.mempool.append(held[0])
    receipts = drive(chains, relays, rounds=8)
    assert all(r.ok for _, r in receipts), [r.reason for _, r in receipts if not r.ok]
    assert contract_state(lbc2.state.kv, "inventory", "stock") == 10  # refused: the reservation never ran
    msg_id = "lbc1:1"
    assert contract_state(lbc2.state.kv, GATEWAY, f"in/{msg_id}") < 0  # recorded as expired ...
    lbc2.mempool.append(lbc2.tx("op", "xchain.deliver", decode(held[0].payload, XDeliver)))
    (_, (late,), _) = lbc2.seal()
    assert not late.ok and "replay refused" in late.reason  # ... so no later delivery runs it
    assert contract_state(lbc1.state.kv, "orders", f"confirmed/{msg_id}") == {"expired": True}  # the sender knows
    trace = message_trace({c: chain.state for c, chain in chains.items()}, msg_id)  # an observation node's view
    assert trace["delivery"] == "expired" and trace["acknowledged"] and trace["result"] == "expired"
    assert trace["timeout_height"] == deadline and trace["destination"] == "lbc2"


def test_a_message_without_an_expiry_is_refused_at_the_source():
    chains, _ = build()
    lbc1 = chains["lbc1"]
    lbc1.mempool.append(lbc1.tx("plant", "contract.call", ContractCall(
        contract=GATEWAY, method="send", args=["lbc2", "inventory", "reserve", [3], "orders", "confirmed"])))
    (_, (receipt,), _) = lbc1.seal()
    assert not receipt.ok and "needs an expiry" in receipt.reason


def test_expiry_by_destination_height_or_chain_time():
    from edgeledger.oracle.crosschain import CrossChainMessage, is_expired

    msg = CrossChainMessage(msg_id="a:1", source_chain="a", dest_chain="b", dest_contract="c", dest_method="m",
                            args=[], sender="s", callback_contract="", callback_method="", timeout_height=10)
    assert not is_expired(msg, 10, 10**9) and is_expired(msg, 11, 0)
    timed = msgspec.structs.replace(msg, timeout_height=0, timeout_ms=5_000)
    assert not is_expired(timed, 10**6, 4_999) and is_expired(timed, 1, 5_000)
    assert not is_expired(timed, 10**6, 0)  # a destination without a clock judges no timeout_ms: use a height
