"""Blob uploads (issue 18): members only, bounded in size, kept only when a transaction names them."""

from __future__ import annotations

import asyncio

import aiohttp

from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.keys import derive_key
from edgeledger.ledger.blobs import blob_references
from edgeledger.ledger.block import Block, BlockHeader, transactions_root
from edgeledger.ledger.transaction import make_transaction
from edgeledger.net.blobs import upload_blob, upload_headers
from tests.web.live_node import attached_api, serving


@blob_references.register("test.names-blob")
def _names(payload: bytes) -> list[bytes]:
    return [payload]


def test_uploads_need_a_member_a_size_within_the_limit_and_a_transaction_naming_them(tmp_path):
    api = attached_api(tmp_path, max_blob_bytes=4096, blob_window_s=0.3)
    node = api.node
    keys = {n: derive_key("ed25519", n.encode()) for n in ("dev0", "v1")}
    chain = node.membership.chain_id

    async def main():
        async with serving(api) as url:
            async with aiohttp.ClientSession() as s:
                named, loose = b"named blob", b"loose blob"
                async with s.put(f"{url}/v1/blobs/{sha256(named).hex()}", data=named) as resp:
                    assert resp.status == 401  # unsigned
                stranger = derive_key("ed25519", b"stranger")
                assert (await upload_blob(s, url, named, stranger, "dev0", chain, "v0"))[0] == 401  # wrong key
                assert (await upload_blob(s, url, named, keys["dev0"], "dev0", "other-chain", "v0"))[0] == 401
                assert (await upload_blob(s, url, bytes(5000), keys["dev0"], "dev0", chain, "v0"))[0] == 413
                # a committed transaction names `named`: kept for good
                tx = make_transaction(keys["dev0"], "dev0", 1, "test.names-blob", sha256(named))
                header = BlockHeader(chain_id=chain, height=1, prev_hash=b"\0" * 32, tx_root=transactions_root([tx]),
                                     tx_count=1, proposer="v1", timestamp_ms=0)
                node.store.append(Block(header=header, transactions=[tx]))
                status, text = await upload_blob(s, url, named, keys["dev0"], "dev0", chain, "v0")
                assert status == 201 and '"named":true' in text
                status, text = await upload_blob(s, url, loose, keys["v1"], "v1", chain, "v0")
                assert status == 201 and '"named":false' in text and node.blobs.has(sha256(loose))
                await asyncio.sleep(0.4)  # the window passes with no transaction naming it
                headers = upload_headers(keys["dev0"], "dev0", chain, "v0", sha256(named))
                async with s.put(f"{url}/v1/blobs/{sha256(named).hex()}", data=named, headers=headers) as resp:
                    assert resp.status == 201  # any upload sweeps the expired ones
                assert not node.blobs.has(sha256(loose)) and node.blobs.has(sha256(named))

    asyncio.run(main())


def test_an_upload_a_transaction_named_since_stops_counting_against_the_waiting_bound(tmp_path, monkeypatch):
    from edgeledger.web import blob_uploads

    monkeypatch.setattr(blob_uploads, "MAX_UNNAMED_BLOBS", 2)
    api = attached_api(tmp_path, max_blob_bytes=4096, blob_window_s=60.0)
    node, key = api.node, derive_key("ed25519", b"dev0")
    chain = node.membership.chain_id

    async def main():
        async with serving(api) as url:
            async with aiohttp.ClientSession() as s:
                first, second, third = b"reading 1", b"reading 2", b"reading 3"
                for blob in (first, second):  # uploaded before the transactions that will name them
                    assert (await upload_blob(s, url, blob, key, "dev0", chain, "v0"))[0] == 201
                status, text = await upload_blob(s, url, third, key, "dev0", chain, "v0")
                assert status == 429 and "wait for a transaction" in text  # both still wait: the bound holds
                tx = make_transaction(key, "dev0", 1, "test.names-blob", sha256(first))
                header = BlockHeader(chain_id=chain, height=1, prev_hash=b"\0" * 32, tx_root=transactions_root([tx]),
                                     tx_count=1, proposer="v1", timestamp_ms=0)
                node.store.append(Block(header=header, transactions=[tx]))  # `first` is named now
                status, text = await upload_blob(s, url, third, key, "dev0", chain, "v0")
                assert status == 201 and '"named":false' in text  # `first` no longer counts as waiting
                assert node.blobs.has(sha256(first)) and node.blobs.has(sha256(third))

    asyncio.run(main())
