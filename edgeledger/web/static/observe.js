// edgeledger /observe: small client script; the page is server-rendered, this keeps it live.
(function () {
  const $ = (id) => document.getElementById(id);
  function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }

  function drawAccuracy(points) {
    const svg = $("accuracy"); const w = 420, h = 160, pad = 28;
    if (!points.length) { svg.innerHTML = '<text x="20" y="80" class="muted">no FL round finished yet</text>'; return; }
    const maxR = Math.max(...points.map((p) => p[0]), 1);
    const x = (r) => pad + (w - 2 * pad) * (maxR === 1 ? 0.5 : (r - 1) / (maxR - 1));
    const y = (a) => h - pad - (h - 2 * pad) * a;
    const line = points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    let out = `<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" class="axis"/>` +
              `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" class="axis"/>` +
              `<text x="2" y="${pad + 4}" class="muted">1.0</text><text x="2" y="${h - pad}" class="muted">0</text>` +
              `<polyline points="${line}" class="acc"/>`;
    for (const p of points) out += `<circle cx="${x(p[0])}" cy="${y(p[1])}" r="3" class="dot"><title>round ${p[0]}: ${p[1].toFixed(4)}</title></circle>`;
    out += `<text x="${w - pad - 60}" y="${h - 8}" class="muted">round ${maxR}</text>`;
    svg.innerHTML = out;
  }

  function drawTopology(nodes, links) {
    const svg = $("topology"); const w = 420, h = 170;
    const tiers = {cloud: [], edge: [], device: []};
    for (const n of nodes) (tiers[n.role] || (tiers[n.role] = [])).push(n);
    const pos = {}; const ys = {cloud: 24, edge: 85, device: 146};
    for (const [role, list] of Object.entries(tiers)) list.forEach((n, i) => { pos[n.id] = [(w * (i + 1)) / (list.length + 1), ys[role] || 120]; });
    let out = "";
    for (const [a, b] of links) if (pos[a] && pos[b]) out += `<line x1="${pos[a][0]}" y1="${pos[a][1]}" x2="${pos[b][0]}" y2="${pos[b][1]}" class="link"/>`;
    for (const n of nodes) {
      const [cx, cy] = pos[n.id];
      out += `<circle cx="${cx}" cy="${cy}" r="${n.role === "device" ? 6 : 10}" class="node ${n.role} ${n.validator ? "validator" : ""} ${esc(n.status)}"><title>${esc(n.id)} (${esc(n.role)}${n.validator ? ", validator" : ""}): ${esc(n.status)}</title></circle>`;
    }
    svg.innerHTML = out;
  }

  function renderOverview(o) {
    if (!o.ready) return;
    $("height").textContent = o.height; $("txcount").textContent = o.transactions;
    $("view").textContent = o.view === null ? "-" : o.view; $("leader").textContent = o.leader;
    $("nodes").innerHTML = o.nodes.map((n) => `<tr><td>${esc(n.id)}</td><td>${esc(n.role)}${n.validator ? " ✓" : ""}</td><td class="st ${esc(n.status)}">${esc(n.status)}</td></tr>`).join("");
    $("recent").innerHTML = o.recent_transactions.map((t) => `<tr><td><a href="block/${t[0]}">#${t[0]}</a></td><td><code>${esc(t[1].slice(0, 12))}</code></td><td>${esc(t[2])}</td><td>${esc(t[3])}</td></tr>`).join("");
    drawAccuracy(o.accuracy); drawTopology(o.nodes, o.links);
  }

  function renderBlocks(blocks) {
    $("blocks").innerHTML = blocks.map((b) => `<tr class="block-row" data-height="${b.height}"><td><a href="block/${b.height}">#${b.height}</a></td><td><code>${esc(b.hash.slice(0, 16))}</code></td><td>${esc(b.proposer)}</td><td>${b.txs}</td><td>${esc(Object.entries(b.kinds).map(([k, v]) => k + "×" + v).join(", "))}</td><td>${b.signers}</td></tr>`).join("");
  }

  async function refresh() {
    const [o, b] = await Promise.all([fetch("api/overview").then((r) => r.json()), fetch("api/blocks?limit=15").then((r) => r.json())]);
    renderOverview(o); renderBlocks(b);
  }

  let pending = false;
  function schedule() { if (!pending) { pending = true; setTimeout(() => { pending = false; refresh(); }, 150); } }
  if (document.body.dataset.live === "true" && window.EventSource) {
    const es = new EventSource("events");
    es.addEventListener("block", schedule); es.addEventListener("accuracy", schedule);
    es.onopen = () => { $("live").textContent = "live"; $("live").className = "badge on"; };
    es.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "badge off"; };
  }
  refresh();
})();
