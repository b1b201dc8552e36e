"""Routes declared with their request and response types, and JSON errors for everything else.

A :class:`Route` names its method, path, handler and the types of its request body and of each
response status; :func:`install` adds routes to an aiohttp application and
:func:`openapi_document` turns any set of them into an OpenAPI 3.0 document (schemas from
``msgspec.json.schema_components``). :func:`json_errors` is the middleware that makes every
error JSON ``{"error": reason}``, unknown paths and methods included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from edgeledger.web.api_types import ErrorBody

__all__ = ["Route", "Response", "install", "ROUTES_KEY", "app_document", "openapi_document", "json_errors", "error", "reply", "BINARY",
           "HTML", "TEXT", "JS", "EVENTS", "MSGPACK"]

log = logging.getLogger("edgeledger.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BINARY, HTML, TEXT, JS, EVENTS, MSGPACK = ("application/octet-stream", "text/html", "text/plain",
                                           "application/javascript", "text/event-stream", "application/msgpack")


@dataclass(frozen=True)
class Response:
    """One documented answer: a JSON type (a msgspec struct, ``list[...]``, ``dict[...]``), or
    ``None`` with a media type for bytes, pages and streams."""

    description: str
    type: Any = None
    media: str = "application/json"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI form: /v1/blocks/{height}
    handler: Handler
    summary: str
    responses: dict[int, Response]
    request: Any = None  # a JSON type, or None
    request_media: str = "application/json"
    path_types: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter -> schema (default string)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # optional query parameters -> schema
    pattern: str = ""  # the aiohttp path when it needs a regular expression


#: every Route installed on an application (the OpenAPI document of that process is made from it)
ROUTES_KEY = web.AppKey("edgeledger_routes", list)


def install(app: web.Application, routes: Iterable[Route]) -> None:
    """Add ``routes`` to ``app`` and record them for its OpenAPI document."""
    routes = list(routes)
    app.add_routes([web.route(r.method, r.pattern or r.path, r.handler) for r in routes])
    if ROUTES_KEY not in app:
        app[ROUTES_KEY] = []
    app[ROUTES_KEY].extend(routes)


def error(status: int, reason: str) -> web.Response:
    """A JSON error ``{"error": reason}``."""
    return web.json_response({"error": reason}, status=status)


def reply(value: Any, status: int = 200) -> web.Response:
    """A typed value as JSON (msgspec encodes structs, lists, dicts)."""
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON with a reason: unknown paths (404), wrong methods (405), oversized
    bodies (413) and any handler that answered an error in another format."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 404:
            reason = f"no route {request.method} {request.path} (see /openapi.json)"
        elif exc.status == 405:
            reason = f"{request.method} is not allowed on {request.path}"
        return web.json_response({"error": reason}, status=exc.status)
    except Exception as exc:  # a bug: logged with its traceback, answered as JSON, the node keeps serving
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": f"internal error: {type(exc).__name__}"}, status=500)
    if response.status >= 400 and isinstance(response, web.Response) and \
            not (response.content_type or "").endswith("json"):
        text = response.text if response.body is not None and response.charset else ""
        return web.json_response({"error": text or response.reason}, status=response.status)
    return response


def _schema_refs(types: Sequence[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")


def openapi_document(routes: Iterable[Route], title: str, description: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes``: every schema comes from a route's types."""
    routes = list(routes)
    types: list[Any] = [ErrorBody]
    for r in routes:
        types += [r.request] if r.request is not None else []
        types += [resp.type for resp in r.responses.values() if resp.type is not None]
    unique = list(dict.fromkeys(types))
    schemas, components = _schema_refs(unique)
    ref = {t: s for t, s in zip(unique, schemas)}
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {"summary": r.summary, "operationId": f"{r.method.lower()}_{_op_name(r.path)}",
                              "responses": {}}
        params = [{"name": name, "in": "path", "required": True, "schema": r.path_types.get(name, {"type": "string"})}
                  for name in _path_names(r.path)]
        params += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in r.query.items()]
        if params:
            op["parameters"] = params
        if r.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref[r.request]}}}
        elif r.request_media != "application/json":
            op["requestBody"] = {"required": True, "content": {r.request_media: {
                "schema": {"type": "string", "format": "binary"}}}}
        for status, resp in sorted(r.responses.items()):
            if resp.type is not None:
                content = {resp.media: {"schema": ref[resp.type]}}
            elif resp.media in (HTML, TEXT, JS, EVENTS):
                content = {resp.media: {"schema": {"type": "string"}}}
            else:
                content = {resp.media: {"schema": {"type": "string", "format": "binary"}}}
            op["responses"][str(status)] = {"description": resp.description, "content": content}
        for status in (400, 404, 405, 413, 429):  # the middleware may answer these on any route
            op["responses"].setdefault(str(status), {"description": "error", "content": {
                "application/json": {"schema": ref[ErrorBody]}}})
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {"openapi": "3.0.3", "info": {"title": title, "version": "2", "description": description},
            "paths": paths, "components": {"schemas": _openapi30(components)}}


TITLE = "edgeledger node API"
DESCRIPTION = ("Query the chain, submit signed transactions, move blobs, follow the dashboard, drive an oracle "
               "network. Every error is JSON {\"error\": reason}.")


def app_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of the routes installed on ``app`` (what its ``/openapi.json`` serves)."""
    return openapi_document(app.get(ROUTES_KEY, []), TITLE, DESCRIPTION)


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _op_name(path: str) -> str:
    return "_".join(p.strip("{}") for p in path.split("/") if p) or "root"


def _openapi30(components: dict[str, Any]) -> dict[str, Any]:
    """msgspec writes JSON Schema 2020-12; OpenAPI 3.0 wants ``nullable`` instead of ``"type": "null"``
    alternatives and ``items`` instead of ``prefixItems``."""
    return json.loads(json.dumps(components), object_hook=_fix_node)


def _fix_node(node: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        nulls = ({"type": "null"}, {"nullable": True})  # the hook runs bottom-up: a null option may be fixed already
        if isinstance(options, list) and any(o in nulls for o in options):
            rest = [o for o in options if o not in nulls]
            node.pop(key)
            if len(rest) == 1:
                node.update({"allOf": rest} if "$ref" in rest[0] else rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if "prefixItems" in node:  # a tuple: OpenAPI 3.0 has no positional items
        items = node.pop("prefixItems")
        distinct = list({json.dumps(i, sort_keys=True): i for i in items}.values())
        node["items"] = {"anyOf": distinct} if len(distinct) > 1 else distinct[0]
        node["minItems"] = node["maxItems"] = len(items)
    elif node.get("items") is False:
        node.pop("items")
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    return node
