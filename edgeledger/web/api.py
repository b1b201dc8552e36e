"""The node's REST API (JSON), its OpenAPI document and Prometheus ``/metrics``.

Every error is JSON ``{"error": reason}`` with the right 4xx code; nothing a client sends
can raise past a handler. Transactions are submitted as canonical msgpack bytes (the
same bytes that are signed), blobs are streamed and checked against their digest.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from typing import Any

from aiohttp import web

from edgeledger.codec import decode, encode, to_builtins
from edgeledger.crypto.hashing import sha256
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.errors import EdgeLedgerError, SignatureError
from edgeledger.ledger.block import Block
from edgeledger.ledger.transaction import Transaction, verify_transaction
from edgeledger.scenario.results import block_json
from edgeledger.web.openapi import OPENAPI

__all__ = ["NodeApi"]

MAX_TX_BYTES = 256 * 1024
MAX_BLOB_BYTES = 64 * 1024 * 1024
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class NodeApi:
    """Routes over one node; ``attach`` binds the node once it is built (health is 503 until then)."""

    def __init__(self, admin_token: str | None = None) -> None:
        self.admin_token = admin_token
        self.node: Any = None
        self.driver: Any = None
        self.plan: Any = None
        self.shutdown = asyncio.Event()
        self.started = time.time()
        self.commits = 0
        self.tx_committed = 0
        self.submitted: dict[bytes, float] = {}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.accuracy: dict[int, float] = {}
        self.offload = {"tasks": 0.0, "offloaded": 0.0, "misses": 0.0, "delay_s": 0.0, "energy_j": 0.0}
        self.recent_tx: deque[tuple[int, str, str, str]] = deque(maxlen=50)
        self.listeners: list[Any] = []  # the dashboard's live streams

    def install(self, app: web.Application) -> None:
        app.add_routes([
            web.get("/v1/health", self.health), web.get("/v1/head", self.head),
            web.get("/v1/blocks/{height:\\d+}", self.block), web.get("/v1/blocks/hash/{digest}", self.block_by_hash),
            web.get("/v1/tx/{tx_id}", self.transaction), web.post("/v1/tx", self.submit),
            web.post("/v1/endorse", self.endorse),
            web.get("/v1/state/{key:.+}", self.state), web.get("/v1/blobs/{digest}", self.get_blob),
            web.put("/v1/blobs/{digest}", self.put_blob), web.get("/v1/peers", self.peers),
            web.get("/metrics", self.metrics), web.get("/openapi.json", self.openapi),
            web.post("/v1/admin/shutdown", self.admin_shutdown), web.post("/v1/admin/links", self.admin_links),
        ])

    def attach(self, node: Any, driver: Any, plan: Any) -> None:
        self.node, self.driver, self.plan = node, driver, plan
        node.commit_listeners.append(self._on_commit)
        driver.on_metric = self._on_metric

    # -- hooks -------------------------------------------------------------------------------
    def _on_commit(self, block: Block, receipts: list[Any]) -> None:
        now = time.time()
        self.commits += 1
        self.tx_committed += len(block.transactions)
        for tx, receipt in zip(block.transactions, receipts):
            self.recent_tx.append((block.height, tx.tx_id.hex(), tx.sender, tx.kind))
            if tx.kind in ("fl.round_close", "fl.winner_close") and receipt.ok:  # accuracy on chain for all to see
                from edgeledger.fl.round.events import RoundClose

                close = decode(tx.payload, RoundClose)
                self.accuracy[close.round] = close.accuracy_bp / 10000
                for listener in list(self.listeners):
                    listener("accuracy", (close.round, self.accuracy[close.round]))
            t0 = self.submitted.pop(tx.tx_id, None)
            if t0 is not None:
                self._observe_latency(now - t0)
        for listener in list(self.listeners):
            listener("block", block)

    def _observe_latency(self, seconds: float) -> None:
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_counts[i] += 1
                return
        self.latency_counts[-1] += 1

    def _on_metric(self, node_id: str, metric: Any, now: float) -> None:
        if metric.name.startswith("offload."):  # a task this device offloaded over the network (or ran itself)
            key = metric.name.removeprefix("offload.")
            if key == "action":
                self.offload["tasks"] += 1
                self.offload["offloaded"] += metric.value > 0
            elif key in ("delay_s", "energy_j"):
                self.offload[key] += metric.value
            elif key == "miss":
                self.offload["misses"] += metric.value
        if metric.name == "fl.accuracy":
            self.accuracy[metric.round] = metric.value
            for listener in list(self.listeners):
                listener("accuracy", (metric.round, metric.value))

    # -- read API ----------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if self.node is None:
            return _error(503, "node is starting (waiting for the genesis)")
        return web.json_response({"status": "ok", "node": self.node.node_id, "role": self.node.role,
                                  "height": self.node.store.height, "uptime_s": round(time.time() - self.started, 3)})

    def _ready(self) -> web.Response | None:
        return _error(503, "node is starting") if self.node is None else None

    async def head(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        head = self.node.store.head()
        consensus = self.node.consensus
        return web.json_response({"height": self.node.store.height, "hash": head.hash.hex() if head else None,
                                  "view": getattr(consensus, "view", None),
                                  "leader": consensus.primary_of(consensus.view) if consensus else None})

    async def block(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        block = self.node.store.block(int(request.match_info["height"]))
        return web.json_response(self._with_receipts(block)) if block else _error(404, "no block at that height")

    def _with_receipts(self, block: Block) -> dict[str, Any]:
        """The block as JSON, each transaction with its receipt (valid, or invalid with the reason)."""
        data = block_json(block)
        for receipt, entry in zip(self.node.store.receipts(block), data["transactions"]):
            entry["receipt"] = {"ok": receipt.ok, "reason": receipt.reason, "code": receipt.code} if receipt else None
        return data

    async def block_by_hash(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        try:
            digest = bytes.fromhex(request.match_info["digest"])
        except ValueError:
            return _error(400, "block hash must be hex")
        block = self.node.store.block_by_hash(digest)
        return web.json_response(self._with_receipts(block)) if block else _error(404, "no block with that hash")

    async def transaction(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        try:
            tx_id = bytes.fromhex(request.match_info["tx_id"])
        except ValueError:
            return _error(400, "transaction id must be hex")
        where = self.node.store.locate_transaction(tx_id)
        if where is None:
            return _error(404, "transaction not committed (yet)")
        block = self.node.store.block(where[0])
        proof = merkle_proof([encode(t) for t in block.transactions], where[1])
        receipt = self.node.store.receipts(block)[where[1]]
        return web.json_response({"height": where[0], "position": where[1], "block_hash": block.hash.hex(),
                                  "merkle_root": block.header.tx_root.hex(),
                                  "transaction": block_json(block)["transactions"][where[1]],
                                  "proof": to_builtins(proof),
                                  "receipt": to_builtins(receipt) if receipt else None})

    async def state(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        key = request.match_info["key"]
        value = self.node.state.kv.get(key)
        if value is None:
            return _error(404, f"no state at key {key!r}")
        return web.json_response({"key": key, "value_hex": value.hex(), "height": self.node.state.height})

    async def peers(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        return web.json_response({n: {"address": a, "role": self.node.membership.role(n)}
                                  for n, a in sorted(self.driver.peers.items())})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    # -- write API ---------------------------------------------------------------------------
    async def submit(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        body = await request.content.read(MAX_TX_BYTES + 1)
        if len(body) > MAX_TX_BYTES:
            return _error(413, f"transaction over {MAX_TX_BYTES} bytes")
        try:
            tx = decode(body, Transaction)
            verify_transaction(tx, self.node.membership)
        except SignatureError as exc:
            return _error(403, str(exc))
        except EdgeLedgerError as exc:
            return _error(400, str(exc))
        reason = self.node.state.check(tx)
        if reason is not None:
            return _error(409, reason)
        self.submitted.setdefault(tx.tx_id, time.time())
        self.driver.submit_local(self.node.submit(tx, time.time()))
        return web.json_response({"tx_id": tx.tx_id.hex()}, status=202)

    async def endorse(self, request: web.Request) -> web.Response:
        """Fabric's *execute*: this node, as an endorsing peer, simulates a proposal on its committed
        state and signs the read/write set (msgpack ``ProposalResponse``); the client collects enough
        of them for the contract's endorsement policy, then signs and submits the call. 409 with the
        reason when the simulation fails (nothing is signed)."""
        from edgeledger.ledger.contracts import EndorseRequest, endorse_proposal
        from edgeledger.node.endorsing import EndorserService

        if (busy := self._ready()) is not None:
            return busy
        body = await request.content.read(MAX_TX_BYTES + 1)
        if len(body) > MAX_TX_BYTES:
            return _error(413, f"request over {MAX_TX_BYTES} bytes")
        try:
            req = decode(body, EndorseRequest)
        except EdgeLedgerError as exc:
            return _error(400, str(exc))
        if req.sender not in self.node.membership.identities:
            return _error(403, f"{req.sender!r} is not a member of this chain")
        service = self.node.service(EndorserService)
        response = service.endorse(req) if service is not None else endorse_proposal(
            self.node.state, self.node.node_id, self.node.key, req)[0]
        if response.error:
            return _error(409, response.error)
        return web.Response(body=encode(response), content_type="application/msgpack")

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        """Stream a blob in chunks (the client re-hashes as it reads: see ``fetch_blob``)."""
        if (busy := self._ready()) is not None:
            return busy
        try:
            digest = bytes.fromhex(request.match_info["digest"])
        except ValueError:
            return _error(404, "no blob with that digest")
        path = getattr(self.node.blobs, "path_of", lambda d: None)(digest)
        if path is None:
            try:
                return web.Response(body=self.node.blobs.get(digest), content_type="application/octet-stream")
            except KeyError:
                return _error(404, "no blob with that digest")
            except EdgeLedgerError as exc:
                return _error(500, f"stored blob is corrupt: {exc}")
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                           "X-Content-SHA256": digest.hex()})
        resp.content_length = path.stat().st_size
        await resp.prepare(request)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 16):
                await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def put_blob(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        try:
            digest = bytes.fromhex(request.match_info["digest"])
        except ValueError:
            return _error(400, "digest must be hex")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MAX_BLOB_BYTES:
                return _error(413, f"blob over {MAX_BLOB_BYTES} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        if sha256(data) != digest:
            return _error(422, f"blob hashes to {sha256(data).hex()}, not the digest in the URL")
        self.node.blobs.put(data)
        return web.json_response({"digest": digest.hex(), "size": size}, status=201)

    def _authorized(self, request: web.Request) -> bool:
        expected = f"Bearer {self.admin_token}" if self.admin_token else None
        return expected is not None and hmac.compare_digest(request.headers.get("Authorization", ""), expected)

    async def admin_shutdown(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "admin actions need Authorization: Bearer <token> (see --admin-token)")
        asyncio.get_running_loop().call_later(0.05, self.shutdown.set)
        return web.json_response({"status": "shutting down"}, status=202)

    async def admin_links(self, request: web.Request) -> web.Response:
        """Cut or heal this node's links to peers: {"block": [ids], "unblock": [ids]} (fault injection)."""
        if not self._authorized(request):
            return _error(401, "admin actions need Authorization: Bearer <token> (see --admin-token)")
        if (busy := self._ready()) is not None:
            return busy
        try:
            body = await request.json()
            block, unblock = list(body.get("block", [])), list(body.get("unblock", []))
        except (ValueError, AttributeError, TypeError):
            return _error(400, 'expected JSON {"block": [node ids], "unblock": [node ids]}')
        unknown = [n for n in block + unblock if n not in self.node.membership.identities]
        if unknown or not all(isinstance(n, str) for n in block + unblock):
            return _error(400, f"unknown node ids: {unknown}")
        self.driver.blocked.update(block)
        self.driver.blocked.difference_update(unblock)
        return web.json_response({"blocked": sorted(self.driver.blocked)})

    # -- Prometheus --------------------------------------------------------------------------
    async def metrics(self, request: web.Request) -> web.Response:
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, value: float, labels: str = "") -> None:
            lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{labels} {value}"])

        node = self.node
        metric("edgeledger_up", "gauge", "1 when the node has its genesis and serves", 1 if node else 0)
        if node is not None:
            uptime = max(time.time() - self.started, 1e-9)
            metric("edgeledger_chain_height", "gauge", "committed blocks", node.store.height)
            metric("edgeledger_commits_total", "counter", "blocks committed by this process", self.commits)
            metric("edgeledger_transactions_total", "counter", "transactions committed", self.tx_committed)
            metric("edgeledger_tx_per_second", "gauge", "committed transactions per second since start",
                   round(self.tx_committed / uptime, 3))
            view = getattr(node.consensus, "view", None)
            if view is not None:
                metric("edgeledger_consensus_view", "gauge", "current PBFT view", view)
            metric("edgeledger_peers", "gauge", "known peers", len(self.driver.peers))
            stats = self.driver.stats
            metric("edgeledger_bytes_out_total", "counter", "bytes sent to peers", stats.bytes_out)
            metric("edgeledger_bytes_in_total", "counter", "bytes received from peers", stats.bytes_in)
            metric("edgeledger_messages_dropped_total", "counter", "messages given up after retries", stats.dropped)
            metric("edgeledger_rejected_total", "counter", "inputs rejected", stats.rejected)
            lines += ["# HELP edgeledger_commit_latency_seconds submit-to-commit latency of API transactions",
                      "# TYPE edgeledger_commit_latency_seconds histogram"]
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, self.latency_counts):
                cumulative += count
                lines.append(f'edgeledger_commit_latency_seconds_bucket{{le="{bound}"}} {cumulative}')
            cumulative += self.latency_counts[-1]
            lines += [f'edgeledger_commit_latency_seconds_bucket{{le="+Inf"}} {cumulative}',
                      f"edgeledger_commit_latency_seconds_sum {round(self.latency_sum, 6)}",
                      f"edgeledger_commit_latency_seconds_count {cumulative}"]
            if self.offload["tasks"]:
                for key, help_ in (("tasks", "offloading tasks finished (run here or offloaded)"),
                                   ("offloaded", "tasks offloaded to an edge or the cloud"),
                                   ("misses", "tasks past their deadline (or lost)"),
                                   ("delay_s", "sum of the tasks' measured delays, seconds"),
                                   ("energy_j", "sum of the tasks' device energy, joules")):
                    metric(f"edgeledger_offload_{key}_total", "counter", help_, round(self.offload[key], 6))
            if self.accuracy:
                last = max(self.accuracy)
                metric("edgeledger_fl_round", "gauge", "last completed FL round", last)
                metric("edgeledger_fl_accuracy", "gauge", "test accuracy of the global model", self.accuracy[last])
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})
