"""Store commits off the event loop (issue 20), and still nothing is heard of before it is durable.

Four PBFT validators, each a real :class:`Node` with its chain store on disk and the store's writer
thread running (as a deployed node has it), each behind a real :class:`HttpDriver` whose inputs
(messages, timers, local submissions) go through the driver's own code; only the wire is replaced
by direct delivery between the drivers. Every commit of every writer is slowed down, so a driver
that released a batch's messages before its commit future resolved would be caught: the checker
reads each node's database file on another connection whenever a vote leaves a node, a commit
listener hears of a block or a submission is answered.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from edgeledger.consensus.pbft import PbftConfig, PbftReplica
from edgeledger.consensus.pbft.durable import vote_key
from edgeledger.consensus.pbft.events import Commit, Prepare, PrePrepare
from edgeledger.effects import Send
from edgeledger.ledger import ChainStore, make_transaction
from edgeledger.ledger.identity import Membership
from edgeledger.net.http import HttpDriver
from edgeledger.node.node import Node
from tests.conftest import make_chain

VALIDATORS = ["v0", "v1", "v2", "v3"]
COMMIT_DELAY_S = 0.01  # each writer commit takes at least this long (a slow disk)


def _on_disk(path, sql, *args) -> int:
    with sqlite3.connect(path) as other:  # another connection: committed rows only
        return int(other.execute(sql, args).fetchone()[0])


def _slow(store: ChainStore, gate: threading.Event | None = None) -> None:
    writer = store._writer
    commit = writer._commit

    def slow(ops):
        if gate is not None:
            assert gate.wait(10)
        time.sleep(COMMIT_DELAY_S)
        commit(ops)

    writer._commit = slow


class Premature(HttpDriver):
    """A driver that does not wait for the store: what the checker must catch."""

    def release(self, effects):
        released = asyncio.get_running_loop().create_future()
        self._carry_out(effects, released)
        return released


async def _run_cluster(tmp_path, driver_type, blocks_wanted: int = 3):
    keys, first = make_chain(4)
    nodes, drivers, paths = {}, {}, {}
    violations: list[str] = []
    votes_checked = heard = 0

    def check_vote(v, message):
        nonlocal votes_checked
        if isinstance(message, (PrePrepare, Prepare, Commit)) and message.replica == v:
            votes_checked += 1
            key = vote_key(message.view, message.height)
            if not _on_disk(paths[v], "SELECT COUNT(*) FROM consensus_log WHERE key = ?", key):
                violations.append(f"{v} sent {type(message).__name__} at height {message.height} before its vote was on disk")

    for v in VALIDATORS:
        membership = Membership(first.genesis)
        consensus = PbftReplica(v, keys[v], membership, membership.genesis_hash,
                                PbftConfig(batch_timeout_s=0.01, max_block_txs=2))
        paths[v] = tmp_path / f"{v}.sqlite"
        nodes[v] = Node(node_id=v, role="edge", key=keys[v], membership=membership, store=ChainStore(paths[v]),
                        consensus=consensus, group_commit=True)
        nodes[v].store.start_writer()
        _slow(nodes[v].store)

        def listener(block, receipts, v=v):
            nonlocal heard
            heard += 1
            if not _on_disk(paths[v], "SELECT COUNT(*) FROM blocks WHERE height = ?", block.height):
                violations.append(f"{v}'s listener heard of block {block.height} before it was on disk")

        nodes[v].commit_listeners.append(listener)
        drivers[v] = driver_type(nodes[v], keys[v], membership.verify)

        def enqueue(to, message, body=None, v=v):  # the wire: check, then deliver through the peer's driver
            check_vote(v, message)
            asyncio.get_running_loop().create_task(drivers[to].deliver(v, [message]))

        drivers[v]._enqueue = enqueue
    try:
        for v in VALIDATORS:
            await drivers[v].submit_local(nodes[v].start(time.time()))
        for i in range(1, 2 * blocks_wanted + 1):
            tx = make_transaction(keys["dev0"], "dev0", i, "kv.set", b"k%d" % i)
            before = nodes["v0"].store.height
            await drivers["v0"].submit_local(nodes["v0"].submit(tx, time.time()))
            if _on_disk(paths["v0"], "SELECT COUNT(*) FROM blocks") < before:
                violations.append("a submission was answered before the blocks it followed were on disk")
        deadline = time.monotonic() + 20
        while min(n.store.committed.height for n in nodes.values()) < blocks_wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        for v in VALIDATORS:
            await drivers[v].close()
            nodes[v].store.close()
    return nodes, violations, votes_checked, heard


def test_votes_blocks_and_answers_are_released_only_after_their_commit(tmp_path):
    nodes, violations, votes_checked, heard = asyncio.run(_run_cluster(tmp_path, HttpDriver))
    assert violations == []
    assert votes_checked > 20 and heard >= 4 * 3  # the checker looked at real traffic
    heights = {_on_disk(tmp_path / f"{v}.sqlite", "SELECT MAX(height) FROM blocks") for v in VALIDATORS}
    assert min(heights) >= 3


def test_the_checker_catches_a_driver_that_releases_before_the_commit(tmp_path):
    _, violations, _, _ = asyncio.run(_run_cluster(tmp_path, Premature, blocks_wanted=2))
    assert violations  # the same cluster, effects carried out at once: votes leave before they are durable


def _single_node(tmp_path):
    """A node with its store's writer thread, behind a driver whose wire records what leaves."""
    keys, first = make_chain(4)
    store = ChainStore(tmp_path / "n.sqlite")
    node = Node(node_id="v0", role="edge", key=keys["v0"], membership=Membership(first.genesis), store=store,
                group_commit=True)
    store.start_writer()
    driver = HttpDriver(node, keys["v0"], node.membership.verify)
    sent: list[str] = []
    driver._enqueue = lambda to, message, body=None: sent.append(message)
    return store, node, driver, sent


def test_release_holds_effects_in_input_order_until_the_store_commit_resolves(tmp_path):
    store, node, driver, sent = _single_node(tmp_path)
    gate = threading.Event()
    _slow(store, gate)

    async def scenario():
        with node.durable_group():
            store.put_meta("a", b"1")
        first_out = driver.release([Send("v1", "after a")])
        second_out = driver.release([Send("v1", "no write of its own")])  # must not overtake the first
        driver.apply([Send("v1", "through apply")])  # what roles and older callers use: held the same way
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert sent == [] and not first_out.done() and not second_out.done()
        gate.set()
        await asyncio.wait_for(asyncio.gather(first_out, second_out), 10)
        for _ in range(100):
            if len(sent) == 3:
                break
            await asyncio.sleep(0.005)
        assert sent == ["after a", "no write of its own", "through apply"]
        assert _on_disk(tmp_path / "n.sqlite", "SELECT COUNT(*) FROM meta WHERE key = 'a'") == 1
        third = driver.release([Send("v1", "nothing pending")])  # nothing waits: at once
        assert third.done() and sent[-1] == "nothing pending"

    asyncio.run(scenario())
    store.close()


def test_a_failed_commit_stops_the_node_from_speaking(tmp_path):
    store, node, driver, sent = _single_node(tmp_path)
    def broken(ops):
        raise sqlite3.OperationalError("disk I/O error")

    store._writer._commit = broken

    async def scenario():
        with node.durable_group():
            store.put_meta("a", b"1")
        with pytest.raises(Exception, match="disk I/O error"):
            await driver.release([Send("v1", "vote")])
        with pytest.raises(Exception, match="disk I/O error"):
            await driver.release([Send("v1", "later")])
        assert sent == [] and driver.store_failure is not None

    asyncio.run(scenario())
    store.close()
