"""The HTTP routes of a deployed oracle network's member: its status, and on the requester the
data requests it files (``/v1/oracle/*``), with their types for the OpenAPI document."""

from __future__ import annotations


import msgspec
from aiohttp import web

from edgeledger.errors import ConfigError
from edgeledger.oracle.roles import NotReady, OracleRole, Requester
from edgeledger.web import api_types as t
from edgeledger.web.routes import Response, Route, error, reply

__all__ = ["oracle_routes"]


def oracle_routes(role: OracleRole | None, requester: bool | None = None) -> list[Route]:
    """``GET /v1/oracle/status``; on the requester ``POST``/``GET /v1/oracle/requests`` too.

    ``role`` None with ``requester`` True gives the routes for documentation only."""
    async def status(request: web.Request) -> web.Response:
        assert role is not None
        return reply(msgspec.convert(role.status(), t.OracleStatus))

    routes = [Route("GET", "/v1/oracle/status", status, "this member's part in the oracle network",
                    {200: Response("status", t.OracleStatus)})]
    if not (isinstance(role, Requester) if requester is None else requester):
        return routes

    async def file_request(request: web.Request) -> web.Response:
        """``{"sensor": "boiler", "ttl_blocks": 200}`` -> the request transaction's id (202)."""
        try:
            body = msgspec.json.decode(await request.read() or b"{}", type=t.OracleRequest)
        except msgspec.DecodeError as exc:
            return error(400, f'expected JSON {{"sensor": "<name>", "ttl_blocks": <int>}}: {exc}')
        try:
            assert isinstance(role, Requester)
            return reply(msgspec.convert(role.file_request(body.sensor, body.ttl_blocks), t.OracleFiled), status=202)
        except NotReady as exc:
            return error(409, str(exc))
        except ConfigError as exc:
            return error(400, str(exc))

    async def list_requests(request: web.Request) -> web.Response:
        try:
            assert isinstance(role, Requester)
            return reply(t.OracleRequests(requests=[msgspec.convert(r, t.OracleRequestState)
                                                    for r in role.requests()]))
        except NotReady as exc:
            return error(503, str(exc))

    return routes + [
        Route("POST", "/v1/oracle/requests", file_request, "file a data request (the requester)",
              {202: Response("filed", t.OracleFiled), 400: Response("bad request", t.ErrorBody),
               409: Response("the network is still being set up", t.ErrorBody)}, request=t.OracleRequest),
        Route("GET", "/v1/oracle/requests", list_requests, "the requests filed and their callbacks",
              {200: Response("requests", t.OracleRequests), 503: Response("starting", t.ErrorBody)}),
    ]


