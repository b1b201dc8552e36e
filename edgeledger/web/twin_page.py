"""The /observe/twins page: the plant as the engineer sees it (SewingChain's digital-twin platform).

Server-rendered (every number is in the page as served) and self-contained: its own stylesheet and
script (``static/twins.css``, ``static/twins.js``; no CDN, no build step), laid out for 1024 to 1920
pixel wide screens. Machines are grouped per edge, each with its latest attested readings and their
age, its failure risk against the threshold and the model digest it was computed under; then the
commands with every delivery attempt and acknowledgement, and the maintenance orders. Each value
links to ``/observe/twins/proof/<tx>``: the transaction that put it on chain, with its block's
commit certificate and Merkle inclusion proof checked. ``/observe/twins/<id>`` shows one twin's
reading history (digests), refused readings and a storage audit. A live page swaps in a fresh
rendering every two seconds.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from aiohttp import web

from edgeledger.web.twin_api import TwinSource

__all__ = ["install_twin_page", "render_plant", "render_proof", "render_twin"]

e = html.escape


def _proof(tx: str, text: str, title: str = "on-chain proof") -> str:
    if not tx:
        return e(text)
    return f'<a class=proof href="/observe/twins/proof/{e(tx)}" title="{e(title)}">{e(text)}</a>'


def _age(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _risk(t: dict[str, Any], threshold: int) -> str:
    risk = t["risk_milli"]
    if risk < 0:
        return '<div class=risk><span class=muted>no model yet</span></div>'
    level = "high" if risk >= threshold else "mid" if risk >= threshold // 2 else "low"
    model = t["risk_model"][:12]
    return (f'<div class="risk {level}"><div class=bar><span style="width:{risk / 10:.1f}%"></span>'
            f'<i style="left:{threshold / 10:.1f}%"></i></div><b>{_proof(t["risk_tx"], f"{risk / 10:.1f} %")}</b>'
            f'<small>model <code>{e(model)}</code></small></div>')


def _machine(t: dict[str, Any], threshold: int) -> str:
    r = t["reading"]
    rows = "".join(f"<tr><td>{e(v['field'])}</td><td class=num>{_proof(r['tx'], format(v['value'], '.2f'))}</td>"
                   f"<td class=unit>{e(v['unit'])}</td></tr>" for v in r["values"]) if r else \
        "<tr><td colspan=3 class=muted>no attested reading yet</td></tr>"
    status = r["status"] if r else "unknown"
    meta = (f"seq {r['seq']} · {r['hours']} h · {_age(r['age_s'])} old · digest <code>{e(r['digest'][:12])}</code>"
            if r else "")
    order = (f'<span class="badge order">order #{t["open_order"]}</span>' if t["open_order"] else "")
    return f"""<article class="machine st-{e(status)}" id="twin-{e(t['id'])}" data-twin="{e(t['id'])}">
