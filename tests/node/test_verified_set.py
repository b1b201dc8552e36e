"""A node's verified-signature set holds what is still on its way to a block (issue 18's soak)."""

from __future__ import annotations

from edgeledger.ledger import make_transaction
from tests.conftest import make_chain
from tests.node.test_group_commit import _network, _run


def test_committed_transactions_leave_every_nodes_verified_set(tmp_path):
    keys, membership = make_chain(4)
    nodes = _network(tmp_path, keys, membership.genesis, group_commit=True)
    txs = [make_transaction(keys["dev0"], "dev0", i, "kv.set", b"k%d" % i) for i in range(1, 7)]
    start = [("v0", e) for tx in txs for e in nodes["v0"].submit(tx, 1.0)]
    assert all(tx.tx_id in nodes["v0"].membership.verified for tx in txs)  # checked once at submit
    _run(nodes, [], start)
    committed = {tx.tx_id for n in [nodes["v0"]] for h in range(1, n.store.height + 1)
                 for tx in n.store.block(h).transactions}
    assert {tx.tx_id for tx in txs} <= committed
    for node in nodes.values():  # every replica verified them (submit or proposal) and forgot them at commit
        assert not any(tx.tx_id in node.membership.verified for tx in txs), node.node_id
    late = make_transaction(keys["dev0"], "dev0", 7, "kv.set", b"k7")  # one still in flight stays
    nodes["v0"].submit(late, 2.0)
    assert late.tx_id in nodes["v0"].membership.verified
