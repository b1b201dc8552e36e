"""The cross-chain demo applications: only the gateway may reserve stock or confirm orders."""

from __future__ import annotations

from edgeledger.crypto.keys import derive_key
from edgeledger.ledger import Block, Genesis, Identity, LedgerState, Membership, make_transaction
from edgeledger.ledger.block import BlockHeader
from edgeledger.ledger.contracts import ContractCall, ContractDeploy, contract_state
from edgeledger.oracle.xchain_apps import ORDERS_CODE, STOCK_CODE


def _chain():
    key = derive_key("ed25519", b"op")
    ident = Identity(node_id="op", role="company", scheme="ed25519", public_key=key.public_key)
    return LedgerState(Membership(Genesis(chain_id="lbc2", identities=[ident], validators=["op"]))), key


def _seal(state, txs):
    header = BlockHeader(chain_id="lbc2", height=state.height + 1, prev_hash=b"", tx_root=b"", tx_count=len(txs),
                         proposer="op", timestamp_ms=0)
    return state.apply_block(Block(header=header, transactions=txs))


def test_stock_and_orders_refuse_direct_calls_from_members():
    state, key = _chain()
    deploys = [ContractDeploy(name="stock", code=STOCK_CODE, version=1, args=[10]),
               ContractDeploy(name="orders", code=ORDERS_CODE, version=1, args=[])]
    receipts = _seal(state, [make_transaction(key, "op", i + 1, "contract.deploy", d) for i, d in enumerate(deploys)])
    assert all(r.ok for r in receipts), [r.reason for r in receipts]
    calls = [ContractCall(contract="stock", method="reserve", args=[3]),
             ContractCall(contract="orders", method="confirmed", args=["lbc1:1", 7])]
    receipts = _seal(state, [make_transaction(key, "op", 10 + i, "contract.call", c) for i, c in enumerate(calls)])
    assert [r.ok for r in receipts] == [False, False]
    assert "through the gateway" in receipts[0].reason and "through the gateway" in receipts[1].reason
    assert contract_state(state.kv, "stock", "stock") == 10