<header><a href="/observe/twins/{e(t['id'])}"><b>{e(t['id'])}</b></a><span class=owner>{e(t['owner'])}</span>
<span class="badge {e(status)}">{e(status)}</span>{order}</header>
<table class=readings>{rows}</table><p class=meta>{meta}</p>{_risk(t, threshold)}
<p class=counts>{t['attested']} attested · <span class={'warn' if t['refused'] else ''}>{t['refused']} refused</span>
 · {t['failures']} failure(s)</p></article>"""


def _attempt(a: dict[str, Any]) -> str:
    rtt = f" {a['rtt_ms']:.1f} ms" if a["rtt_ms"] else ""
    return f"#{a['attempt']} {a['outcome']}{rtt}"


def _commands(cmds: list[dict[str, Any]]) -> str:
    if not cmds:
        return "<p class=muted>no commands yet</p>"
    rows = []
    for c in cmds:
        attempts = " ".join(f'<span class="att {e(a["outcome"])}">{_proof(a["tx"], _attempt(a))}</span>'
                            for a in c["attempts"]) or "<span class=muted>awaiting ack</span>"
        rows.append(f"<tr><td>{_proof(c['tx'], str(c['id']))}</td><td>{e(c['twin'])}</td><td>{e(c['name'])} "
                    f"{e(' '.join(map(str, c['args'])))}</td><td>{e(c['issuer'])}</td>"
                    f"<td class='cs {e(c['status'])}'>{e(c['status'])}</td><td>{attempts}</td></tr>")
    return ("<table id=commands><thead><tr><th>id</th><th>twin</th><th>command</th><th>issuer</th><th>status</th>"
            f"<th>attempts (acknowledgements)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _orders(orders: list[dict[str, Any]]) -> str:
    if not orders:
        return "<p class=muted>no maintenance orders yet</p>"
    rows = "".join(f"<tr><td>{_proof(o['tx'], str(o['id']))}</td><td>{e(o['twin'])}</td><td>{o['risk_milli'] / 10:.1f} %"
                   f"</td><td>{o['hours']} h</td><td class='os {e(o['status'])}'>{e(o['status'])}</td>"
                   f"<td>{_proof(o['close_tx'], o['outcome'] or '-')}</td></tr>" for o in orders)
    return ("<table id=orders><thead><tr><th>order</th><th>twin</th><th>risk</th><th>at</th><th>status</th>"
            f"<th>outcome</th></tr></thead><tbody>{rows}</tbody></table>")


def render_fragment(s: dict[str, Any]) -> str:
    """The page's main part for one :func:`~edgeledger.twins.view.plant_snapshot` (what the script swaps in)."""
    threshold = s["risk_threshold_milli"] or 1000
    model = s["model"]
    model_text = (f"model round {model['round']} · {_proof(model['tx'], model['digest'][:16])}" if model
                  else "no maintenance model on chain yet")
    edges = "".join(f"""<section class=edge><h2>{e(x['edge'])} <small>gateway {e(x['gateway'])}</small></h2>
<div class=machines>{''.join(_machine(t, threshold) for t in x['twins'])}</div></section>""" for x in s["edges"])
    return f"""<div class=summary><span>height <b id=height>{s['height']}</b></span><span>{model_text}</span>
<span>risk threshold <b>{threshold / 10:.0f} %</b></span><span>retry bound <b>{s['max_attempts']}</b></span></div>
<div class=plant>{edges or '<p class=muted>no twins registered yet</p>'}</div>
<div class=logs><section class=panel><h2>Commands</h2>{_commands(s['commands'])}</section>
<section class=panel><h2>Maintenance orders</h2>{_orders(s['orders'])}</section></div>"""


def _page(title: str, body: str, live: bool) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>"
            f"<meta name=viewport content='width=device-width'><link rel=icon href='data:,'>"
            f"<link rel=stylesheet href='/observe/static/twins.css'>"
            f"</head><body data-live={'true' if live else 'false'}>{body}"
            f"<script src='/observe/static/twins.js'></script></body></html>")


def render_plant(s: dict[str, Any], live: bool) -> str:
    if not s.get("ready"):
        return _page("twins", "<header class=top><h1>digital twins</h1></header><main>starting…</main>", live)
    nav = "<nav><a href='/observe/'>dashboard</a></nav>" if live else ""
    body = (f"<header class=top><h1>digital twins</h1><span id=live class=badge>{'live' if live else 'finished run'}"
            f"</span>{nav}</header><main id=plant>{render_fragment(s)}</main>")
    return _page(f"twins · height {s['height']}", body, live)


