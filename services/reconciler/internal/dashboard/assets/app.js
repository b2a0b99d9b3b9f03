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
  // The operator's bearer token: from the address (#token=..., removed
  // from it at once) or the token field; kept for this tab only.
  const TOKEN_KEY = "isthmus-ops-token";
  (function takeToken() {
    const h = new URLSearchParams(location.hash.slice(1));
    const t = h.get("token");
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      h.delete("token");
      const rest = h.toString().replace(/=$/, "");
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
  })();
  function headers(extra) {
    const h = Object.assign({ Accept: "application/json" }, extra || {});
    const t = sessionStorage.getItem(TOKEN_KEY);
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }
  async function call(method, path, body) {
    const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    const r = await fetch(path, init);
    const out = await r.json();
    if (!r.ok) throw new Error(r.status + " " + (out.error || r.statusText));
    return out;
  }
  async function get(path) { return call("GET", path); }

  // What the signed-in operator may do (GET /api/ops/me); null: nobody
  // signed in or the operations API is off.
  let me = null;
  async function whoami() {
    me = null;
    if (!sessionStorage.getItem(TOKEN_KEY)) { $("who").textContent = "not signed in"; return; }
    try {
      me = await get("/api/ops/me");
      $("who").textContent = "signed in as " + me.subject + " (" + (me.roles.join(", ") || "no roles") + ")";
    } catch (err) {
      $("who").textContent = "sign-in failed: " + err.message;
    }
    $("approvals").hidden = !me;
    $("replay").hidden = !(me && me.replay);
  }
  function say(text, bad) {
    $("opsmsg").textContent = text;
    $("opsmsg").className = bad ? "error" : "ok";
    $("opsmsg").hidden = false;
  }
  function button(text, id, onclick) {
    const b = el("button", text, "act");
    b.type = "button";
    b.id = id;
    b.addEventListener("click", onclick);
    return b;
  }
  let shownException = "";
  async function decide(id, action) {
    try {
      const r = await call("POST", "/api/ops/exceptions/" + encodeURIComponent(id) + "/decisions", { action });
      say(r.status === "pending_approval"
        ? action + " on " + id + " waits for a second approver (" + r.reason + "), approval " + r.approval_id
        : action + " on " + id + " published as decision " + r.decision.decision_id);
    } catch (err) { say(action + " on " + id + " refused: " + err.message, true); }
    shownException = id;
    await Promise.all([exceptionTimeline(), approvals()]);
  }
  async function exceptionTimeline() {
    if (!shownException || !me) return;
    const t = await get("/api/ops/exceptions/" + encodeURIComponent(shownException) + "/timeline");
    $("exctitle").textContent = "Exception " + t.exception.exception_id + " — " + t.exception.status;
    $("exctimeline").replaceChildren(...t.events.map((e) => {
      const li = el("li");
      li.className = e.topic === "ops.decisions.v1" ? "decision" : "update";
      li.append(el("span", e.topic, "topic"), " ", e.status ? pill(e.status) : "", " ", el("span", time(e.at), "muted"));
      if (e.ids && e.ids.decision_id) li.append(" ", el("code", "decision " + e.ids.decision_id));
      return li;
    }), ...t.pending_approvals.map((p) => el("li", "pending approval " + p.approval_id + ": " + p.decision.action + " by " + p.requested_by, "pending")));
    $("excdetail").hidden = false;
  }
  async function approvals() {
    if (!me) return;
    const a = await get("/api/ops/approvals");
    fill($("approvallist").tBodies[0], a.approvals.map((p) => {
      const acts = el("span");
      if (me.approve) {
        acts.append(button("approve", "approve-" + p.approval_id, () => settle(p, "approve")), " ",
          button("reject", "reject-" + p.approval_id, () => settle(p, "reject")));
      }
      return row([time(p.requested_at), p.decision.exception_id, p.decision.action, p.requested_by, p.reason, acts]);
    }));
  }
  async function settle(p, verb) {
    try {
      const r = await call("POST", "/api/ops/approvals/" + encodeURIComponent(p.approval_id) + "/" + verb, {});
      say(verb === "approve" ? p.decision.action + " on " + p.decision.exception_id + " approved and published as decision " + r.decision.decision_id
        : "approval " + p.approval_id + " rejected");
    } catch (err) { say(verb + " " + p.approval_id + " refused: " + err.message, true); }
    shownException = p.decision.exception_id;
    await Promise.all([exceptionTimeline(), approvals()]);
  }
  async function replay(ev) {
    ev.preventDefault();
    const body = { dry_run: $("rdry").checked };
    if ($("roffset").value === "") body.all = true; else { body.offset = Number($("roffset").value); body.partition = Number($("rpartition").value || 0); }
    try {
      const r = await call("POST", "/api/ops/dlq/" + encodeURIComponent($("rservice").value.trim()) + "/replay", body);
      say(r.outcomes.map((o) => o.action + " " + o.source + (o.target ? " -> " + o.target + (o.action === "replayed" ? "/" + o.target_partition + " offset " + o.target_offset : "") : "") + (o.reason ? ": " + o.reason : "")).join("; ") || "nothing to replay");
    } catch (err) { say("replay refused: " + err.message, true); }
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

  // Parity per routed flow (GET /api/parity): mode, verdict counts and
  // the newest differences.
  async function parity() {
    const p = await get("/api/parity");
    fill($("paritylist").tBodies[0], p.flows.map((f) => {
      const mode = el("span");
      mode.append(pill(f.mode.in_force));
      if (f.mode.mode !== f.mode.in_force) mode.append(" → ", pill(f.mode.mode));
      return row([f.flow, mode, f.mode.effective_at ? time(f.mode.effective_at) + (f.mode.changed_by ? " by " + f.mode.changed_by : "") : "—",
        el("span", f.compared, "num"), el("span", f.match, "num"), el("span", f.different, "num"),
        el("span", f.missing_legacy, "num"), el("span", f.missing_new, "num")]);
    }));
    const diffs = [];
    for (const f of p.flows) {
      for (const d of f.last_differences) diffs.push(row([f.flow, idLink(d.entity_id), d.field, d.legacy === null ? "—" : d.legacy, d.new === null ? "—" : d.new, time(d.decided_at)]));
    }
    fill($("paritydiffs").tBodies[0], diffs);
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
    fill($("exclist").tBodies[0], b.exceptions.map((x) => {
      const acts = el("span");
      if (me && (x.status === "OPEN" || x.status === "RETRYING")) {
        for (const a of (x.allowed_actions || []).filter((a) => me.actions.includes(a))) {
          acts.append(button(a.toLowerCase().replace(/_/g, " "), "act-" + x.exception_id + "-" + a, () => decide(x.exception_id, a)), " ");
        }
      }
      if (me) acts.append(button("timeline", "tl-" + x.exception_id, () => { shownException = x.exception_id; exceptionTimeline(); }));
      const tr = row([time(x.raised_at), x.queue, x.category, pill(x.severity), pill(x.status), x.summary, ids(x.entity_ids), idLink(x.correlation_id), acts]);
      tr.id = "ex-" + x.exception_id;
      return tr;
    }));
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
      if (me === null && sessionStorage.getItem(TOKEN_KEY)) await whoami();
      await Promise.all([overview(), parity(), breaks(), exceptions(), approvals(), exceptionTimeline()]);
      if (current) await search(current);
      $("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      $("refreshed").textContent = "refresh failed: " + err.message;
    }
  }

  $("searchform").addEventListener("submit", (ev) => { ev.preventDefault(); search($("q").value); });
  for (const id of ["fkind", "fstatus"]) $(id).addEventListener("change", () => breaks());
  for (const id of ["fqueue", "fexstatus"]) $(id).addEventListener("change", () => exceptions());
  $("tokenform").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    await whoami();
    refresh();
  });
  $("replayform").addEventListener("submit", replay);
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { $("q").value = initial; current = initial; }
  const ex = new URLSearchParams(location.search).get("exception");
  if (ex) shownException = ex;
  whoami().then(refresh);
  setInterval(refresh, REFRESH_MS);
})();
