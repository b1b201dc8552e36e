"""The twin platform's REST endpoints, served by observation nodes (SewingChain's control layer).

``GET /v1/twins`` the plant (edges, twins with their latest attested readings, risk, open orders,
the model, recent commands and orders); ``GET /v1/twins/{id}`` one twin with its reading history
and refused readings; ``GET /v1/twins/{id}/audit`` re-fetches the twin's stored batches and checks
them against the chain (a tampered store shows here); ``GET /v1/twins/commands`` and
``GET /v1/twins/orders`` (``?twin=ID``); ``GET /v1/twins/proofs/{tx}`` where a transaction sits and
its checked proofs. Every error is JSON ``{"error": reason}`` with a 4xx code.

A :class:`TwinSource` is what the routes read: a live node, or a finished simulation's observation node.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from edgeledger.ledger.store import ChainStore
from edgeledger.twins.storage import Fetch, audit_readings
from edgeledger.twins.view import (
    command_list,
    order_list,
    plant_snapshot,
    transaction_proof,
    twin_detail,
)

__all__ = ["TwinSource", "install_twin_api", "twin_routes_json"]

_TWIN_ID = re.compile(r"^[\w.\-]{1,64}$")
_TX = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class TwinSource:
    """``node()`` returns the observed node once it exists (None while starting); ``fetch`` reads the
    storage layer (for audits); ``now_ms`` is the clock freshness is measured on."""

    node: Callable[[], Any]
    fetch: Fetch
    now_ms: Callable[[], int]
    live: bool = True

    def ready(self) -> bool:
        node = self.node()
        return node is not None and node.state.height > 0

    def snapshot(self) -> dict[str, Any]:
        node = self.node()
        if node is None:
            return {"ready": False}
        return plant_snapshot(node.state.kv, node.store.height, self.now_ms())

    def detail(self, twin_id: str) -> dict[str, Any] | None:
        node = self.node()
        return twin_detail(node.state.kv, twin_id, node.store.height, self.now_ms())

    def proof(self, tx_hex: str) -> dict[str, Any] | None:
        node = self.node()
        store: ChainStore = node.store
        return transaction_proof(store, node.state.kv, node.membership, bytes.fromhex(tx_hex))

    def audit(self, twin_id: str) -> dict[str, Any]:
        report = audit_readings(self.node().state.kv, self.fetch, [twin_id])
        return {"twin": twin_id, "checked": report.checked, "ok": report.ok,
                "findings": [{"seq": f.seq, "digest": f.digest.hex(), "problem": f.problem, "tx": f.tx_id.hex()}
                             for f in report.findings]}


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def twin_routes_json(source: TwinSource) -> list[web.RouteDef]:
    """The REST routes over ``source``."""

    def guarded(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.StreamResponse:
            if not source.ready():
                return _error(503, "node is starting (no chain state yet)")
            twin_id = request.match_info.get("twin_id")
            if twin_id is not None and not _TWIN_ID.match(twin_id):
                return _error(400, f"twin id {twin_id[:80]!r} must be 1..64 letters, digits, '.', '_' or '-'")
            filter_id = request.query.get("twin")
            if filter_id is not None and not _TWIN_ID.match(filter_id):
                return _error(400, f"?twin={filter_id[:80]!r} must be 1..64 letters, digits, '.', '_' or '-'")
            return await handler(request)
        return run

    @guarded
    async def plant(request: web.Request) -> web.Response:
        return web.json_response(source.snapshot())

    @guarded
    async def one(request: web.Request) -> web.Response:
        detail = source.detail(request.match_info["twin_id"])
        return web.json_response(detail) if detail is not None else _error(404, "no such twin")

    @guarded
    async def audit(request: web.Request) -> web.Response:
        twin_id = request.match_info["twin_id"]
        if source.detail(twin_id) is None:
            return _error(404, "no such twin")
        return web.json_response(source.audit(twin_id))

    @guarded
    async def commands(request: web.Request) -> web.Response:
        node = source.node()
        return web.json_response({"commands": command_list(node.state.kv, request.query.get("twin"))})

    @guarded
    async def orders(request: web.Request) -> web.Response:
        node = source.node()
        return web.json_response({"orders": order_list(node.state.kv, request.query.get("twin"))})

    @guarded
    async def proof(request: web.Request) -> web.Response:
        tx = request.match_info["tx"]
        if not _TX.match(tx):
            return _error(400, "transaction id must be 64 lowercase hex characters")
        found = source.proof(tx)
        return web.json_response(found) if found is not None else _error(404, "transaction not committed (yet)")

    return [web.get("/v1/twins", plant), web.get("/v1/twins/commands", commands), web.get("/v1/twins/orders", orders),
            web.get("/v1/twins/proofs/{tx}", proof), web.get("/v1/twins/{twin_id}", one),
            web.get("/v1/twins/{twin_id}/audit", audit)]


def install_twin_api(app: web.Application, source: TwinSource) -> None:
    app.add_routes(twin_routes_json(source))
