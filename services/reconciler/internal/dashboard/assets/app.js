// Isthmus operations dashboard: polls the JSON API every few seconds.
// Every value is inserted with textContent, never as HTML.
"use strict";
(function () {
  const REFRESH_MS = 3000;
  const $ = (id) => document.getElementById(id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? "" : String(c);
      tr.appendChild(td);
    }
    return tr;
  }
  function fill(tbody, rows) { tbody.replaceChildren(...rows); }
  function age(seconds) {
    if (!seconds) return "—";
    const s = Math.round(seconds);
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }
  function time(t) { return t ? new Date(t).toLocaleString() : ""; }
  function pill(text) { return el("span", text, "pill " + text); }
  function idLink(id) {
    const a = el("a", id, "id");
    a.href = "#search";
    a.addEventListener("click", () => { $("q").value = id; search(id); });
    return a;
  }
  function ids(map) {
    const span = document.createElement("span");
    const keys = Object.keys(map || {}).filter((k) => k !== "match_key").sort();
    keys.forEach((k, i) => {
      if (i) span.appendChild(document.createTextNode(", "));
      span.appendChild(document.createTextNode(k + "="));
      span.appendChild(idLink(map[k]));
    });
    return span;
  }
  async function get(path) {
    const r = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  async function overview() {
    const o = await get("/api/overview");
    const health = [];
    for (const [name, h] of Object.entries(o.health || {})) {
      const li = el("li");
      li.append(pill(h.status), " ", el("b", name), " ", el("span", h.detail, "muted"));
      health.push(li);
    }
    $("health").replaceChildren(...health);
    fill($("throughput").tBodies[0], o.throughput.map((f) => {
      const spark = el("span", null, "spark");
      const peak = Math.max(1, ...f.per_minute);
      for (const n of f.per_minute) { const i = el("i"); i.style.height = Math.max(1, Math.round(20 * n / peak)) + "px"; i.title = n; spark.appendChild(i); }
      const last = f.per_minute[f.per_minute.length - 1];
      return row([f.flow, spark, el("span", last + "/min", "num"), el("span", f.total + " total", "muted")]);
    }));
    const kinds = Object.entries(o.open_breaks_by_kind).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    fill($("breakkinds").tBodies[0], kinds.map(([k, n]) => row([k, el("span", n, "num")])));
    fill($("queues").tBodies[0], o.exception_queues.map((q) => row([q.queue, el("span", q.open, "num"), age(q.oldest_age_seconds)])));
    const sel = $("fkind");
    if (sel.options.length === 1) {
      for (const k of Object.keys(o.open_breaks_by_kind).sort()) sel.appendChild(el("option", k));
    }
  }

  async function breaks() {
    const p = new URLSearchParams();
    if ($("fkind").value) p.set("kind", $("fkind").value);
    if ($("fstatus").value) p.set("status", $("fstatus").value);
    p.set("limit", "200");
    const b = await get("/api/breaks?" + p);
    $("breakcount").textContent = "(" + b.breaks.length + ")";
    fill($("breaklist").tBodies[0], b.breaks.map((x) => row([time(x.detected_at), x.kind, pill(x.severity), pill(x.status),
      ids(x.entity_ids), x.expected, x.actual, time(x.deadline), idLink(x.correlation_id)])));
  }

  async function exceptions() {
    const p = new URLSearchParams();
    if ($("fqueue").value) p.set("queue", $("fqueue").value);
    if ($("fexstatus").value) p.set("status", $("fexstatus").value);
    p.set("limit", "200");
    const b = await get("/api/exceptions?" + p);
    $("exccount").textContent = "(" + b.exceptions.length + ")";
    fill($("exclist").tBodies[0], b.exceptions.map((x) => row([time(x.raised_at), x.queue, x.category, pill(x.severity), pill(x.status),
      x.summary, ids(x.entity_ids), idLink(x.correlation_id)])));
  }

  let current = "";
  async function search(q) {
    current = q.trim();
    $("searcherr").hidden = true;
    if (!current) { $("timeline").replaceChildren(); $("searchinfo").textContent = ""; return; }
    try {
      const t = await get("/api/timeline?q=" + encodeURIComponent(current));
      $("searchinfo").textContent = t.events.length ? t.events.length + " events for " + t.query : "No events for " + t.query;
      $("timeline").replaceChildren(...t.events.map((e) => {
        const li = el("li");
        li.append(el("span", e.topic, "topic"), " ", e.status ? pill(e.status) : "", " ", el("span", time(e.at), "muted"));
        li.append(el("div")); li.lastChild.append(ids(e.ids));
        li.append(el("code", "key=" + e.key + " correlation=" + e.correlation_id + " @" + e.partition + ":" + e.offset));
        return li;
      }));
    } catch (err) {
      $("searcherr").textContent = err.message;
      $("searcherr").hidden = false;
      $("timeline").replaceChildren();
      $("searchinfo").textContent = "";
    }
  }

  async function refresh() {
    try {
      await Promise.all([overview(), breaks(), exceptions()]);
      if (current) await search(current);
      $("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      $("refreshed").textContent = "refresh failed: " + err.message;
    }
  }

  $("searchform").addEventListener("submit", (ev) => { ev.preventDefault(); search($("q").value); });
  for (const id of ["fkind", "fstatus"]) $(id).addEventListener("change", () => breaks());
  for (const id of ["fqueue", "fexstatus"]) $(id).addEventListener("change", () => exceptions());
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { $("q").value = initial; current = initial; }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
