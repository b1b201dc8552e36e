"""The OpenAPI 3.0 document of a node process, generated from its routes' types.

``/openapi.json`` answers :func:`app_document` of the serving application: every route that
:func:`~edgeledger.web.routes.install` added, with the schemas of its request and response
types. :func:`full_document` is the document of a process with every optional part (the
dashboard, the market page, an oracle requester's API, the protocol endpoint): what the API
fuzzing runs over. ``tests/web/test_openapi.py`` fails when an application has a route the
document lacks.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edgeledger.web.routes import app_document

__all__ = ["app_document", "full_document", "full_app", "undocumented_routes"]


def full_document() -> dict[str, Any]:
    """The document of a node process with every optional route set installed."""
    return app_document(full_app())


def full_app() -> web.Application:
    """An application with every route a node process may serve (handlers unbound to any node)."""
    from edgeledger.web.api import NodeApi, messages_route
    from edgeledger.web.market_page import install_market_page
    from edgeledger.web.observe import install_live_dashboard
    from edgeledger.web.oracle_api import oracle_routes
    from edgeledger.web.routes import install

    app = web.Application()
    api = NodeApi()
    api.install(app)

    async def never(request: web.Request) -> web.Response:  # pragma: no cover - documentation only
        raise web.HTTPServiceUnavailable()

    install(app, [messages_route(never)])
    install_live_dashboard(app, api)
    install_market_page(app, lambda: None)
    install(app, oracle_routes(None, requester=True))
    return app


def undocumented_routes(app: web.Application) -> list[str]:
    """``METHOD /path`` of every route ``app`` serves that its OpenAPI document lacks (HEAD, which
    aiohttp adds for each GET, aside)."""
    paths = app_document(app)["paths"]
    missing = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical if route.resource is not None else ""
        if route.method.lower() not in paths.get(path, {}):
            missing.append(f"{route.method} {path}")
    return sorted(missing)
