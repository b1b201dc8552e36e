"""The /observe dashboard: a page a person keeps open while a network runs.

Server-rendered HTML (the numbers are in the page as served) plus one small script that
follows server-sent events and redraws: chain height, transactions, PBFT view and leader,
nodes with role and status, latest blocks and transactions (each block links to a detail
page with every transaction's Merkle inclusion proof), FL accuracy per round and the
network topology. No front-end build step.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

from aiohttp import web

from edgeledger.web.observe_pages import CSS, FAVICON_SVG, render_block, render_index, render_transaction
from edgeledger.web.observe_sources import LiveSource, ObserveSource

__all__ = ["install_observe", "install_live_dashboard", "CSS", "render_index", "render_block"]


def install_observe(app: web.Application, source: ObserveSource, subscribe: Any = None) -> None:
    """Add the dashboard under /observe, and ``/`` redirecting to it.

    ``subscribe(callback)`` registers for live events (blocks, FL accuracy).
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
            return web.Response(status=404, text="no committed transaction with that id", content_type="text/plain")
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

        if subscribe is not None:
            subscribe(push)
        try:
            await resp.write(b": connected\n\n")
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=15)
                except asyncio.TimeoutError:
                    msg = ": keep-alive\n\n"
                await resp.write(msg.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    app.add_routes([web.get("/observe", index), web.get("/observe/", index),
                    web.get("/observe/block/{height:\\d+}", block), web.get("/observe/api/overview", overview),
                    web.get("/observe/api/blocks", blocks), web.get("/observe/static/observe.js", static_js),
                    web.get("/observe/events", events), web.get("/", to_dashboard),
                    web.get("/observe/tx/{tx_id:[0-9a-f]+}", transaction),
                    web.get("/observe/api/tx/{tx_id:[0-9a-f]+}", transaction_json),
                    web.get("/observe/api/series", series), web.get("/favicon.ico", favicon),
                    web.get("/favicon.svg", favicon)])


async def to_dashboard(request: web.Request) -> web.Response:
    raise web.HTTPFound("/observe/")


def install_live_dashboard(app: web.Application, api: Any) -> LiveSource:
    """The live /observe dashboard every deployed process serves over its :class:`NodeApi`."""
    live = LiveSource(api)
    install_observe(app, live, subscribe=api.listeners.append)
    app.on_startup.append(live.recorder.on_startup)  # the once-a-second sample of traffic and view
    app.on_cleanup.append(live.recorder.on_cleanup)
    return live
