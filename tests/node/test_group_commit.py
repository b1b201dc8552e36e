"""Group commit (issue 22): one SQLite transaction per input, and still nothing announced before it is durable."""

from __future__ import annotations

import sqlite3

import pytest

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.effects import Broadcast, Send
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.identity import Membership
from edgeledger.node.node import Node
from tests.conftest import make_chain

VALIDATORS = ["v0", "v1", "v2", "v3"]


def _network(tmp_path, keys, genesis, group_commit):
    nodes = {}
    for v in VALIDATORS:
        membership = Membership(genesis)  # each node its own (its own verified-signature set)
        consensus = PbftReplica(v, keys[v], membership, membership.genesis_hash, PbftConfig(batch_timeout_s=0.01, max_block_txs=2))
        nodes[v] = Node(node_id=v, role="edge", key=keys[v], membership=membership,
                        store=ChainStore(tmp_path / f"{v}.sqlite"), consensus=consensus, group_commit=group_commit)
    return nodes


def _run(nodes, commits_per_input, start_effects):
    """Deliver every message and fire every timer until nothing is left; count COMMITs per input."""
    counted = {}
    for v, node in nodes.items():
        node.store._db.set_trace_callback(lambda sql, v=v: counted.setdefault(v, []).append(sql))
    queue = list(start_effects)
    timers = []
    while queue or timers:
        if not queue:
            node_id, name = timers.pop(0)
            before = len([s for s in counted.get(node_id, []) if s == "COMMIT"])
            queue += [(node_id, e) for e in nodes[node_id].on_timer(name, 1.0)]
            commits_per_input.append(len([s for s in counted.get(node_id, []) if s == "COMMIT"]) - before)
            continue
        sender, effect = queue.pop(0)
        targets = [effect.to] if isinstance(effect, Send) else list(effect.to) if isinstance(effect, Broadcast) else []
        if type(effect).__name__ == "SetTimer" and effect.name == "pbft.batch":
            timers.append((sender, effect.name))
        for to in targets:
            before = len([s for s in counted.get(to, []) if s == "COMMIT"])
            queue += [(to, e) for e in nodes[to].on_message(sender, effect.message, 1.0)]
            commits_per_input.append(len([s for s in counted.get(to, []) if s == "COMMIT"]) - before)


@pytest.mark.parametrize("group_commit", [True, False])
def test_each_input_is_one_transaction_and_listeners_hear_of_durable_blocks(tmp_path, group_commit):
    keys, membership = make_chain(4)
    nodes = _network(tmp_path, keys, membership.genesis, group_commit)
    heard = []

    def durable_when_heard(block, receipts, path=tmp_path / "v0.sqlite"):
        with sqlite3.connect(path) as other:  # another connection: committed data only
            heard.append(other.execute("SELECT COUNT(*) FROM blocks WHERE height = ?", (block.height,)).fetchone()[0])

    nodes["v0"].commit_listeners.append(durable_when_heard)
    commits: list[int] = []
    start = []
    for i in range(1, 7):
        tx = make_transaction(keys["dev0"], "dev0", i, "kv.set", b"k%d" % i)
        start += [("v0", e) for e in nodes["v0"].submit(tx, 1.0)]
    _run(nodes, commits, start)
    assert all(n.store.height == nodes["v0"].store.height >= 1 for n in nodes.values())
    assert heard and all(count == 1 for count in heard)  # every block was on disk when the listener heard
    if group_commit:
        assert max(commits) == 1  # one fsync per input, however many writes it made
    else:
        assert max(commits) >= 2  # without it an input that commits a block and votes writes twice
