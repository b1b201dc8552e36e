"""The /observe dashboard: a page a person keeps open while a network runs.

Server-rendered HTML (the numbers are in the page as served) plus one small script that
follows server-sent events and redraws: chain height, transactions, PBFT view and leader,
nodes with role and status, latest blocks and transactions (each block links to a detail
page with every transaction's Merkle inclusion proof), FL accuracy per round and the
network topology. No front-end build step.
"""

from __future__ import annotations

import asyncio
import html
import json
from importlib import resources
from typing import Any

from aiohttp import web

from edgeledger.web import api_types as t
from edgeledger.web.observe_sources import LiveSource, ObserveSource
from edgeledger.web.routes import EVENTS, HTML, JS, TEXT, Response, Route, install

__all__ = ["install_observe", "install_live_dashboard"]

CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}.badge{padding:2px 8px;border-radius:10px;font-size:12px;background:#555}
.badge.on{background:#2e9d57}.badge.off{background:#b8860b}main{padding:16px 20px;display:grid;
grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}.card{background:#fff;border-radius:8px;
padding:12px 16px;box-shadow:0 1px 3px #0002}.stats{display:flex;gap:24px}.stat b{display:block;font-size:26px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{padding:3px 6px;border-bottom:1px solid #eee;
text-align:left}code{font-size:12px}.muted{fill:#888;color:#888;font-size:11px}.axis{stroke:#999}
.acc{fill:none;stroke:#1f77b4;stroke-width:2}.dot{fill:#1f77b4}.link{stroke:#bbb}.node.cloud{fill:#7b4ea3}
.node.edge{fill:#1f77b4}.node.device{fill:#2ca02c}.node.validator{stroke:#d62728;stroke-width:2}
.node.down{fill:#ccc}.st.down{color:#d62728}.st.up,.st.self{color:#2e9d57}a{color:#1f5fa8}
"""


def _page(title: str, body: str, live: bool) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<meta name=viewport content='width=device-width'><style>{CSS}</style></head>"
            f"<body data-live={'true' if live else 'false'}>{body}</body></html>")


def render_index(source: ObserveSource) -> str:
    o = source.overview()
    if not o.get("ready"):
        return _page("edgeledger", "<header><h1>edgeledger</h1></header><main>starting…</main>", source.live)
    e = html.escape
    body = f"""
<header><h1>edgeledger · {e(str(o['node']))}</h1><span>{e(o['role'])}</span>
<span id=live class="badge">{'connecting' if source.live else 'finished run'}</span>
{'<a href="market" style="color:#fff;margin-left:auto">market →</a>' if source.live else ''}</header>
<main>
<section class=card><h2>Chain</h2><div class=stats>
<div class=stat>height<b id=height>{o['height']}</b></div><div class=stat>transactions<b id=txcount>{o['transactions']}</b></div>
<div class=stat>view<b id=view>{o['view'] if o['view'] is not None else '-'}</b></div>
<div class=stat>leader<b id=leader>{e(str(o['leader']))}</b></div></div></section>
<section class=card><h2>FL accuracy per round</h2><svg id=accuracy width=420 height=160></svg></section>
<section class=card><h2>Latest blocks</h2><table><thead><tr><th>block</th><th>hash</th><th>proposer</th><th>txs</th>
<th>kinds</th><th>signers</th></tr></thead><tbody id=blocks></tbody></table></section>
<section class=card><h2>Latest transactions</h2><table><thead><tr><th>block</th><th>id</th><th>sender</th><th>kind</th>
</tr></thead><tbody id=recent></tbody></table></section>
<section class=card><h2>Network</h2><svg id=topology width=420 height=170></svg></section>
<section class=card><h2>Nodes</h2><table><thead><tr><th>node</th><th>role</th><th>status</th></tr></thead>
<tbody id=nodes></tbody></table></section>
</main><script src="static/observe.js"></script>"""
    return _page(f"edgeledger · height {o['height']}", body, source.live)


def render_block(source: ObserveSource, height: int) -> str | None:
    b = source.block(height)
    if b is None:
        return None
    e = html.escape
    rows = []
    for tx in b["transactions"]:
        proof = tx.get("proof") or {}
        path = "<br>".join(f"<code>{e(p)}</code>" for p in proof.get("path", [])) or "(single leaf)"
        payload = e(json.dumps(tx["payload"], indent=1)) if not isinstance(tx["payload"], str) else e(tx["payload"])
        rows.append(f"<tr><td><code>{e(tx['id'][:16])}</code></td><td>{e(tx['sender'])}</td><td>{tx['nonce']}</td>"
                    f"<td>{e(tx['kind'])}</td><td><pre>{payload}</pre></td><td>leaf {proof.get('index')} of "
                    f"{proof.get('size')}<br>{path}</td></tr>")
    cert = b["commit_certificate"] or {"votes": []}
    votes = ", ".join(e(v["replica"]) for v in cert["votes"])
    body = f"""<header><h1>block #{b['index']}</h1><a href="../" style="color:#fff">← dashboard</a></header><main>
<section class=card style="grid-column:1/-1"><table>
<tr><th>hash</th><td><code id=block-hash>{e(b['hash'])}</code></td></tr>
<tr><th>previous hash</th><td><code>{e(b['previous_hash'])}</code></td></tr>
<tr><th>Merkle root</th><td><code>{e(b['merkle_root'])}</code></td></tr>
<tr><th>proposer</th><td>{e(b['proposer'])}</td></tr><tr><th>timestamp</th><td>{b['timestamp_ms']} ms</td></tr>
<tr><th>commit certificate</th><td>{len(cert['votes'])} signatures: {votes}</td></tr></table></section>
<section class=card style="grid-column:1/-1"><h2>{len(b['transactions'])} transactions</h2><table><thead><tr><th>id</th>
<th>sender</th><th>nonce</th><th>kind</th><th>payload</th><th>Merkle inclusion proof</th></tr></thead><tbody>
{''.join(rows)}</tbody></table></section></main>"""
    return _page(f"block {height}", body, False)


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
    return live
