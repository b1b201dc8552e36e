"""The /observe dashboard: a page a person keeps open while a network runs.

Server-rendered HTML (the numbers are in the page as served) plus one small script that
follows server-sent events and redraws: chain height, transactions, PBFT view and leader
(on a PoW chain, the newest block's miner), nodes with role and status, latest blocks and
transactions (each block links to a detail page with every transaction's Merkle inclusion
proof), FL accuracy per round and the network topology. No front-end build step.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

from aiohttp import web

from edgeledger.web import api_types as t
from edgeledger.web.observe_pages import CSS, FAVICON_SVG, render_block, render_index, render_transaction
from edgeledger.web.observe_sources import LiveSource, ObserveSource
from edgeledger.web.routes import EVENTS, HTML, JS, TEXT, Response, Route, install

__all__ = ["install_observe", "install_live_dashboard", "CSS", "render_index", "render_block"]


def install_observe(app: web.Application, source: ObserveSource, subscribe: Any = None) -> None:
    """Add the dashboard under /observe, and ``/`` redirecting to it.

    ``subscribe(callback)`` registers for live events (blocks, FL accuracy) and returns the
    function that unsubscribes: a stream unsubscribes when its connection closes (browsers
    reconnect event streams by themselves, so a leaked listener per reconnect would grow
    without bound and every commit would call every dead one).
    """
    script = resources.files("edgeledger.web").joinpath("static/observe.js").read_text()

    async def index(request: web.Request) -> web.Response:
        if not request.path.endswith("/"):
            raise web.HTTPFound("/observe/")
        return web.Response(text=render_index(source), content_type="text/html")

    async def block(request: web.Request) -> web.Response:
        page = render_block(source, int(request.match_info["height"]))
        if page is None:
            return web.Response(status=404, text="no such block", content_type="text/plain")
        return web.Response(text=page, content_type="text/html")

    async def transaction(request: web.Request) -> web.Response:
        page = render_transaction(source, request.match_info["tx_id"])
        if page is None:
            return web.json_response({"error": "no committed transaction with that id"}, status=404)
        return web.Response(text=page, content_type="text/html")

    async def transaction_json(request: web.Request) -> web.Response:
        found = source.transaction(request.match_info["tx_id"])
        return web.json_response(found) if found else web.json_response({"error": "no such transaction"}, status=404)

    async def series(request: web.Request) -> web.Response:
        return web.json_response(source.series() if source.overview().get("ready") else {})

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(text=FAVICON_SVG, content_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    async def overview(request: web.Request) -> web.Response:
        return web.json_response(source.overview())

    async def blocks(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(int(request.query.get("limit", "15")), 200))
        except ValueError:
            return web.json_response({"error": "limit must be an integer"}, status=400)
        return web.json_response(source.blocks(limit) if source.overview().get("ready") else [])

    async def static_js(request: web.Request) -> web.Response:
        return web.Response(text=script, content_type="application/javascript")

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)

        def push(event: str, data: Any) -> None:
            payload = {"height": data.height} if event == "block" else {"round": data[0], "accuracy": data[1]}
            if not queue.full():
                queue.put_nowait(f"event: {event}\ndata: {json.dumps(payload)}\n\n")

        unsubscribe = subscribe(push) if subscribe is not None else None
        try:
            await resp.write(b": connected\n\n")
            idle = 0.0
            while request.transport is not None and not request.transport.is_closing():  # gone: unsubscribe
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=1.0)
                except asyncio.TimeoutError:
                    idle += 1.0
                    if idle < 15.0:
                        continue
                    msg = ": keep-alive\n\n"
                idle = 0.0
                await resp.write(msg.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if unsubscribe is not None:
                unsubscribe()
        return resp

    page = Response("the dashboard page", None, HTML)
    found = Response("redirect to /observe/", None, TEXT)
    install(app, [
        Route("GET", "/observe", index, "the dashboard (redirects to /observe/)", {302: found, 200: page}),
        Route("GET", "/observe/", index, "the live dashboard page", {200: page}),
        Route("GET", "/observe/block/{height}", block, "one block with every transaction's Merkle proof (page)",
              {200: page, 404: Response("no such block", t.ErrorBody)},
              path_types={"height": {"type": "integer", "minimum": 0}}, pattern="/observe/block/{height:\\d+}"),
        Route("GET", "/observe/api/overview", overview, "the dashboard's summary",
              {200: Response("overview", t.Overview)}),
        Route("GET", "/observe/api/blocks", blocks, "the newest blocks as summaries, newest first",
              {200: Response("block summaries", list[t.BlockSummary]), 400: Response("bad limit", t.ErrorBody)},
              query={"limit": {"type": "integer", "minimum": 1, "maximum": 200}}),
        Route("GET", "/observe/static/observe.js", static_js, "the dashboard's script",
              {200: Response("script", None, JS)}),
        Route("GET", "/observe/events", events, "server-sent events: blocks and FL accuracy as they happen",
              {200: Response("event stream", None, EVENTS)}),
        Route("GET", "/", to_dashboard, "redirects to the dashboard", {302: found}),
        Route("GET", "/observe/tx/{tx_id}", transaction, "one committed transaction (page)",
              {200: page, 404: Response("no such transaction", t.ErrorBody)},
              path_types={"tx_id": {"type": "string", "pattern": "^[0-9a-f]+$"}},
              pattern="/observe/tx/{tx_id:[0-9a-f]+}"),
        Route("GET", "/observe/api/tx/{tx_id}", transaction_json, "one committed transaction",
              {200: Response("transaction", dict[str, Any]), 404: Response("no such transaction", t.ErrorBody)},
              path_types={"tx_id": {"type": "string", "pattern": "^[0-9a-f]+$"}},
              pattern="/observe/api/tx/{tx_id:[0-9a-f]+}"),
        Route("GET", "/observe/api/series", series, "the dashboard's time series (tx/s, latency, bytes, views, rounds)",
              {200: Response("time series", dict[str, Any])}),
        Route("GET", "/favicon.ico", favicon, "the favicon", {200: Response("icon", None, "image/svg+xml")}),
        Route("GET", "/favicon.svg", favicon, "the favicon", {200: Response("icon", None, "image/svg+xml")}),
    ])


async def to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound("/observe/")


def install_live_dashboard(app: web.Application, api: Any) -> LiveSource:
    """The live /observe dashboard every deployed process serves over its :class:`NodeApi`."""
    live = LiveSource(api)

    def subscribe(listener: Any) -> Any:
        api.listeners.append(listener)
        return lambda: api.listeners.remove(listener) if listener in api.listeners else None

    install_observe(app, live, subscribe=subscribe)
    app.on_startup.append(live.recorder.on_startup)  # the once-a-second sample of traffic and view
    app.on_cleanup.append(live.recorder.on_cleanup)
    return live
