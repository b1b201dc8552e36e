"""The node's REST API (JSON): routes with typed requests and responses, and Prometheus ``/metrics``.

Every error is JSON ``{"error": reason}`` with the right 4xx code (unknown paths included, see
:func:`~edgeledger.web.routes.json_errors`); nothing a client sends can raise past a handler.
Transactions are submitted as canonical msgpack bytes (the same bytes that are signed), blobs
are streamed and checked against their digest. Write endpoints are rate-limited per client
address before any signature is checked; blob uploads must be signed by a member of the chain,
stay under the configured size and name a digest a committed transaction names, or will name
within ``blob_window_s`` (an unnamed upload is then deleted). Submissions that never commit
are forgotten after ``submission_ttl_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections import OrderedDict, deque
from typing import Any

import msgspec
from aiohttp import web

from edgeledger.codec import decode, encode, to_builtins
from edgeledger.crypto.merkle import merkle_proof
from edgeledger.errors import EdgeLedgerError, SignatureError
from edgeledger.ledger.block import Block
from edgeledger.ledger.transaction import Transaction, verify_transaction
from edgeledger.net.blobs import SENDER_HEADER, SIGNATURE_HEADER
from edgeledger.net.http import RateLimit
from edgeledger.scenario.results import block_json
from edgeledger.web import api_types as t
from edgeledger.web.blob_uploads import BlobUploads
from edgeledger.web.metrics import CONTENT_TYPE, NodeMetrics
from edgeledger.web.pending import PendingSubmissions
from edgeledger.web.routes import BINARY, MSGPACK, TEXT, Response, Route, app_document, error, install, reply

__all__ = ["NodeApi", "MAX_TX_BYTES", "MAX_BLOB_BYTES", "messages_route"]

MAX_TX_BYTES = 256 * 1024
MAX_BATCH_TXS = 1000  # transactions per POST /v1/txs
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_BLOB_BYTES = 64 * 1024 * 1024
MAX_PENDING_SUBMISSIONS = 100_000
RETRANSMIT_AFTER_S = 5.0  # an acknowledged transaction this old and uncommitted is forwarded again
RETRANSMIT_BATCH = 256  # at most this many per retransmission pass (an overloaded network is not flooded)
STARTING = Response("the node is starting", t.ErrorBody)
HEX = {"type": "string", "pattern": "^[0-9a-fA-F]*$"}


def messages_route(handler: Any) -> Route:
    """``POST /v1/messages``: the protocol endpoint (signed envelopes, see :mod:`edgeledger.net.envelope`)."""
    return Route("POST", "/v1/messages", handler, "a batch of signed envelopes from a peer (msgpack list)",
                 {202: Response("accepted (envelopes refused for a reason are counted in /metrics)", t.Batch),
                  400: Response("no envelope accepted", t.ErrorBody),
                  413: Response("too large", t.ErrorBody), 503: STARTING}, request_media=MSGPACK)


class NodeApi:
    """Routes over one node; ``attach`` binds the node once it is built (health is 503 until then)."""

    def __init__(self, admin_token: str | None = None, max_blob_bytes: int = MAX_BLOB_BYTES,
                 blob_window_s: float = 120.0, submission_ttl_s: float = 600.0,
                 rate_per_client: float = 20_000.0, pending: PendingSubmissions | None = None,
                 retransmit_s: float = 2.0) -> None:
        self.admin_token = admin_token
        self.node: Any = None
        self.driver: Any = None
        self.plan: Any = None
        self.shutdown = asyncio.Event()
        self.started = time.time()
        self.submission_ttl_s = submission_ttl_s
        self.submitted: OrderedDict[bytes, float] = OrderedDict()  # tx id -> submit time, oldest first
        self.accuracy: dict[int, float] = {}
        self.offload = {"tasks": 0.0, "offloaded": 0.0, "misses": 0.0, "delay_s": 0.0, "energy_j": 0.0}
        self.recent_tx: deque[tuple[int, str, str, str]] = deque(maxlen=50)
        self.listeners: list[Any] = []  # the dashboard's live streams (each removes itself when it closes)
        self.limit = RateLimit(rate_per_client, rate_per_client)
        self.pending = pending if pending is not None else PendingSubmissions()
        self.retransmit_s = retransmit_s
        self._retransmitter: asyncio.Task[None] | None = None
        self.metrics = NodeMetrics(self)
        self.uploads = BlobUploads(max_blob_bytes, blob_window_s, self.metrics.blob_uploads)

    def routes(self) -> list[Route]:
        block = {200: Response("the block, each transaction with its receipt", t.BlockView),
                 404: Response("no such block", t.ErrorBody), 503: STARTING}
        admin = Response("no or wrong admin token", t.ErrorBody)
        return [
            Route("GET", "/v1/health", self.health, "liveness and chain height",
                  {200: Response("serving", t.Health), 503: STARTING}),
            Route("GET", "/v1/head", self.head, "chain head, PBFT view and leader",
                  {200: Response("head", t.Head), 503: STARTING}),
            Route("GET", "/v1/blocks/{height}", self.block, "block by height", block,
                  path_types={"height": {"type": "integer", "minimum": 0}}, pattern="/v1/blocks/{height:\\d+}"),
            Route("GET", "/v1/blocks/hash/{digest}", self.block_by_hash, "block by hash",
                  {**block, 400: Response("not hex", t.ErrorBody)}, path_types={"digest": HEX}),
            Route("GET", "/v1/tx/{tx_id}", self.transaction, "a committed transaction with its Merkle inclusion proof",
                  {200: Response("transaction, proof and receipt", t.TransactionLookup),
                   400: Response("not hex", t.ErrorBody), 404: Response("not committed", t.ErrorBody),
                   503: STARTING}, path_types={"tx_id": HEX}),
            Route("POST", "/v1/tx", self.submit, "submit a signed transaction (canonical msgpack bytes)",
                  {202: Response("accepted for ordering", t.Submitted), 400: Response("undecodable", t.ErrorBody),
                   403: Response("bad signature or unknown sender", t.ErrorBody),
                   409: Response("stale nonce or unknown kind", t.ErrorBody),
                   413: Response("too large", t.ErrorBody), 429: Response("rate limited", t.ErrorBody),
                   503: Response("starting, or too many transactions waiting: retry later", t.ErrorBody)},
                  request_media=MSGPACK),
            Route("POST", "/v1/txs", self.submit_many, f"submit a batch of signed transactions (msgpack list of "
                  f"canonical transaction bytes, at most {MAX_BATCH_TXS}); each is verified, checked and answered on "
                  "its own, with the status POST /v1/tx would give it",
                  {200: Response("per transaction, in order: tx_id, status (202/400/403/409/413/503), error",
                                 t.SubmittedBatch),
                   400: Response("not a msgpack list", t.ErrorBody), 413: Response("too many or too large", t.ErrorBody),
                   429: Response("rate limited (one token per transaction)", t.ErrorBody), 503: STARTING},
                  request_media=MSGPACK),
            Route("GET", "/v1/blocks/{height}/receipts", self.block_receipts, "a block's transaction ids and their "
                  "validity, in block order (what a client following its submissions needs)",
                  {200: Response("ids, validity and codes", t.BlockReceipts), 404: Response("no such block", t.ErrorBody),
                   503: STARTING}, path_types={"height": {"type": "integer", "minimum": 0}},
                  pattern="/v1/blocks/{height:\\d+}/receipts"),
            Route("POST", "/v1/endorse", self.endorse, "as an endorsing peer, simulate a proposal (EndorseRequest) "
                  "on the committed state and sign its read/write set",
                  {200: Response("the signed ProposalResponse (msgpack)", None, MSGPACK),
                   400: Response("undecodable", t.ErrorBody), 403: Response("sender is not a member", t.ErrorBody),
                   409: Response("the simulation failed: nothing signed", t.ErrorBody),
                   413: Response("too large", t.ErrorBody), 429: Response("rate limited", t.ErrorBody),
                   503: STARTING}, request_media=MSGPACK),
            Route("GET", "/v1/state/{key}", self.state, "a key of the chain state",
                  {200: Response("value", t.StateValue), 404: Response("no such key", t.ErrorBody), 503: STARTING},
                  pattern="/v1/state/{key:.+}"),
            Route("GET", "/v1/blobs/{digest}", self.get_blob, "download a blob",
                  {200: Response("blob bytes", None, BINARY), 404: Response("no such blob", t.ErrorBody),
                   500: Response("the stored copy is corrupt", t.ErrorBody), 503: STARTING},
                  path_types={"digest": HEX}),
            Route("PUT", "/v1/blobs/{digest}", self.put_blob, "upload a blob signed by a member of the chain "
                  f"(headers {SENDER_HEADER}, {SIGNATURE_HEADER}); its sha256 must equal the digest, and a "
                  "transaction must name it (now, or within the node's blob window)",
                  {201: Response("stored", t.BlobStored), 400: Response("digest not hex", t.ErrorBody),
                   401: Response("unsigned, or not signed by a member", t.ErrorBody),
                   413: Response("larger than the node accepts", t.ErrorBody),
                   422: Response("content does not match the digest", t.ErrorBody),
                   429: Response("rate limited, or too many unnamed uploads waiting", t.ErrorBody), 503: STARTING},
                  request_media=BINARY, path_types={"digest": HEX}),
            Route("GET", "/v1/peers", self.peers, "known peers",
                  {200: Response("peers by id", dict[str, t.PeerInfo]), 503: STARTING}),
            Route("GET", "/metrics", self.prometheus, "Prometheus metrics (text exposition format)",
                  {200: Response("metrics", None, TEXT)}),
            Route("GET", "/openapi.json", self.openapi, "this document",
                  {200: Response("the OpenAPI document", dict[str, Any])}),
            Route("POST", "/v1/admin/shutdown", self.admin_shutdown, "stop the node (needs the admin token)",
                  {202: Response("stopping", t.ShuttingDown), 401: admin}),
            Route("POST", "/v1/admin/links", self.admin_links, "cut or heal links to peers (fault injection; "
                  "admin token)", {200: Response("links now cut", t.LinksState), 400: Response("bad body", t.ErrorBody),
                                   401: admin, 503: STARTING}, request=t.LinksRequest),
        ]

    def install(self, app: web.Application) -> None:
        install(app, self.routes())

    def attach(self, node: Any, driver: Any, plan: Any) -> None:
        self.node, self.driver, self.plan = node, driver, plan
        node.commit_listeners.append(self._on_commit)
        driver.on_metric = self._on_metric

    def start_retransmitting(self) -> None:
        """Submit what was pending before a restart, then keep forwarding uncommitted acknowledged
        transactions to the validators every ``retransmit_s`` (a PBFT client's retransmission)."""
        self._retransmit(time.time() + 1.0)
        self._retransmitter = asyncio.get_running_loop().create_task(self._retransmit_loop())

    def stop(self) -> None:
        """Stop retransmitting, stop listening for commits and close the pending log (the process is
        shutting down). A block the store makes durable after this still commits; its transactions
        stay in the pending log and the next start finds them committed instead of resending them."""
        if self._retransmitter is not None:
            self._retransmitter.cancel()
        if self.node is not None and self._on_commit in self.node.commit_listeners:
            self.node.commit_listeners.remove(self._on_commit)
        self.pending.close()

    async def _retransmit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retransmit_s)
            self._retransmit(time.time() - RETRANSMIT_AFTER_S, limit=RETRANSMIT_BATCH)

    def _retransmit(self, before: float, limit: int = 2000) -> None:
        from edgeledger.consensus.pbft.events import ForwardRequest
        from edgeledger.effects import Broadcast

        node, now = self.node, time.time()
        self.metrics.expired.inc(self.pending.expire(now - self.submission_ttl_s))
        committed, effects = [], []
        for tx in self.pending.older_than(before, limit):
            if node.store.locate_transaction(tx.tx_id) is not None:
                committed.append(tx.tx_id)
                continue
            effects += node.submit(tx, now)  # into our mempool again (after a restart) or to our validator
            if node.consensus is not None and hasattr(node.consensus, "mempool"):
                others = tuple(v for v in node.membership.validators_at(node.store.height + 1) if v != node.node_id)
                effects.append(Broadcast(others, ForwardRequest(tx=tx)))
                self.metrics.retransmitted.inc()
        self.pending.committed(committed)
        self.driver.submit_local(effects)

    # -- hooks -------------------------------------------------------------------------------
    def _on_commit(self, block: Block, receipts: list[Any]) -> None:
        now = time.time()
        self.metrics.blocks.inc()
        self.metrics.transactions.inc(len(block.transactions))
        recent_from = len(block.transactions) - (self.recent_tx.maxlen or 0)
        for i, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
            if i >= recent_from:  # the dashboard shows the last few only
                self.recent_tx.append((block.height, tx.tx_id.hex(), tx.sender, tx.kind))
            if not receipt.ok:
                self.metrics.invalid.inc()
            if tx.kind in ("fl.round_close", "fl.winner_close") and receipt.ok:  # the chain records accuracy for all
                from edgeledger.fl.round.events import RoundClose

                close = decode(tx.payload, RoundClose)
                self.accuracy[close.round] = close.accuracy_bp / 10000
                self._notify("accuracy", (close.round, self.accuracy[close.round]))
            if self.submitted:
                t0 = self.submitted.pop(tx.tx_id, None)
                if t0 is not None:
                    self.metrics.commit_latency.observe(now - t0)
        self.pending.committed([tx.tx_id for tx in block.transactions])
        self._expire(now)
        self._notify("block", block)

    def _notify(self, event: str, data: Any) -> None:
        for listener in list(self.listeners):
            listener(event, data)

    def _expire(self, now: float) -> None:
        """Forget submissions older than the time to live (they never committed: refused or lost)."""
        while self.submitted and (len(self.submitted) > MAX_PENDING_SUBMISSIONS
                                  or now - next(iter(self.submitted.values())) > self.submission_ttl_s):
            self.submitted.popitem(last=False)
            self.metrics.expired.inc()

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
            self._notify("accuracy", (metric.round, metric.value))

    def _refused(self, request: web.Request) -> web.Response | None:
        """503 while starting; 429 when this client address exceeds its rate (before any signature check)."""
        if self.node is None:
            return error(503, "node is starting")
        if not self.limit.allow(request.remote or "?", time.monotonic()):
            self.metrics.http_refused.labels("rate_limited").inc()
            return error(429, f"rate limit exceeded for {request.remote}: retry later")
        return None

    # -- read API ----------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if self.node is None:
            return error(503, "node is starting (waiting for the genesis)")
        return reply(t.Health(status="ok", node=self.node.node_id, role=self.node.role, height=self.node.store.committed.height,
                              uptime_s=round(time.time() - self.started, 3), chain_id=self.node.membership.chain_id))

    def _ready(self) -> web.Response | None:
        return error(503, "node is starting") if self.node is None else None

    async def head(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        head = self.node.store.committed.head()  # height and hash of one block (the durable height moves)
        consensus = self.node.consensus
        view = getattr(consensus, "view", None)
        return reply(t.Head(height=head.height if head else 0, hash=head.hash.hex() if head else None,
                            view=view if isinstance(view, int) else None,
                            leader=consensus.primary_of(consensus.view) if consensus and view is not None else None))

    async def block(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        block = self.node.store.committed.block(int(request.match_info["height"]))
        return web.json_response(self._with_receipts(block)) if block else error(404, "no block at that height")

    def _with_receipts(self, block: Block) -> dict[str, Any]:
        """The block as JSON, each transaction with its receipt (valid, or invalid with the reason)."""
        data = block_json(block)
        for receipt, entry in zip(self.node.store.committed.receipts(block), data["transactions"]):
            entry["receipt"] = {"ok": receipt.ok, "reason": receipt.reason, "code": receipt.code} if receipt else None
        return data

    async def block_receipts(self, request: web.Request) -> web.Response:
        """A block's transaction ids and their validity, in block order (no bodies: what a client
        following its submissions needs)."""
        if (busy := self._ready()) is not None:
            return busy
        block = self.node.store.committed.block(int(request.match_info["height"]))
        if block is None:
            return error(404, "no block at that height")
        receipts = self.node.store.committed.receipts(block)
        return reply(t.BlockReceipts(height=block.height, hash=block.hash.hex(),
                                     tx_ids=[tx.tx_id.hex() for tx in block.transactions],
                                     ok=[bool(r and r.ok) for r in receipts],
                                     codes=[r.code if r else None for r in receipts]))

    async def block_by_hash(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        try:
            digest = bytes.fromhex(request.match_info["digest"])
        except ValueError:
            return error(400, "block hash must be hex")
        block = self.node.store.committed.block_by_hash(digest)
        return web.json_response(self._with_receipts(block)) if block else error(404, "no block with that hash")

    async def transaction(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        try:
            tx_id = bytes.fromhex(request.match_info["tx_id"])
        except ValueError:
            return error(400, "transaction id must be hex")
        where = self.node.store.committed.locate_transaction(tx_id)
        if where is None:
            return error(404, "transaction not committed (yet)")
        block = self.node.store.committed.block(where[0])
        proof = merkle_proof([encode(x) for x in block.transactions], where[1])
        receipt = self.node.store.committed.receipts(block)[where[1]]
        return web.json_response({"height": where[0], "position": where[1], "block_hash": block.hash.hex(),
                                  "merkle_root": block.header.tx_root.hex(),
                                  "transaction": block_json(block)["transactions"][where[1]],
                                  "proof": to_builtins(proof),
                                  "receipt": to_builtins(receipt) if receipt else None})

    async def state(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        key = request.match_info["key"]
        chain = self.node.store.committed
        if chain is self.node.store:  # a store that commits in place: memory is what is durable
            value, height = self.node.state.kv.get(key), self.node.state.height
        else:  # the durable state only, not what the node applied ahead of its commit
            value, height = chain.state_value(key)
        if value is None:
            return error(404, f"no state at key {key!r}")
        return reply(t.StateValue(key=key, value_hex=value.hex(), height=height))

    async def peers(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        return reply({n: t.PeerInfo(address=a, role=self.node.membership.role(n))
                      for n, a in sorted(self.driver.peers.items())})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(app_document(request.app))

    # -- write API ---------------------------------------------------------------------------
    async def submit(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.content.read(MAX_TX_BYTES + 1)
        if len(body) > MAX_TX_BYTES:
            return error(413, f"transaction over {MAX_TX_BYTES} bytes")
        cap = getattr(getattr(self.node.consensus, "config", None), "max_pending_txs", 0)
        if cap and len(getattr(self.node.consensus, "mempool", ())) >= cap:
            self.metrics.http_refused.labels("mempool_full").inc()
            return error(503, f"{cap} transactions wait to be ordered: retry later")
        try:
            tx = decode(body, Transaction)
        except EdgeLedgerError as exc:
            return error(400, str(exc))
        now = time.time()
        effects: list[Any] = []
        status, reason = self._admit(tx, now, effects)
        if reason is not None:
            return error(status, reason)
        self._expire(now)
        await self.driver.submit_local(effects)  # answered once what the node wrote for it is durable
        return reply(t.Submitted(tx_id=tx.tx_id.hex()), status=202)

    async def submit_many(self, request: web.Request) -> web.Response:
        """A batch of signed transactions (msgpack list of canonical transaction bytes), each one
        decoded, verified, checked and answered on its own, in order, with the status ``POST /v1/tx``
        would give it (202, 400, 403, 409, 413, 503). The client's rate limit is charged one token per
        transaction before any signature is checked; the signatures are checked on worker threads,
        off the event loop; every accepted transaction is in the pending log before the answer."""
        if (busy := self._ready()) is not None:
            return busy
        body = await request.content.read(MAX_BATCH_BYTES + 1)
        if len(body) > MAX_BATCH_BYTES:
            return error(413, f"batch over {MAX_BATCH_BYTES} bytes")
        try:
            raws = decode(body, list[bytes])
        except EdgeLedgerError as exc:
            return error(400, f"expected a msgpack list of signed transactions: {exc}")
        if len(raws) > MAX_BATCH_TXS:
            return error(413, f"batch of {len(raws)} transactions; at most {MAX_BATCH_TXS} per request")
        if not self.limit.allow(request.remote or "?", time.monotonic(), float(max(len(raws), 1))):
            self.metrics.http_refused.labels("rate_limited").inc()
            return error(429, f"rate limit exceeded for {request.remote}: retry later")
        results: list[t.SubmittedEach] = []
        decoded: list[tuple[int, Transaction]] = []
        for i, raw in enumerate(raws):
            if len(raw) > MAX_TX_BYTES:
                results.append(t.SubmittedEach(tx_id=None, status=413, error=f"transaction over {MAX_TX_BYTES} bytes"))
                continue
            try:
                tx = decode(raw, Transaction)
            except EdgeLedgerError as exc:
                results.append(t.SubmittedEach(tx_id=None, status=400, error=str(exc)))
                continue
            decoded.append((i, tx))
            results.append(t.SubmittedEach(tx_id=tx.tx_id.hex(), status=202))
        membership = self.node.membership
        unchecked = [tx for _, tx in decoded if tx.tx_id not in membership.verified]
        if len(unchecked) > 1 and hasattr(self.driver, "verify_off_loop"):
            self.node.record_verified(await self.driver.verify_off_loop(unchecked))
        cap = getattr(getattr(self.node.consensus, "config", None), "max_pending_txs", 0)
        room = cap - len(getattr(self.node.consensus, "mempool", ())) if cap else len(decoded)
        accepted = 0
        now = time.time()
        effects: list[Any] = []
        with self._group(), self.pending.batch():  # no await from here on: in order, one commit each
            for i, tx in decoded:
                if accepted >= room:
                    self.metrics.http_refused.labels("mempool_full").inc()
                    results[i].status, results[i].error = 503, f"{cap} transactions wait to be ordered: retry later"
                    continue
                status, reason = self._admit(tx, now, effects)
                results[i].status, results[i].error = status, reason
                accepted += status == 202
        self._expire(now)
        await self.driver.submit_local(effects)  # answered once what the node wrote for it is durable
        return reply(t.SubmittedBatch(accepted=accepted, results=results))

    def _group(self) -> Any:
        group = getattr(self.node, "durable_group", None)
        return group() if group is not None else contextlib.nullcontext()

    def _admit(self, tx: Transaction, now: float, effects: list[Any]) -> tuple[int, str | None]:
        """Verify (once per node: a checked signature is remembered), check, keep in the pending log
        and submit one transaction; the node's effects are added to ``effects`` for the driver."""
        try:
            verify_transaction(tx, self.node.membership)
        except SignatureError as exc:
            return 403, str(exc)
        except EdgeLedgerError as exc:
            return 400, str(exc)
        reason = self.node.state.check(tx)
        if reason is not None:
            return 409, reason
        self.pending.add(tx, now)  # on disk before the 202: retransmitted until it commits
        self.submitted.setdefault(tx.tx_id, now)
        effects += self.node.submit(tx, now)
        return 202, None

    async def endorse(self, request: web.Request) -> web.Response:
        """Fabric's *execute*: this node, as an endorsing peer, simulates a proposal on its committed
        state and signs the read/write set (msgpack ``ProposalResponse``); the client collects enough
        of them for the contract's endorsement policy, then signs and submits the call. 409 with the
        reason when the simulation fails (nothing is signed)."""
        from edgeledger.ledger.contracts import EndorseRequest, endorse_proposal
        from edgeledger.node.endorsing import EndorserService

        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.content.read(MAX_TX_BYTES + 1)
        if len(body) > MAX_TX_BYTES:
            return error(413, f"request over {MAX_TX_BYTES} bytes")
        try:
            req = decode(body, EndorseRequest)
        except EdgeLedgerError as exc:
            return error(400, str(exc))
        if req.sender not in self.node.membership.identities:
            return error(403, f"{req.sender!r} is not a member of this chain")
        service = self.node.service(EndorserService)
        response = service.endorse(req) if service is not None else endorse_proposal(
            self.node.state, self.node.node_id, self.node.key, req)[0]
        if response.error:
            return error(409, response.error)
        return web.Response(body=encode(response), content_type="application/msgpack")

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        """Stream a blob in chunks (the client re-hashes as it reads: see ``fetch_blob``)."""
        if (busy := self._ready()) is not None:
            return busy
        try:
            digest = bytes.fromhex(request.match_info["digest"])
        except ValueError:
            return error(404, "no blob with that digest")
        path = getattr(self.node.blobs, "path_of", lambda d: None)(digest)
        if path is None:
            try:
                return web.Response(body=self.node.blobs.get(digest), content_type="application/octet-stream")
            except KeyError:
                return error(404, "no blob with that digest")
            except EdgeLedgerError as exc:
                return error(500, f"stored blob is corrupt: {exc}")
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
        if (refused := self._refused(request)) is not None:
            return refused
        return await self.uploads.put(request, self.node)

    def _authorized(self, request: web.Request) -> bool:
        expected = f"Bearer {self.admin_token}" if self.admin_token else None
        return expected is not None and hmac.compare_digest(request.headers.get("Authorization", ""), expected)

    async def admin_shutdown(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error(401, "admin actions need Authorization: Bearer <token> (see --admin-token)")
        asyncio.get_running_loop().call_later(0.05, self.shutdown.set)
        return reply(t.ShuttingDown(status="shutting down"), status=202)

    async def admin_links(self, request: web.Request) -> web.Response:
        """Cut or heal this node's links to peers: {"block": [ids], "unblock": [ids]} (fault injection)."""
        if not self._authorized(request):
            return error(401, "admin actions need Authorization: Bearer <token> (see --admin-token)")
        if (busy := self._ready()) is not None:
            return busy
        try:
            body = msgspec.json.decode(await request.read(), type=t.LinksRequest)
        except msgspec.DecodeError as exc:
            return error(400, f'expected JSON {{"block": [node ids], "unblock": [node ids]}}: {exc}')
        unknown = [n for n in body.block + body.unblock if n not in self.node.membership.identities]
        if unknown:
            return error(400, f"unknown node ids: {unknown}")
        self.driver.blocked.update(body.block)
        self.driver.blocked.difference_update(body.unblock)
        return reply(t.LinksState(blocked=sorted(self.driver.blocked)))

    # -- Prometheus --------------------------------------------------------------------------
    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE,
                                                                  "X-Content-Type-Options": "nosniff"})
