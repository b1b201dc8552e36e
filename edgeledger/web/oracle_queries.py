"""The observation node's query API: ``GET /v1/query/oracle/...`` (JSON; errors are ``{"error": reason}``).

SewingChain's observation nodes answer users' questions about the oracle from the chain they
follow (:mod:`edgeledger.oracle.queries`), so applications and auditors need neither a vote
nor a sealer's time:

* ``/v1/query/oracle`` -- registry, groups (with how each key generation went), settings;
* ``/v1/query/oracle/requests?status=&limit=`` -- the latest requests, newest first;
* ``/v1/query/oracle/requests/{request_id}`` -- one request (URL-encode its ``#``);
* ``/v1/query/oracle/terms/{term}`` -- a term's chained seed, master output and fallback board;
* ``/v1/query/oracle/groups/{group_id}`` -- one group;
* ``/v1/query/xchain/messages/{msg_id}`` -- (a federation's observation node) a cross-chain
  message across the chains it follows: sent, delivered or expired, acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from edgeledger.ledger.state import LedgerState
from edgeledger.oracle.queries import (
    group_status, message_trace, oracle_overview, request_list, request_status, term_status,
)
from edgeledger.web import api_types as t
from edgeledger.web.routes import Response, Route

__all__ = ["oracle_query_routes", "xchain_query_routes"]

MAX_LIMIT = 1000


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def oracle_query_routes(state: Callable[[], LedgerState | None], proxy: str) -> list[Route]:
    """The query routes over the committed state ``state()`` returns (None while starting) of ``proxy``."""

    def route(path: str, answer: Callable[[LedgerState, web.Request], Any], what: str, summary: str,
              path_types: dict[str, dict[str, Any]] | None = None,
              query: dict[str, dict[str, Any]] | None = None) -> Route:
        async def handle(request: web.Request) -> web.Response:
            view = state()
            if view is None:
                return _error(503, "the node is starting")
            try:
                found = answer(view, request)
            except ValueError as exc:  # a malformed query parameter
                return _error(400, str(exc))
            if found is None:
                return _error(404, f"no {what.format(**request.match_info)} on this chain")
            return web.json_response(found)

        return Route("GET", path, handle, summary,
                     {200: Response(summary, dict[str, Any]), 400: Response("a malformed parameter", t.ErrorBody),
                      404: Response("not on this chain", t.ErrorBody), 503: Response("starting", t.ErrorBody)},
                     path_types=path_types or {}, query=query or {})

    def listed(view: LedgerState, request: web.Request) -> dict[str, Any]:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer in 1..{MAX_LIMIT}, got {raw!r}")
        return {"requests": request_list(view, proxy, request.query.get("status") or None, int(raw))}

    def term(view: LedgerState, request: web.Request) -> Any:
        raw = request.match_info["term"]
        if not raw.isdigit():
            raise ValueError(f"term must be a non-negative integer, got {raw!r}")
        return term_status(view, proxy, int(raw))

    return [
        route("/v1/query/oracle", lambda v, r: oracle_overview(v, proxy), f"proxy {proxy!r}",
              "the oracle's registry, groups and settings (observation node)"),
        route("/v1/query/oracle/requests", listed, "requests", "the latest requests, newest first",
              query={"status": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}),
        route("/v1/query/oracle/requests/{request_id}",
              lambda v, r: request_status(v, proxy, r.match_info["request_id"]), "request {request_id!r}",
              "one request"),
        route("/v1/query/oracle/terms/{term}", term, "request in term {term}",
              "a term's chained seed, master output and fallback board"),
        route("/v1/query/oracle/groups/{group_id}",
              lambda v, r: group_status(v, proxy, r.match_info["group_id"]), "group {group_id!r}", "one group"),
    ]


def xchain_query_routes(states: Callable[[], Mapping[str, LedgerState]]) -> list[Route]:
    """``GET /v1/query/xchain/messages/{msg_id}`` over the committed states (chain id -> state) of the
    chains an observation node follows (empty while starting)."""

    async def handle(request: web.Request) -> web.Response:
        followed = states()
        if not followed:
            return _error(503, "the node is starting")
        msg_id = request.match_info["msg_id"]
        if ":" not in msg_id:
            return _error(400, f"msg_id must be SOURCE_CHAIN:SEQUENCE (e.g. lbc1:3), got {msg_id!r:.80}")
        found = message_trace(followed, msg_id)
        if found is None:
            return _error(404, f"no message {msg_id!r:.80} on the chains followed here ({sorted(followed)})")
        return web.json_response(found)

    summary = "a cross-chain message: sent, delivered or expired, acknowledged (observation node)"
    return [Route("GET", "/v1/query/xchain/messages/{msg_id}", handle, summary,
                  {200: Response(summary, dict[str, Any]), 400: Response("a malformed id", t.ErrorBody),
                   404: Response("not on the chains followed", t.ErrorBody),
                   503: Response("starting", t.ErrorBody)})]
