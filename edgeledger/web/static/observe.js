// edgeledger /observe: the page is server-rendered; this script draws the charts (plain SVG, no
// library), fills the tables and keeps everything live over server-sent events.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const NS = "http://www.w3.org/2000/svg";
  function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "-";
    const a = Math.abs(v);
    if (digits !== undefined) return v.toFixed(digits);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    if (a >= 10 || a === 0) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    if (a >= 0.01) return v.toFixed(3);
    return v.toExponential(1);
  }
  function niceTicks(lo, hi, n) {
    if (hi <= lo) hi = lo + 1;
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.floor(lo / step) * step; v < hi + step - step * 1e-9; v += step) out.push(+v.toFixed(12));
    return out;
  }
  function setPanel(svg, hasData) {
    const card = svg.closest("[data-panel]");
    if (card) card.dataset.state = hasData ? "data" : "empty";
  }

  // A line chart with axes, ticks, axis labels, a legend and a hover read-out of the nearest point.
  function lineChart(svg, opts) {
    const w = Math.max(svg.clientWidth || svg.parentNode.clientWidth || 400, 240), h = 190;
    const m = {l: 52, r: 12, t: 22, b: 34};
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const series = opts.series.filter((s) => s.points.length);
    setPanel(svg, series.length > 0);
    if (!series.length) { svg.innerHTML = `<text x="${m.l}" y="${h / 2}" class="muted">${esc(opts.empty || "no data yet")}</text>`; return; }
    const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = opts.yMin !== undefined ? opts.yMin : Math.min(0, ...ys);
    let y1 = opts.yMax !== undefined ? opts.yMax : Math.max(...ys);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) y1 = y0 + 1;
    const yt = niceTicks(y0, y1, 4); y0 = Math.min(y0, yt[0]); y1 = Math.max(y1, yt[yt.length - 1]);
    const X = (v) => m.l + (w - m.l - m.r) * (v - x0) / (x1 - x0), Y = (v) => h - m.b - (h - m.t - m.b) * (v - y0) / (y1 - y0);
    let out = "";
    for (const t of yt) out += `<line class="grid" x1="${m.l}" x2="${w - m.r}" y1="${Y(t)}" y2="${Y(t)}"/><text class="tick" x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${esc((opts.yfmt || fmt)(t))}</text>`;
    for (const t of niceTicks(x0, x1, Math.max(2, Math.floor((w - m.l) / 90)))) if (t >= x0 && t <= x1) out += `<line class="axis" x1="${X(t)}" x2="${X(t)}" y1="${h - m.b}" y2="${h - m.b + 4}"/><text class="tick" x="${X(t)}" y="${h - m.b + 16}" text-anchor="middle">${esc((opts.xfmt || fmt)(t))}</text>`;
    out += `<line class="axis" x1="${m.l}" x2="${w - m.r}" y1="${h - m.b}" y2="${h - m.b}"/><line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${h - m.b}"/>`;
    out += `<text class="label" x="${(m.l + w - m.r) / 2}" y="${h - 3}" text-anchor="middle">${esc(opts.xlabel)}</text>`;
    out += `<text class="label" transform="translate(12 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.ylabel)}</text>`;
    let lx = m.l + 4;
    for (const s of series) {
      const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
      out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`;
      if (s.points.length <= 60) for (const p of s.points) out += `<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2.6" fill="${s.color}"><title>${esc(s.name)}: ${esc((opts.yfmt || fmt)(p[1]))} at ${esc(opts.xlabel)} ${esc((opts.xfmt || fmt)(p[0]))}</title></circle>`;
      out += `<rect x="${lx}" y="6" width="10" height="3" fill="${s.color}"/><text class="tick" x="${lx + 13}" y="11">${esc(s.name)}</text>`;
      lx += 22 + 6.5 * s.name.length;
    }
    out += `<line class="cursor" x1="0" x2="0" y1="${m.t}" y2="${h - m.b}" visibility="hidden"/><rect class="hit" x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}" fill="transparent"/>`;
    svg.innerHTML = out;
    const hit = svg.querySelector(".hit"), cursor = svg.querySelector(".cursor"), tip = $("tip");
    hit.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect(), px = (ev.clientX - box.left) * (w / box.width);
      const xv = x0 + (px - m.l) / (w - m.l - m.r) * (x1 - x0);
      const lines = series.map((s) => { let best = s.points[0]; for (const p of s.points) if (Math.abs(p[0] - xv) < Math.abs(best[0] - xv)) best = p; return [s, best]; });
      const at = lines[0][1][0];
      cursor.setAttribute("x1", X(at)); cursor.setAttribute("x2", X(at)); cursor.setAttribute("visibility", "visible");
      tip.innerHTML = `<b>${esc(opts.xlabel)} ${esc((opts.xfmt || fmt)(at))}</b>` + lines.map(([s, p]) => `<div><span style="color:${s.color}">■</span> ${esc(s.name)}: ${esc((opts.yfmt || fmt)(p[1]))}</div>`).join("");
      tip.style.display = "block";
      tip.style.left = Math.min(ev.pageX + 12, document.documentElement.clientWidth - tip.offsetWidth - 8) + "px";
      tip.style.top = ev.pageY + 12 + "px";
    });
    hit.addEventListener("mouseleave", () => { tip.style.display = "none"; cursor.setAttribute("visibility", "hidden"); });
  }

  function barChart(svg, points, opts) {
    const w = Math.max(svg.clientWidth || 400, 240), h = 190, m = {l: 52, r: 12, t: 14, b: 34};
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    setPanel(svg, points.length > 0);
    if (!points.length) { svg.innerHTML = `<text x="${m.l}" y="${h / 2}" class="muted">no transactions yet</text>`; return; }
    const y1 = Math.max(...points.map((p) => p[1]), 1), yt = niceTicks(0, y1, 4), top = yt[yt.length - 1];
    const bw = (w - m.l - m.r) / points.length, Y = (v) => h - m.b - (h - m.t - m.b) * v / top;
    let out = "";
    for (const t of yt) out += `<line class="grid" x1="${m.l}" x2="${w - m.r}" y1="${Y(t)}" y2="${Y(t)}"/><text class="tick" x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`;
    const every = Math.max(1, Math.ceil(points.length / Math.floor((w - m.l) / 70)));
    points.forEach((p, i) => {
      out += `<rect class="bar" x="${(m.l + i * bw + 1).toFixed(1)}" y="${Y(p[1]).toFixed(1)}" width="${Math.max(bw - 2, 1).toFixed(1)}" height="${(h - m.b - Y(p[1])).toFixed(1)}"><title>${esc(p[0])}: ${p[1]} transactions</title></rect>`;
      if (i % every === 0) out += `<text class="tick" x="${(m.l + (i + 0.5) * bw).toFixed(1)}" y="${h - m.b + 16}" text-anchor="middle">${esc(p[0])}</text>`;
    });
    out += `<line class="axis" x1="${m.l}" x2="${w - m.r}" y1="${h - m.b}" y2="${h - m.b}"/><text class="label" x="${(m.l + w) / 2}" y="${h - 3}" text-anchor="middle">${esc(opts.xlabel)}</text>`;
    out += `<text class="label" transform="translate(12 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">transactions</text>`;
    svg.innerHTML = out;
  }

  function stamp(ms, clock) {
    if (clock === "simulated") return `${(ms / 1000).toFixed(3)} s`;
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function drawTopology(o) {
    const svg = $("topology"), w = Math.max(svg.clientWidth || 600, 300), nodes = o.nodes;
    const tiers = {cloud: [], edge: [], device: []};
    for (const n of nodes) (tiers[n.role] || (tiers[n.role] = [])).push(n);
    const rows = Object.keys(tiers).filter((r) => tiers[r].length), h = 60 + 70 * rows.length;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`); svg.style.height = h + "px";
    const pos = {}, rejected = (o.rejections && o.rejections.senders) || {};
    rows.forEach((role, ri) => tiers[role].forEach((n, i) => { pos[n.id] = [(w * (i + 1)) / (tiers[role].length + 1), 30 + 70 * ri]; }));
    let out = "";
    for (const l of o.links) if (pos[l.a] && pos[l.b]) out += `<line x1="${pos[l.a][0]}" y1="${pos[l.a][1]}" x2="${pos[l.b][0]}" y2="${pos[l.b][1]}" class="link${l.tampering ? " tamper" : ""}"><title>${esc(l.a)} - ${esc(l.b)}${l.tampering ? ": through a tampering edge" : ""}</title></line>`;
    for (const n of nodes) {
      const [cx, cy] = pos[n.id], r = n.role === "device" ? 6 : 10, many = tiers[n.role].length > 16;
      const cls = `node ${n.role}${n.validator ? " validator" : ""}${n.attack ? " attacker" : ""} ${esc(n.status)}`;
      out += `<circle cx="${cx}" cy="${cy}" r="${r}" class="${cls}" data-node="${esc(n.id)}"><title>${esc(n.id)} (${esc(n.role)}${n.validator ? ", validator" : ""}${n.attack ? ", attacker: " + esc(n.attack) : ""}): ${esc(n.status)}${rejected[n.id] ? ", " + rejected[n.id] + " rejected" : ""}</title></circle>`;
      if (rejected[n.id]) out += `<text class="rejmark" x="${cx + r - 2}" y="${cy - r + 2}">✕</text>`;
      const label = many ? n.id.replace(/^device-/, "") : n.id;
      out += `<text class="nlabel" x="${cx}" y="${cy + r + 11}" text-anchor="middle">${esc(label)}</text>`;
    }
    svg.innerHTML = out;
    setPanel(svg, nodes.length > 0);
    $("topology-note").textContent = o.hidden_devices ? `${o.hidden_devices} more devices not drawn` : "";
  }

  function table(id, rows, empty) {
    const el = $(id);
    el.innerHTML = rows.length ? rows.join("") : `<tr><td colspan="9" class="muted">${esc(empty)}</td></tr>`;
    const card = el.closest("[data-panel]");
    if (card) card.dataset.state = rows.length ? "data" : "empty";
  }

  function renderOverview(o) {
    if (!o.ready) return;
    $("height").textContent = o.height; $("txcount").textContent = o.transactions;
    $("view").textContent = o.view === null ? "-" : o.view; $("leader").textContent = o.leader;
    $("pending-count").textContent = o.pending.count;
    table("nodes", o.nodes.map((n) => `<tr><td>${esc(n.id)}</td><td>${esc(n.role)}${n.validator ? " ✓" : ""}</td><td>${n.attack ? `<span class="warn">${esc(n.attack)}</span>` : ""}</td><td class="st ${esc(n.status)}">${esc(n.status)}</td><td>${n.height === null || n.height === undefined ? "-" : n.height}</td><td>${n.view === null || n.view === undefined ? "-" : n.view}</td></tr>`), "no nodes");
    table("recent", o.recent_transactions.map((t) => `<tr><td><a href="block/${t[0]}">#${t[0]}</a></td><td><a href="tx/${esc(t[1])}"><code>${esc(t[1].slice(0, 12))}</code></a></td><td>${esc(t[2])}</td><td>${esc(t[3])}</td></tr>`), "no transactions yet");
    const p = o.pending;
    table("pending", p.transactions.map((t) => `<tr><td><code>${esc(t.id.slice(0, 12))}</code></td><td>${esc(t.sender)}</td><td>${esc(t.kind)}</td></tr>`),
      p.finished ? "none: the run is over and every admitted transaction was committed" : p.held ? "none: every admitted transaction is in a block" : "this node holds no mempool (validators do)");
    if (p.finished || p.held) $("pending").closest("[data-panel]").dataset.state = "data";
    const rj = o.rejections;
    $("rejection-count").textContent = rj.count;
    table("rejections", rj.recent.map((r) => `<tr><td>${fmt(r.t, 3)}</td><td>${esc(r.node)}</td><td>${esc(r.sender)}</td><td>${esc(r.what)}</td><td class="wrap">${esc(r.reason)}</td></tr>`), "nothing rejected");
    $("rejection-reasons").innerHTML = Object.entries(rj.by_reason).map(([k, v]) => `<li>${esc(k)}: <b>${v}</b></li>`).join("");
    if (!rj.count) $("rejections").closest("[data-panel]").dataset.state = "data";
    const attackers = Object.entries(o.malicious || {});
    $("attackers").textContent = attackers.length ? attackers.map(([n, k]) => `${n} (${k})`).join(", ") : "none declared";
    const perDay = o.tx_per_day, unit = perDay.unit;
    barChart($("chart-perday"), perDay.points.map((q) => [unit === "day" ? new Date(q.t * 1000).toISOString().slice(5, 10) : o.clock === "simulated" ? `${q.t / 60}` : new Date(q.t * 1000).toISOString().slice(11, unit === "hour" ? 13 : 16), q.tx]),
      {xlabel: unit === "day" ? "day (UTC)" : o.clock === "simulated" ? `simulated ${unit}` : `${unit} (UTC)`});
    drawTopology(o);
  }

  function renderSeries(s) {
    const clock = s.clock === "simulated" ? "simulated time (s)" : "seconds ago";
    const now = s.tx_per_s.length ? s.tx_per_s[s.tx_per_s.length - 1].t + 1 : 0;
    const X = (t) => (s.clock === "simulated" ? t : t - now);
    lineChart($("chart-tx"), {xlabel: clock, ylabel: "tx/s", series: [{name: "committed tx/s", color: "#1f77b4", points: s.tx_per_s.map((p) => [X(p.t), p.tx])}], empty: "no complete second yet"});
    const lat = (k, c) => ({name: k, color: c, points: s.latency.map((p) => [X(p.t), p[k]])});
    lineChart($("chart-latency"), {xlabel: clock, ylabel: "seconds", yfmt: (v) => fmt(v, v < 1 ? 3 : 2), series: [lat("p50", "#2ca02c"), lat("p95", "#ff7f0e"), lat("p99", "#d62728")], empty: "this node commits no blocks of its own (not a validator)"});
    lineChart($("chart-bytes"), {xlabel: clock, ylabel: "bytes/s", series: [{name: "in", color: "#17becf", points: s.traffic.map((p) => [X(p.t), p.in])}, {name: "out", color: "#9467bd", points: s.traffic.map((p) => [X(p.t), p.out])}]});
    lineChart($("chart-view"), {xlabel: clock, ylabel: "count", series: [{name: "view", color: "#8c564b", points: s.views.map((p) => [X(p.t), p.view])}, {name: "view changes", color: "#e377c2", points: s.views.map((p) => [X(p.t), p.changes])}]});
    const rounds = s.rounds.filter((r) => r.accuracy !== null && r.accuracy !== undefined);
    lineChart($("chart-accuracy"), {xlabel: "round", ylabel: "test accuracy", yMin: 0, yMax: 1, xfmt: (v) => fmt(v, 0), yfmt: (v) => fmt(v, 2), series: [{name: "accuracy", color: "#1f77b4", points: rounds.map((r) => [r.round, r.accuracy])}], empty: "no FL round finished yet"});
    const losses = s.rounds.filter((r) => r.loss !== null && r.loss !== undefined);
    lineChart($("chart-loss"), {xlabel: "round", ylabel: "test loss", xfmt: (v) => fmt(v, 0), yfmt: (v) => fmt(v, 2), series: [{name: "loss", color: "#d62728", points: losses.map((r) => [r.round, r.loss])}], empty: "the aggregator reports the loss"});
  }

  function renderBlocks(blocks, clock) {
    table("blocks", blocks.map((b) => `<tr class="block-row" data-height="${b.height}"><td><a href="block/${b.height}">#${b.height}</a></td><td>${esc(stamp(b.timestamp_ms, clock))}</td><td><code>${esc(b.hash.slice(0, 12))}</code></td><td>${esc(b.proposer)}</td><td>${b.txs}</td><td class="kinds">${esc(Object.entries(b.kinds).map(([k, v]) => (v > 1 ? k + " ×" + v : k)).join(", "))}</td><td>${b.signers}</td></tr>`), "no blocks yet");
  }

  let last = {};
  async function refresh() {
    const [o, b, s] = await Promise.all(["api/overview", "api/blocks?limit=15", "api/series"].map((u) => fetch(u).then((r) => r.json())));
    last = {o, b, s};
    renderOverview(o); renderBlocks(b, o.clock); renderSeries(s);
    document.body.dataset.rendered = "true";
  }

  let pending = false;
  function schedule() { if (!pending) { pending = true; setTimeout(() => { pending = false; refresh(); }, 250); } }
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { if (last.o) { renderOverview(last.o); renderSeries(last.s); } }, 150); });
  if (document.body.dataset.live === "true" && window.EventSource) {
    const es = new EventSource("events");
    es.addEventListener("block", schedule); es.addEventListener("accuracy", schedule);
    es.onopen = () => { $("live").textContent = "live"; $("live").className = "badge on"; };
    es.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "badge off"; };
    setInterval(schedule, 5000);  // the time series move even without a new block
  }
  refresh();
})();
