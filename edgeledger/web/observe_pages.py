"""The HTML of the /observe pages: the dashboard, a block, a transaction (server-rendered).

The numbers a person checks first are in the page as served; ``static/observe.js`` draws the
charts and keeps the tables live. The layout is a grid of cards that fits from 1024 to 1920
pixels wide: tables scroll inside their card instead of overflowing it.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from edgeledger.web.observe_sources import ObserveSource

__all__ = ["CSS", "FAVICON_SVG", "page", "render_index", "render_block", "render_transaction", "format_time"]

CSS = """
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:14px;align-items:center}
header h1{font-size:18px;margin:0}header a{color:#fff}header nav{margin-left:auto;display:flex;gap:14px}
.badge{padding:2px 8px;border-radius:10px;font-size:12px;background:#555}.badge.on{background:#2e9d57}
.badge.off{background:#b8860b}main{padding:16px 20px;display:grid;gap:16px;
grid-template-columns:repeat(auto-fill,minmax(min(100%,440px),1fr))}
.card{background:#fff;border-radius:8px;padding:10px 16px 14px;box-shadow:0 1px 3px #0002;min-width:0}
.card h2{font-size:15px;margin:4px 0 8px}.full{grid-column:1/-1}
@media (min-width:1000px){.wide{grid-column:span 2}}
.stats{display:flex;flex-wrap:wrap;gap:10px 24px}.stat{font-size:12px;color:#555}.stat b{display:block;font-size:24px;color:#1d2330}
.scroll{overflow-x:auto;max-height:420px;overflow-y:auto}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{padding:3px 6px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top;white-space:nowrap}th{position:sticky;top:0;background:#fff}
td.kinds,td.wrap{white-space:normal;min-width:160px}
code{font-size:12px;word-break:break-all}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
.muted{fill:#888;color:#888;font-size:12px}svg.chart{width:100%;height:190px;display:block}
svg .tick{font-size:10px;fill:#555}svg .label{font-size:11px;fill:#333}svg .grid{stroke:#eee}
svg .axis{stroke:#999}svg .cursor{stroke:#888;stroke-dasharray:3 3}svg .bar{fill:#1f77b4}
svg#topology{width:100%;display:block}.link{stroke:#bbb}.link.tamper{stroke:#d62728;stroke-dasharray:5 3;stroke-width:2}
.node.cloud{fill:#7b4ea3}.node.edge{fill:#1f77b4}.node.device{fill:#2ca02c}.node.company{fill:#8c564b}
.node.validator{stroke:#1d2330;stroke-width:2.5}.node.attacker{fill:#d62728}.node.down{fill:#ccc}
.nlabel{font-size:10px;fill:#333}.rejmark{font-size:12px;fill:#d62728;font-weight:bold}
.legend{font-size:12px;color:#555;display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:4px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
.st.down{color:#d62728}.st.up,.st.self{color:#2e9d57}.warn{color:#d62728}a{color:#1f5fa8}
#tip{position:absolute;display:none;background:#1d2330;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;
pointer-events:none;z-index:10;max-width:260px}.note{background:#fff8e1;border-left:4px solid #b8860b}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0;font-size:13px}dl.facts dt{color:#555}
dl.facts dd{margin:0;min-width:0}
"""

FAVICON_SVG = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'><rect width='32' height='32' rx='6' "
               "fill='#1d2330'/><rect x='5' y='6' width='9' height='9' rx='2' fill='#2e9d57'/><rect x='18' y='6' "
               "width='9' height='9' rx='2' fill='#1f77b4'/><rect x='11.5' y='18' width='9' height='9' rx='2' "
               "fill='#7b4ea3'/><path d='M14 10.5h4M9.5 15l4 3M22.5 15l-4 3' stroke='#fff' stroke-width='1.6'/></svg>")

e = html.escape


def page(title: str, body: str, live: bool, base: str = "", extra_css: str = "", head: str = "") -> str:
    """A whole HTML page with the shared style and the favicon; ``base`` prefixes relative links."""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<link rel=icon type='image/svg+xml' href='/favicon.svg'>{head}<style>{CSS}{extra_css}</style></head>"
            f"<body data-live={'true' if live else 'false'}>{body}<div id=tip></div></body></html>")


def format_time(timestamp_ms: int, clock: str) -> str:
    """A block timestamp as a person reads it: UTC date and time, or simulated seconds."""
    if clock == "simulated":
        return f"{timestamp_ms / 1000:.3f} s of simulated time"
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _nav(live: bool, base: str) -> str:
    market = f'<a href="{base}market">market</a>' if live else ""
    return f'<nav><a href="{base}">dashboard</a>{market}</nav>'


def _device_note(o: dict[str, Any]) -> str:
    """What a node that keeps no chain (a device, a light client) shows instead of an empty one."""
    if o.get("keeps_chain", True):
        return ""
    url = o.get("validator_url") or ""
    link = (f'<a id=validator-link href="{e(url)}/observe/">{e(o["validator"])}\'s dashboard</a>' if url
            else e(str(o.get("validator") or "a validator")))
    kept = ("verified block headers and the Merkle proofs of its own transactions" if o.get("light_client") else
            "its identity key, its local data and the global model of the current round")
    return (f"<section class='card full note' data-panel=device data-state=data id=device-note><h2>This {e(o['role'])} "
            f"keeps no chain</h2><p>It keeps {kept}. It takes part in every FL round: it checks each global model "
            f"against the chain's commit certificate and Merkle proof, trains, signs its update and uploads it "
            f"through its edge. Height, blocks and transactions are those of the chain it follows: see {link}.</p>"
            "</section>")


def _card(panel: str, title: str, inner: str, cls: str = "", state: str = "") -> str:
    filled = f" data-state={state}" if state else ""
    return f"<section class='card {cls}' data-panel={panel}{filled}><h2>{title}</h2>{inner}</section>"


def _chart(panel: str, title: str, cls: str = "") -> str:
    return _card(panel, title, f"<svg id=chart-{panel} class=chart role=img aria-label='{e(title)}'></svg>", cls)


def _table(tbody: str, cols: list[str]) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody id={tbody}></tbody></table></div>"


def render_index(source: ObserveSource) -> str:
    o = source.overview()
    if not o.get("ready"):
        return page("edgeledger", "<header><h1>edgeledger</h1></header><main>starting…</main>", source.live)
    view = o["view"] if o["view"] is not None else "-"
    pow_chain = o.get("protocol") == "pow"  # no views and no leader: show the newest block's miner
    leader_label = "last miner" if pow_chain else "leader"
    view_title = "View (PBFT only: a PoW chain has none)" if pow_chain else "PBFT view and view changes"
    legend = ("<div class=legend><span><i style='background:#7b4ea3'></i>cloud</span><span><i style='background:#1f77b4'>"
              "</i>edge</span><span><i style='background:#2ca02c'></i>device</span><span><i style='background:#fff;"
              "border:2.5px solid #1d2330'></i>validator</span><span><i style='background:#d62728'></i>attacker</span>"
              "<span><b class=warn>- -</b> tampering edge's links</span><span><b class=warn>✕</b> update rejected</span>"
              "</div><p class=muted id=topology-note></p>")
    body = f"""
<header><h1>edgeledger · {e(str(o['node']))}</h1><span>{e(o['role'])}</span>
<span id=live class="badge">{'connecting' if source.live else 'finished run'}</span>{_nav(source.live, '')}</header>
<main>{_device_note(o)}
{_card('chain', 'Chain', f'''<div class=stats><div class=stat>height<b id=height>{o['height']:,}</b></div>
<div class=stat>transactions<b id=txcount>{o['transactions']:,}</b></div><div class=stat>view<b id=view>{view}</b></div>
<div class=stat>{leader_label}<b id=leader>{e(str(o['leader']))}</b></div>
<div class=stat>pending<b id=pending-count>{o['pending']['count']}</b></div>
<div class=stat>rejected<b id=rejection-count>{o['rejections']['count']}</b></div></div>
<p class=muted>attackers (declared in the scenario): <span id=attackers></span></p>''', state='data')}
{_chart('tx', 'Committed transactions per second')}
{_chart('latency', 'Commit latency percentiles (p50, p95, p99)')}
{_chart('bytes', 'Network bytes in / out per second')}
{_chart('view', view_title)}
{_chart('accuracy', 'FL test accuracy per round')}
{_chart('loss', 'FL test loss per round')}
{_chart('perday', 'Transactions over time')}
{_card('blocks', 'Latest blocks', _table('blocks', ['block', 'time', 'hash', 'proposer', 'txs', 'kinds', 'signers']), 'wide')}
{_card('recent', 'Latest transactions', _table('recent', ['block', 'id', 'sender', 'kind']))}
{_card('pending', 'Pending transactions', _table('pending', ['id', 'sender', 'kind']))}
{_card('topology', 'Network', '<svg id=topology role=img aria-label="network topology"></svg>' + legend, 'wide')}
{_card('rejections', 'Rejected uploads and downloads',
       '<ul id=rejection-reasons class=muted></ul>' + _table('rejections', ['t (s)', 'at', 'from', 'what', 'reason']), 'wide')}
{_card('nodes', 'Nodes', _table('nodes', ['node', 'role', 'attack', 'status', 'height', 'view']))}
</main><script src="static/observe.js"></script>"""
    return page(f"edgeledger · height {o['height']}", body, source.live)


def render_block(source: ObserveSource, height: int) -> str | None:
    b = source.block(height)
    if b is None:
        return None
    rows = []
    for i, tx in enumerate(b["transactions"]):
        proof = tx.get("proof") or {}
        path = "<br>".join(f"<code>{e(p)}</code>" for p in proof.get("path", [])) or "(single leaf)"
        payload = e(json.dumps(tx["payload"], indent=1)) if not isinstance(tx["payload"], str) else e(tx["payload"])
        receipt = tx.get("receipt")
        status = "" if receipt is None else ("valid" if receipt["ok"] else f"invalid: {e(str(receipt['reason']))}")
        rows.append(f"<tr><td>{i}</td><td><a href='../tx/{e(tx['id'])}'><code>{e(tx['id'][:16])}</code></a></td>"
                    f"<td>{e(tx['sender'])}</td><td>{tx['nonce']}</td><td>{e(tx['kind'])}{'<br>' + status if status else ''}"
                    f"</td><td><pre>{payload}</pre></td><td>leaf {proof.get('index')} of {proof.get('size')}<br>{path}</td></tr>")
    cert = b["commit_certificate"] or {"votes": []}
    votes = ", ".join(e(v["replica"]) for v in cert["votes"])
    n = len(b["transactions"])
    body = f"""<header><h1>block #{b['index']:,}</h1>{_nav(source.live, '../')}</header><main>
<section class='card full' data-panel=header data-state=data><dl class=facts>
<dt>hash</dt><dd><code id=block-hash>{e(b['hash'])}</code></dd>
<dt>previous hash</dt><dd><a href="{b['index'] - 1}"><code>{e(b['previous_hash'])}</code></a></dd>
<dt>Merkle root</dt><dd><code>{e(b['merkle_root'])}</code></dd><dt>proposer</dt><dd>{e(b['proposer'])}</dd>
<dt>time</dt><dd id=block-time>{e(format_time(b['timestamp_ms'], source.clock))}</dd>
<dt>commit certificate</dt><dd>{_plural(len(cert['votes']), 'signature')}: {votes}</dd></dl></section>
<section class='card full' data-panel=transactions data-state={'data' if n else 'empty'}><h2>{_plural(n, 'transaction')}</h2>
<div class=scroll><table><thead><tr><th>#</th><th>id</th><th>sender</th><th>nonce</th><th>kind</th><th>payload</th>
<th>Merkle inclusion proof</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section></main>"""
    return page(f"block {height}", body, False)


def render_transaction(source: ObserveSource, tx_id: str) -> str | None:
    d = source.transaction(tx_id)
    if d is None:
        return None
    tx = d["transaction"]
    proof = d.get("proof") or {}
    path = "<br>".join(f"<code>{e(p)}</code>" for p in proof.get("path", [])) or "(single leaf: the root is its hash)"
    payload = e(json.dumps(tx["payload"], indent=1)) if not isinstance(tx["payload"], str) else e(tx["payload"])
    receipt = d.get("receipt")
    status = ("committed" if receipt is None else "committed, valid" if receipt["ok"]
              else f"committed, invalid: {e(str(receipt['reason']))}")
    body = f"""<header><h1>transaction {e(tx['id'][:16])}…</h1>{_nav(source.live, '../')}</header><main>
<section class='card full' data-panel=transaction data-state=data><dl class=facts>
<dt>id</dt><dd><code id=tx-id>{e(tx['id'])}</code></dd><dt>status</dt><dd>{status}</dd>
<dt>block</dt><dd><a href="../block/{d['height']}">#{d['height']:,}</a>, position {d['position']}</dd>
<dt>time</dt><dd>{e(format_time(d['timestamp_ms'], source.clock))}</dd>
<dt>sender</dt><dd>{e(tx['sender'])}</dd><dt>nonce</dt><dd>{tx['nonce']}</dd><dt>kind</dt><dd>{e(tx['kind'])}</dd>
<dt>signature</dt><dd><code>{e(tx['signature'])}</code></dd></dl></section>
<section class='card wide' data-panel=payload data-state=data><h2>Payload</h2><pre>{payload}</pre></section>
<section class=card data-panel=proof data-state=data><h2>Merkle inclusion proof</h2><dl class=facts>
<dt>root</dt><dd><code>{e(d['merkle_root'])}</code></dd><dt>leaf</dt><dd>{proof.get('index')} of {proof.get('size')}</dd>
<dt>path</dt><dd>{path}</dd></dl></section></main>"""
    return page(f"transaction {tx['id'][:16]}", body, False)
