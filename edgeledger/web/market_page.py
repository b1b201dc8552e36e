"""The /observe/market page: the edge resource market of the chain a node follows.

Server-rendered like the rest of /observe: contracts, edge nodes on a location map (an
inline SVG scatter: ENs coloured by company, matched devices joined to their EN), matches,
payment channels with their states, and token balances; ``/observe/api/market`` serves the
same snapshot as JSON. The page reloads itself every few seconds when served live.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import quote
from typing import Any

from aiohttp import web

from edgeledger.codec import to_builtins
from edgeledger.market.view import market_snapshot
from edgeledger.web.api_types import MarketSnapshot
from edgeledger.web.observe_pages import page as page_html
from edgeledger.web.routes import HTML, Response, Route, install

__all__ = ["render_market", "render_scatter", "install_market_page"]

COMPANY_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
EXTRA_CSS = "#search input{width:min(420px,70%);padding:4px}.en{stroke:#fff;stroke-width:1}.dev{fill:#999}.mline{stroke:#ccc}.st-open{color:#2e9d57}" \
            ".st-closing{color:#b8860b}.st-settled{color:#888}"


def render_scatter(ens: list[dict[str, Any]], matches: list[dict[str, Any]], width: int = 420,
                   height: int = 300) -> str:
    """An SVG scatter of EN locations (colour = company, size = capacity) and matched devices."""
    points = [(n["x"], n["y"]) for n in ens] + [(m["x"], m["y"]) for m in matches]
    if not points:
        return f'<svg id=en-map width={width} height={height}><text x=10 y=20 class=muted>no edge nodes</text></svg>'
    lo_x, hi_x = min(p[0] for p in points), max(p[0] for p in points)
    lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
    pad = 28

    def sx(x: float) -> float:
        return pad + (x - lo_x) * (width - 2 * pad) / max(hi_x - lo_x, 1)

    def sy(y: float) -> float:
        return height - pad - (y - lo_y) * (height - 2 * pad) / max(hi_y - lo_y, 1)

    companies = sorted({n["company"] for n in ens})
    colour = {c: COMPANY_COLOURS[i % len(COMPANY_COLOURS)] for i, c in enumerate(companies)}
    at = {n["en_id"]: (sx(n["x"]), sy(n["y"])) for n in ens}
    e = html.escape
    parts = [f'<svg id=en-map viewBox="0 0 {width} {height + 20}" style="width:100%;max-width:{width * 2}px" '
             'role=img aria-label="edge node locations">']
    for m in matches:
        if m["en_id"] in at:
            x, y = at[m["en_id"]]
            parts.append(f'<line class=mline x1={sx(m["x"]):.1f} y1={sy(m["y"]):.1f} x2={x:.1f} y2={y:.1f} />')
        parts.append(f'<circle class=dev cx={sx(m["x"]):.1f} cy={sy(m["y"]):.1f} r=3>'
                     f'<title>{e(m["device"])} -> {e(m["en_id"])}</title></circle>')
    for n in ens:
        x, y = at[n["en_id"]]
        parts.append(f'<circle class=en data-en="{e(n["en_id"])}" cx={x:.1f} cy={y:.1f} r={4 + 2 * min(n["capacity"], 6)} '
                     f'fill="{colour[n["company"]]}"><title>{e(n["en_id"])} ({e(n["company"])}) at ({n["x"]}, '
                     f'{n["y"]}): free {n["free"]}/{n["capacity"]}, price {n["price"]}</title></circle>')
        if len(ens) <= 20:  # beyond that the labels would overlap: the tooltips name every EN
            anchor, dx = ("end", -8) if x > width / 2 else ("start", 8)
            parts.append(f'<text class=muted text-anchor={anchor} x={x + dx:.1f} y={max(y - 8, 10):.1f}>'
                         f'{e(n["en_id"])}</text>')
    legend = "".join(f'<tspan fill="{colour[c]}">● {e(c)} </tspan>' for c in companies)
    parts.append(f'<text x={pad} y={height + 14} class=muted>{legend}<tspan> · grey: matched devices</tspan></text>')
    return "".join(parts) + "</svg>"


def _table(table_id: str, cols: list[str], rows: list[dict[str, Any]], state_col: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            value = html.escape(str(r.get(c, "")))
            cells.append(f"<td class=st-{value}>{value}</td>" if c == state_col else f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    empty = f"<tr><td colspan={len(cols)} class=muted>none yet</td></tr>"
    return f"<table id={table_id}><thead><tr>{head}</tr></thead><tbody>{''.join(body) or empty}</tbody></table>"


PER_PAGE = 50


def _matching(rows: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    q = query.strip().lower()
    return [r for r in rows if not q or any(q in str(v).lower() for v in r.values())]


def _pager(name: str, total: int, page: int, query: str) -> str:
    pages = max(1, -(-total // PER_PAGE))
    q = f"&q={quote(query)}" if query else ""
    prev = f'<a href="?{name}={page - 1}{q}" rel=prev>← previous</a>' if page > 1 else ""
    nxt = f'<a href="?{name}={page + 1}{q}" rel=next>next →</a>' if page < pages else ""
    return f"<p class=muted id={name}-pager>{total:,} rows · page {page} of {pages} {prev} {nxt}</p>"


def _page_of(rows: list[dict[str, Any]], page: int) -> list[dict[str, Any]]:
    return rows[(page - 1) * PER_PAGE: page * PER_PAGE]


def render_market(snapshot: dict[str, Any], live: bool = False, page: int = 1, query: str = "",
                  channel_page: int = 1) -> str:
    """The whole page for one :func:`market_snapshot`: matches and channels paged (``PER_PAGE`` rows),
    every table filtered by ``query`` (a substring of any cell); the map shows the page's matches."""
    s = snapshot
    refresh = "<meta http-equiv=refresh content=10>" if live and not query else ""
    header = (f"<header><h1>edgeledger · edge resource market</h1><span>height {s['height']:,}</span>"
              f"<nav><a href=\"./\">dashboard</a></nav></header>")
    if not s["contracts"]:
        body = (f"{header}<main><section class='card full' data-panel=market data-state=data id=no-market><h2>No market "
                "on this chain</h2><p>No contract is deployed here. This page shows EdgeToll's service matching "
                "(<code>edgetoll.matching</code>) and payment channels (<code>edgetoll.payments</code>) once a "
                "consortium deploys them: try <code>edgeledger market demo</code>, or a scenario with a "
                "<code>[consortium]</code> and <code>edgeledger bench benchmarks/caliper/market.toml</code>.</p>"
                "</section></main>")
        return page_html(f"market · height {s['height']}", body, live, extra_css=EXTRA_CSS, head=refresh)
    audit = s["audit"]
    verdict = (f"all {audit['matches']:,} matches follow the nearest-node rule" if not audit["findings"] else
               f"{len(audit['findings'])} matches broke the rule; favoured: "
               + ", ".join(f"{c} ×{n}" for c, n in audit["favoured"].items()))
    matches = _matching(s["matches"], query)
    pages = max(1, -(-len(matches) // PER_PAGE))
    page = min(max(page, 1), pages)
    channels = _matching(s["channels"], query)
    channel_page = min(max(channel_page, 1), max(1, -(-len(channels) // PER_PAGE)))
    shown = _page_of(matches, page)
    clear = ' <a href="market">clear</a>' if query else ""
    search = (f'<form id=search method=get><input name=q value="{html.escape(query)}" placeholder="search: device, '
              f'EN, company, account" aria-label=search> <button>search</button>{clear}</form>')
    body = f"""{header}<main>
<section class='card full' data-panel=search data-state=data>{search}</section>
<section class=card data-panel=map data-state={'data' if s['edge_nodes'] else 'empty'}><h2>Edge nodes</h2>
{render_scatter(s['edge_nodes'], shown)}</section>
<section class=card data-panel=contracts data-state=data><h2>Contracts</h2><div class=scroll>
{_table('contracts', ['name', 'code', 'version', 'owner', 'height'], s['contracts'])}</div>
<p id=audit>Audit: {html.escape(verdict)}</p><p>Token supply: <b id=supply>{s['supply']:,}</b></p></section>
<section class='card wide' data-panel=matches data-state={'data' if shown else 'empty'}><h2>Matches</h2>
{_pager('page', len(matches), page, query)}<div class=scroll>
{_table('matches', ['seq', 'height', 'device', 'x', 'y', 'need', 'en_id', 'company'], shown)}</div></section>
<section class='card wide' data-panel=channels data-state={'data' if channels else 'empty'}><h2>Payment channels</h2>
{_pager('channels', len(channels), channel_page, query)}<div class=scroll>
{_table('channels', ['id', 'sender', 'receiver', 'deposit', 'amount', 'state', 'settle_at_ms'],
        _page_of(channels, channel_page), 'state')}</div></section>
<section class=card data-panel=balances data-state=data><h2>Balances</h2><div class=scroll>
{_table('balances', ['account', 'role', 'balance'], _matching(s['balances'], query))}</div></section>
</main>"""
    return page_html(f"market · height {s['height']}", body, live, extra_css=EXTRA_CSS, head=refresh)


def install_market_page(app: web.Application, state: Callable[[], Any], live: bool = True) -> None:
    """Add ``/observe/market`` and ``/observe/api/market``; ``state()`` returns the LedgerState or None."""

    def number(request: web.Request, name: str) -> int:
        try:
            return max(1, int(request.query.get(name, "1")))
        except ValueError:
            return 1

    async def page(request: web.Request) -> web.Response:
        current = state()
        if current is None:
            return web.Response(text="starting…", content_type="text/html")
        return web.Response(text=render_market(market_snapshot(current), live, page=number(request, "page"),
                                               query=request.query.get("q", "")[:100],
                                               channel_page=number(request, "channels")), content_type="text/html")

    async def api(request: web.Request) -> web.Response:
        current = state()
        if current is None:
            return web.json_response({"ready": False})
        return web.json_response(to_builtins(market_snapshot(current)))

    install(app, [Route("GET", "/observe/market", page, "the market dashboard page",
                        {200: Response("page", None, HTML)}),
                  Route("GET", "/observe/api/market", api, "the market contracts' state",
                        {200: Response("market snapshot", MarketSnapshot)})])
