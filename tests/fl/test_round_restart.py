"""A restarted cloud resumes its open FL round; a detour through edges ends (issue 18)."""

from __future__ import annotations

import numpy as np

from edgeledger.codec import decode, encode
from edgeledger.crypto.hashing import sha256
from edgeledger.effects import Broadcast, Metric, Rejected, SaveState, Send, SubmitTransaction
from edgeledger.fl.aggregators import build_aggregator
from edgeledger.fl.learner import Learner
from edgeledger.fl.params import params_to_bytes
from edgeledger.fl.round.core import AggregatorCore, AggregatorRecord, EdgeRelay, RoundSettings
from edgeledger.fl.round.events import (MAX_RELAY_HOPS, KIND_UPDATE, ModelAnnouncement, RelayUpload, RoundClose,
                                        UpdateRecord, UpdateUpload)
from edgeledger.fl.round.services import EdgeService
from edgeledger.ledger import ChainStore, MemoryBlobStore
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.state import Receipt
from edgeledger.ledger.transaction import make_transaction
from tests.conftest import make_chain

DEVICES = ("dev0", "dev1", "dev2")


class FixedLearner(Learner):
    def initial_params(self):
        return np.zeros(4, dtype=np.float32)

    def train(self, global_params, round_, seed):  # pragma: no cover - the aggregator never trains
        raise AssertionError

    def evaluate(self, params):
        return {"accuracy": float(np.clip(params.mean(), 0, 1))}


def _core(keys, membership, blobs):
    return AggregatorCore("v0", keys["v0"], membership, RoundSettings(rounds=3, clients_per_round=3),
                          build_aggregator("fedavg"), FixedLearner(), list(DEVICES), ["v1", "v2"],
                          np.random.default_rng(1), blobs=blobs)


def _commit(store, txs):
    header = BlockHeader(chain_id="test", height=store.height + 1, prev_hash=b"\0" * 32, tx_root=transactions_root(txs),
                         tx_count=len(txs), proposer="v1", timestamp_ms=0)
    block = Block(header=header, transactions=txs)
    store.append(block)
    return block, [Receipt(tx_id=t.tx_id, height=block.height, ok=True) for t in txs]


def _upload(keys, device, value):
    blob = params_to_bytes(np.full(4, value, dtype=np.float32))
    record = UpdateRecord(round=1, update_digest=sha256(blob), update_size=len(blob), n_samples=10)
    return UpdateUpload(tx=make_transaction(keys[device], device, 1, KIND_UPDATE, record), update=blob)


def _saved(effects):
    return [e.record for e in effects if isinstance(e, SaveState)][-1]


def test_a_restarted_aggregator_resumes_the_open_round_with_the_updates_it_accepted():
    keys, membership = make_chain(4, devices=DEVICES)
    blobs, store = MemoryBlobStore(), ChainStore(":memory:")
    core = _core(keys, membership, blobs)
    effects = core.start(0.0)
    open_tx = next(e.tx for e in effects if isinstance(e, SubmitTransaction))
    block, receipts = _commit(store, [open_tx])
    core.on_block(block, receipts, 1.0)
    saved = None
    for device, value in (("dev0", 0.2), ("dev1", 0.4)):
        saved = _saved(core.on_upload("v1", _upload(keys, device, value), 2.0))
    record = decode(encode(saved), AggregatorRecord)  # as the node stores it
    assert record.round == 1 and [a[0] for a in record.accepted] == ["dev0", "dev1"]

    again = _core(keys, membership, blobs)  # the cloud process restarted: a new core, the same blob store
    effects = again.resume(record, store, 10.0)
    assert any(isinstance(e, Broadcast) and isinstance(e.message, ModelAnnouncement) for e in effects)
    assert sorted(again.current.updates) == ["dev0", "dev1"]
    effects = again.on_upload("v2", _upload(keys, "dev2", 0.6), 11.0)  # the round completes after the restart
    close = next(e.tx for e in effects if isinstance(e, SubmitTransaction) and e.tx.kind == "fl.round_close")
    body = decode(close.payload, RoundClose)
    assert body.contributors == list(DEVICES) and close.nonce == record.nonce + 1  # no nonce is used twice
    assert np.allclose(again.global_params, 0.4)


def test_a_close_the_chain_does_not_hold_is_submitted_again_after_a_restart():
    keys, membership = make_chain(4, devices=DEVICES)
    blobs, store = MemoryBlobStore(), ChainStore(":memory:")
    core = _core(keys, membership, blobs)
    open_tx = next(e.tx for e in core.start(0.0) if isinstance(e, SubmitTransaction))
    core.on_block(*_commit(store, [open_tx]), 1.0)
    core.on_upload("v1", _upload(keys, "dev0", 0.2), 2.0)
    effects = core.timer("fl.round_deadline", 60.0)  # closes with what arrived, then the process dies
    close = next(e.tx for e in effects if isinstance(e, SubmitTransaction))
    record = _saved(effects)
    again = _core(keys, membership, blobs)
    resumed = again.resume(record, store, 70.0)
    assert [e.tx for e in resumed if isinstance(e, SubmitTransaction)] == [close]
    _commit(store, [close])  # once it is on chain, a second restart opens the next round instead
    after = _core(keys, membership, blobs).resume(record, store, 80.0)
    opened = [e.tx for e in after if isinstance(e, SubmitTransaction)]
    assert len(opened) == 1 and opened[0].kind == "fl.round_open" and opened[0].nonce == close.nonce + 1


def test_a_detour_through_edges_cut_off_from_the_cloud_ends_counted_as_undeliverable():
    edges = ["edge-0", "edge-1", "edge-2", "edge-3", "edge-4", "edge-5"]
    services = {e: EdgeService(EdgeRelay(e, "cloud", [f"d{e[-1]}"], seed=1), edges) for e in edges}
    keys, _ = make_chain(4, devices=("d0",))
    upload = UpdateUpload(tx=make_transaction(keys["d0"], "d0", 1, KIND_UPDATE, b"x"), update=b"blob")
    pending = [("edge-0", "cloud", upload)]  # every edge's link to the cloud is cut
    visited, outcome, steps = [], [], 0
    while pending and steps < 100:
        steps += 1
        at, to, message = pending.pop()
        assert to == "cloud"
        visited.append(at)
        for e in services[at].on_undeliverable(to, message, 0.0):
            if isinstance(e, Send):
                assert isinstance(e.message, RelayUpload)
                for forwarded in services[e.to].on_message(at, e.message, 0.0):
                    pending.append((e.to, forwarded.to, forwarded.message))
            else:
                outcome.append(e)
    assert steps < 100 and not pending
    assert len(visited) == len(set(visited)) == MAX_RELAY_HOPS + 1  # no edge twice; the hop limit ends it
    assert any(isinstance(e, Metric) and e.name == "fl.relay_undeliverable" for e in outcome)
    assert any(isinstance(e, Rejected) and "hop limit" in e.reason for e in outcome)
