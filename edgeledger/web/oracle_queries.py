"""The observation node's query API: ``GET /v1/query/oracle/...`` (JSON; errors are ``{"error": reason}``).

SewingChain's observation nodes answer users' questions about the oracle from the chain they
follow (:mod:`edgeledger.oracle.queries`), so applications and auditors need neither a vote
nor a sealer's time:

* ``/v1/query/oracle`` -- registry, groups (with how each key generation went), settings;
* ``/v1/query/oracle/requests?status=&limit=`` -- the latest requests, newest first;
* ``/v1/query/oracle/requests/{request_id}`` -- one request (URL-encode its ``#``);
* ``/v1/query/oracle/terms/{term}`` -- a term's chained seed, master output and fallback board;
* ``/v1/query/oracle/groups/{group_id}`` -- one group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from edgeledger.ledger.state import LedgerState
from edgeledger.oracle.queries import group_status, oracle_overview, request_list, request_status, term_status

__all__ = ["oracle_query_routes"]

MAX_LIMIT = 1000


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def oracle_query_routes(state: Callable[[], LedgerState | None], proxy: str) -> list[web.RouteDef]:
    """The query routes over the committed state ``state()`` returns (None while starting) of ``proxy``."""

    def answer(found: Any, what: str) -> web.Response:
        return web.json_response(found) if found is not None else _error(404, f"no {what} on this chain")

    def current() -> LedgerState | web.Response:
        view = state()
        return _error(503, "the node is starting") if view is None else view

    async def overview(request: web.Request) -> web.Response:
        view = current()
        return view if isinstance(view, web.Response) else answer(oracle_overview(view, proxy), f"proxy {proxy!r}")

    async def requests(request: web.Request) -> web.Response:
        view = current()
        if isinstance(view, web.Response):
            return view
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(400, f"limit must be an integer in 1..{MAX_LIMIT}, got {request.query.get('limit')!r}")
        if not 0 < limit <= MAX_LIMIT:
            return _error(400, f"limit must be an integer in 1..{MAX_LIMIT}, got {limit}")
        status = request.query.get("status") or None
        return web.json_response({"requests": request_list(view, proxy, status, limit)})

    async def one_request(request: web.Request) -> web.Response:
        view = current()
        if isinstance(view, web.Response):
            return view
        request_id = request.match_info["request_id"]
        return answer(request_status(view, proxy, request_id), f"request {request_id!r}")

    async def term(request: web.Request) -> web.Response:
        view = current()
        if isinstance(view, web.Response):
            return view
        raw = request.match_info["term"]
        if not raw.isdigit():
            return _error(400, f"term must be a non-negative integer, got {raw!r}")
        return answer(term_status(view, proxy, int(raw)), f"request in term {raw}")

    async def group(request: web.Request) -> web.Response:
        view = current()
        if isinstance(view, web.Response):
            return view
        group_id = request.match_info["group_id"]
        return answer(group_status(view, proxy, group_id), f"group {group_id!r}")

    return [web.get("/v1/query/oracle", overview), web.get("/v1/query/oracle/requests", requests),
            web.get("/v1/query/oracle/requests/{request_id}", one_request),
            web.get("/v1/query/oracle/terms/{term}", term), web.get("/v1/query/oracle/groups/{group_id}", group)]
