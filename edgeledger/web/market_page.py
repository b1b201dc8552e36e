"""The /observe/market page: the edge resource market of the chain a node follows.

Server-rendered like the rest of /observe: contracts, edge nodes on a location map (an
inline SVG scatter: ENs coloured by company, matched devices joined to their EN), matches,
payment channels with their states, and token balances; ``/observe/api/market`` serves the
same snapshot as JSON. The page reloads itself every few seconds when served live.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiohttp import web

from edgeledger.codec import to_builtins
from edgeledger.market.view import market_snapshot
from edgeledger.web.observe import CSS

__all__ = ["render_market", "render_scatter", "install_market_page"]

COMPANY_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
EXTRA_CSS = ".en{stroke:#fff;stroke-width:1}.dev{fill:#999}.mline{stroke:#ccc}.st-open{color:#2e9d57}" \
            ".st-closing{color:#b8860b}.st-settled{color:#888}"


def render_scatter(ens: list[dict[str, Any]], matches: list[dict[str, Any]], width: int = 420,
                   height: int = 300) -> str:
    """An SVG scatter of EN locations (colour = company, size = capacity) and matched devices."""
    points = [(n["x"], n["y"]) for n in ens] + [(m["x"], m["y"]) for m in matches]
    if not points:
        return f'<svg id=en-map width={width} height={height}><text x=10 y=20 class=muted>no edge nodes</text></svg>'
    lo_x, hi_x = min(p[0] for p in points), max(p[0] for p in points)
    lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
    pad = 20

    def sx(x: float) -> float:
        return pad + (x - lo_x) * (width - 2 * pad) / max(hi_x - lo_x, 1)

    def sy(y: float) -> float:
        return height - pad - (y - lo_y) * (height - 2 * pad) / max(hi_y - lo_y, 1)

    companies = sorted({n["company"] for n in ens})
    colour = {c: COMPANY_COLOURS[i % len(COMPANY_COLOURS)] for i, c in enumerate(companies)}
    at = {n["en_id"]: (sx(n["x"]), sy(n["y"])) for n in ens}
    e = html.escape
    parts = [f'<svg id=en-map width={width} height={height + 20} role=img aria-label="edge node locations">']
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
        parts.append(f'<text class=muted x={x + 8:.1f} y={y - 8:.1f}>{e(n["en_id"])}</text>')
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


def render_market(snapshot: dict[str, Any], live: bool = False) -> str:
    """The whole page for one :func:`market_snapshot`."""
    s = snapshot
    audit = s["audit"]
    verdict = (f"all {audit['matches']} matches follow the nearest-node rule" if not audit["findings"] else
               f"{len(audit['findings'])} matches broke the rule; favoured: "
               + ", ".join(f"{c} ×{n}" for c, n in audit["favoured"].items()))
    body = f"""<header><h1>edgeledger · edge resource market</h1><span>height {s['height']}</span>
<a href="./" style="color:#fff">← dashboard</a></header><main>
<section class=card><h2>Edge nodes</h2>{render_scatter(s['edge_nodes'], s['matches'])}</section>
<section class=card><h2>Contracts</h2>{_table('contracts', ['name', 'code', 'version', 'owner', 'height'], s['contracts'])}
<p id=audit>Audit: {html.escape(verdict)}</p><p>Token supply: <b id=supply>{s['supply']}</b></p></section>
<section class=card><h2>Matches</h2>{_table('matches', ['seq', 'height', 'device', 'x', 'y', 'need', 'en_id', 'company'],
                                             s['matches'])}</section>
<section class=card><h2>Payment channels</h2>{_table('channels', ['id', 'sender', 'receiver', 'deposit', 'amount',
                                                                  'state', 'settle_at_ms'], s['channels'], 'state')}</section>
<section class=card><h2>Balances</h2>{_table('balances', ['account', 'role', 'balance'], s['balances'])}</section>
</main>"""
    refresh = "<meta http-equiv=refresh content=5>" if live else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>market · height {s['height']}</title>"
            f"{refresh}<meta name=viewport content='width=device-width'><style>{CSS}{EXTRA_CSS}</style></head>"
            f"<body data-live={'true' if live else 'false'}>{body}</body></html>")


def install_market_page(app: web.Application, state: Callable[[], Any], live: bool = True) -> None:
    """Add ``/observe/market`` and ``/observe/api/market``; ``state()`` returns the LedgerState or None."""

    async def page(request: web.Request) -> web.Response:
        current = state()
        if current is None:
            return web.Response(text="starting…", content_type="text/html")
        return web.Response(text=render_market(market_snapshot(current), live), content_type="text/html")

    async def api(request: web.Request) -> web.Response:
        current = state()
        if current is None:
            return web.json_response({"ready": False})
        return web.json_response(to_builtins(market_snapshot(current)))

    app.add_routes([web.get("/observe/market", page), web.get("/observe/api/market", api)])
