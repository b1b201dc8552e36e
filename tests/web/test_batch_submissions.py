"""POST /v1/txs (issue 22): charged one rate-limit token per transaction before any signature
is checked, each transaction answered on its own, accepted ones in the pending log first."""

from __future__ import annotations

import asyncio

import aiohttp

from edgeledger.codec import encode
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.kv import KVSet
from edgeledger.ledger.transaction import make_transaction
from edgeledger.web.pending import PendingSubmissions
from tests.web.live_node import attached_api, serving


def _txs(first: int, count: int, signer: bytes = b"dev0") -> list:
    key = derive_key("ed25519", signer)
    return [make_transaction(key, "dev0", first + i, "kv.set", KVSet(key=f"k{first + i}", value=b"v"))
            for i in range(count)]


def test_a_batch_is_rate_limited_per_transaction_and_its_accepted_ones_are_pending(tmp_path):
    pending = PendingSubmissions(tmp_path / "pending.sqlite")
    api = attached_api(tmp_path, rate_per_client=10.0, pending=pending)
    checked: list[str] = []
    verify = api.node.membership.verify
    api.node.membership.verify = lambda n, m, s: checked.append(n) or verify(n, m, s)
    forged = _txs(7, 1, signer=b"someone else")[0]

    async def main():
        async with serving(api) as base:
            url = base + "/v1/txs"
            headers = {"content-type": "application/msgpack"}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
                batch = _txs(1, 6) + [forged, b"\x93junk"]
                body = encode([t if isinstance(t, bytes) else encode(t) for t in batch])
                async with s.post(url, data=body, headers=headers) as resp:
                    assert resp.status == 200
                    answer = await resp.json()
                assert answer["accepted"] == 6
                assert [r["status"] for r in answer["results"]] == [202] * 6 + [403, 400]
                assert len(pending) == 6  # every accepted transaction is in the pending log
                before = len(checked)
                async with s.post(url, data=encode([encode(t) for t in _txs(20, 8)]), headers=headers) as resp:
                    assert resp.status == 429  # 8 transactions, 2 tokens left: refused whole
                assert len(checked) == before  # ...before any of its signatures was checked
                assert len(pending) == 6

    asyncio.run(main())
    pending.committed([t.tx_id for t in _txs(1, 6)])
    assert len(pending) == 0
    pending.close()


def test_a_block_made_durable_after_the_api_stopped_does_not_touch_its_closed_pending_log(tmp_path):
    """Shutting down: the store's writer can announce a block after the API closed its pending log
    (a twin plant's stop logged `Cannot operate on a closed database`); the API stops listening first."""
    from edgeledger.ledger.block import Block, BlockHeader, transactions_root

    api = attached_api(tmp_path)
    node, key = api.node, derive_key("ed25519", b"dev0")
    tx = make_transaction(key, "dev0", 1, "kv.set", KVSet(key="k", value=b"v"))
    header = BlockHeader(chain_id=node.membership.chain_id, height=1, prev_hash=b"\0" * 32,
                         tx_root=transactions_root([tx]), tx_count=1, proposer="v1", timestamp_ms=0)
    listening = list(node.commit_listeners)
    api.stop()
    assert len(node.commit_listeners) == len(listening) - 1
    for listener in node.commit_listeners:  # what announce_durable calls for a block durable now
        listener(Block(header=header, transactions=[tx]), [])
