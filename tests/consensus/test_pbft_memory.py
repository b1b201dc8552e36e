"""A replica keeps only its window of committed blocks in memory (issue 18); the node's store has the rest."""

from __future__ import annotations

from edgeledger.consensus.pbft import PbftConfig
from edgeledger.consensus.pbft.events import BlockBatch, FetchBlocks, ForwardRequest
from edgeledger.effects import Send
from edgeledger.ledger import ChainStore, make_transaction
from tests.conftest import make_chain
from tests.consensus.harness import Harness


class StoreLedger:
    """What a node does with CommitBlock: append to its store (the replica's ledger)."""

    def __init__(self) -> None:
        self.store = ChainStore(":memory:")

    def __getattr__(self, name):
        return getattr(self.store, name)


def _run(n_txs: int, keep: int = 3):
    keys, membership = make_chain(4)
    config = PbftConfig(max_block_txs=2, keep_blocks=keep, checkpoint_interval=4, window=16)
    h = Harness(keys, membership, config=config)
    ledgers = {v: StoreLedger() for v in h.replicas}
    for v, r in h.replicas.items():
        r.use_ledger(ledgers[v])
    apply = h.apply

    def apply_and_store(node, effects):  # the node appends each committed block before the next input
        apply(node, effects)
        while ledgers[node].store.height < len(h.committed[node]):
            ledgers[node].store.append(h.committed[node][ledgers[node].store.height])

    h.apply = apply_and_store
    txs = [make_transaction(keys["dev0"], "dev0", i + 1, "k", b"%d" % i) for i in range(n_txs)]
    for tx in txs:
        h.submit("v0", tx)
        h.run(until=h.now + 0.2)
    h.run()
    return h, keys, txs


def test_a_replica_with_a_ledger_holds_only_its_window_of_blocks():
    h, _, txs = _run(40)
    r = h.replicas["v1"]
    assert r.committed_height >= 20
    assert r.chain.in_memory <= r.chain.keep + 1
    assert all(r.chain.has_tx(tx.tx_id) for tx in txs)  # old ones answered by the store
    assert r.chain[1].height == 1 and 1 not in list(r.chain)  # height 1 is served, but not held


def test_old_committed_transactions_are_still_refused_and_served_to_laggards():
    h, keys, txs = _run(30)
    r = h.replicas["v2"]
    before = r.committed_height
    assert r.submit(txs[0], h.now) == [] and txs[0].tx_id not in r.mempool  # committed long ago: ignored
    assert r.receive("v3", ForwardRequest(tx=txs[1]), h.now) == []
    [reply] = [e for e in r.receive("v3", FetchBlocks(from_height=1, limit=8, replica="v3"), h.now)
               if isinstance(e, Send)]
    assert isinstance(reply.message, BlockBatch)
    assert [b.height for b in reply.message.blocks] == list(range(1, 9))
    assert reply.message.blocks[0].hash == h.committed["v2"][0].hash and r.committed_height == before