def render_twin(d: dict[str, Any], audit: dict[str, Any] | None, threshold: int) -> str:
    rows = "".join(f"<tr><td>{r['seq']}</td><td><code>{e(r['digest'][:24])}</code></td><td>{r['height']}</td>"
                   f"<td>{_proof(r['tx'], 'proof')}</td></tr>" for r in d["readings"])
    refused = "".join(f"<tr><td>{r['seq']}</td><td class=warn>{e(r['verdict'])}</td><td><code>{e(r['digest'][:24])}"
                      f"</code></td><td>{_proof(r['tx'], 'proof')}</td></tr>" for r in d["refused_readings"])
    audit_html = "" if audit is None else (
        f"<p id=audit class={'ok' if audit['ok'] else 'warn'}>storage audit: {audit['checked']} stored batches "
        f"checked against their on-chain digests, {len(audit['findings'])} problem(s)</p>"
        + "".join(f"<p class=warn>seq {f['seq']}: {e(f['problem'])} ({_proof(f['tx'], 'reading on chain')})</p>"
                  for f in audit["findings"]))
    schema = ", ".join(f"{e(c[0])}({', '.join(f'{e(p[0])} {p[1]}..{p[2]}' for p in c[1])})" for c in d["commands"])
    body = f"""<header class=top><h1>twin {e(d['id'])}</h1><nav><a href='/observe/twins'>all twins</a></nav></header>
<main class=detail><div class=machines>{_machine(d, threshold)}</div><section class=panel><h2>Twin</h2>
<p>{e(d['kind'])} of {e(d['owner'])} at {e(d['edge'])}, gateway {e(d['gateway'])}, version {d['version']}
({_proof(d['added_tx'], 'registered')}); commands: {schema or 'none'}; granted: {e(', '.join(d['grants']) or '-')}</p>
{audit_html}</section>
<section class=panel><h2>Attested readings (raw batches off chain, digests on chain)</h2><table><thead><tr><th>seq</th>
<th>digest</th><th>block</th><th></th></tr></thead><tbody>{rows}</tbody></table></section>
<section class=panel><h2>Refused readings</h2><table><tbody>{refused or '<tr><td class=muted>none</td></tr>'}</tbody>
</table></section><section class=panel><h2>Commands</h2>{_commands(d['commands_log'])}</section>
<section class=panel><h2>Maintenance orders</h2>{_orders(d['orders'])}</section></main>"""
    return _page(f"twin {d['id']}", body, False)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_proof(p: dict[str, Any]) -> str:
    ok, bad = "<b class=ok>verified</b>", "<b class=warn>does not verify</b>"
    path = "".join(f"<li><code>{e(h)}</code></li>" for h in p["proof_path"]) or "<li>(single leaf)</li>"
    events = "".join(f"<li>{e(ev['name'])} <code>{e(_short(json.dumps(ev['attributes'])))}</code></li>"
                     for ev in p["events"])
    body = f"""<header class=top><h1>on-chain proof</h1><nav><a href='/observe/twins'>all twins</a></nav></header>
<main class=detail><section class=panel><table class=kv>
<tr><th>transaction</th><td><code id=tx>{e(p['tx'])}</code></td></tr>
<tr><th>sender · kind</th><td>{e(p['sender'])} · {e(p['kind'])} <code>{e(json.dumps(p['payload']))}</code></td></tr>
<tr><th>receipt</th><td>{'valid' if p['receipt'] and p['receipt']['ok'] else e(str(p['receipt']))}</td></tr>
<tr><th>block</th><td>#{p["height"]} <code>{e(p['block_hash'])}</code></td></tr>
<tr><th>commit certificate</th><td id=certificate>{ok if p['certificate_verified'] else bad}: {len(p['certificate_signers'])}
 validator signatures ({e(', '.join(p['certificate_signers']))}) {e(p['certificate_error'])}</td></tr>
<tr><th>Merkle inclusion</th><td id=inclusion>{ok if p['inclusion_verified'] else bad}: leaf {p['proof_index']} of
 {p['proof_size']} under root <code>{e(p['merkle_root'])}</code><ol>{path}</ol></td></tr>
<tr><th>events</th><td><ul>{events or '<li>none</li>'}</ul></td></tr></table></section></main>"""
    return _page(f"proof {p['tx'][:12]}", body, False)


def install_twin_page(app: web.Application, source: TwinSource) -> None:
    """Add ``/observe/twins`` (and its fragment, detail and proof pages, script and stylesheet)."""
    static = resources.files("edgeledger.web").joinpath("static")
    script, style = static.joinpath("twins.js").read_text(), static.joinpath("twins.css").read_text()

    def html_response(text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html")

    async def plant(request: web.Request) -> web.Response:
        return html_response(render_plant(source.snapshot() if source.ready() else {"ready": False}, source.live))

    async def fragment(request: web.Request) -> web.Response:
        if not source.ready():
            return html_response("<p class=muted>starting…</p>", 503)
        return html_response(render_fragment(source.snapshot()))

    async def twin(request: web.Request) -> web.Response:
        twin_id = request.match_info["twin_id"]
        detail = source.detail(twin_id) if source.ready() and len(twin_id) <= 64 else None
        if detail is None:
            return html_response("<p>no such twin</p>", 404)
        threshold = source.snapshot()["risk_threshold_milli"] or 1000
        return html_response(render_twin(detail, source.audit(twin_id), threshold))

    async def proof(request: web.Request) -> web.Response:
        tx = request.match_info["tx"]
        found = source.proof(tx) if source.ready() and len(tx) == 64 and all(c in "0123456789abcdef" for c in tx) \
            else None
        return html_response(render_proof(found)) if found else html_response("<p>transaction not committed</p>", 404)

    async def js(request: web.Request) -> web.Response:
        return web.Response(text=script, content_type="application/javascript")

    async def css(request: web.Request) -> web.Response:
        return web.Response(text=style, content_type="text/css")

    app.add_routes([web.get("/observe/twins", plant), web.get("/observe/twins/", plant),
                    web.get("/observe/twins-fragment", fragment), web.get("/observe/twins/proof/{tx}", proof),
                    web.get("/observe/twins/{twin_id}", twin), web.get("/observe/static/twins.js", js),
                    web.get("/observe/static/twins.css", css)])
