// AgentArts operator console: plain JavaScript, no build step, nothing loaded from elsewhere.
// Every value from the server is put into the page as text (never as HTML).
"use strict";

const S = { me: null, view: "approvals", detail: null, pending: [], refreshTimer: null, drafts: {}, shown: "", decided: {} };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids.flat(Infinity)) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && S.me && S.me.csrf) headers["X-CSRF-Token"] = S.me.csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.status === 401 && path !== "/auth/login") { showLogin(); throw new Error("signed out"); }
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "toast bad" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString([], { hour12: false });
}

function fmtValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 3);
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function chip(status) { return h("span", { class: `chip st-${status}` }, status.replaceAll("_", " ")); }

// ---- panels ------------------------------------------------------------------------------
const RENDER = {
  kv: (d) => h("dl", { class: "kv" }, (d.items || []).map(([k, v]) => [h("dt", {}, k), h("dd", {}, fmtValue(v))])),
  text: (d) => h("p", { class: "text" }, d.text || ""),
  code: (d) => h("pre", { class: "code" }, d.text || ""),
  json: (d) => h("pre", { class: "json" }, JSON.stringify(d, null, 2)),
  table: (d) => h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, (d.columns || []).map((c) => h("th", {}, c)))),
    h("tbody", {}, (d.rows || []).map((row) => h("tr", {}, row.map((c) => h("td", {}, fmtValue(c))))))),
  series: renderSeries,
  image: (d) => {
    const w = d.width || 320, ht = d.height || 240;
    const svg = s("svg", { viewBox: `0 0 ${w} ${ht}`, class: "image" }, s("image", { href: d.src, width: w, height: ht }));
    for (const b of d.boxes || []) {
      svg.append(s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, class: "box" }));
      if (b.label) svg.append(s("text", { ...labelPlace(b, w), y: b.y > 14 ? b.y - 4 : b.y + b.h + 12, class: "boxlabel" }, b.label));
    }
    return svg;
  },
};

// Where a box's label goes so it stays in the picture: it starts at the box's left edge, or ends
// at its right edge when that fits better; a label wider than the room left is pushed inside.
// The width is estimated (bold 12 px: about 7.5 units a character): the text is not in the page
// yet when the panel is drawn.
function labelPlace(b, w) {
  const wide = b.label.length * 7.5;
  let right = b.x + b.w / 2 > w / 2;
  if (!right && b.x + wide > w) right = true;
  if (right && b.x + b.w - wide < 0) right = false;
  if (right) return { x: Math.min(w - 2, Math.max(b.x + b.w, wide + 2)), "text-anchor": "end" };
  return { x: Math.max(2, Math.min(b.x, w - wide - 2)), "text-anchor": "start" };
}

// Round axis ticks covering lo..hi: 1, 2 or 5 x 10^k apart, about `count` of them (min/mid/max
// of the data gave 1488.1 / 1501.9 / 1515.7). Returns the ticks, the decimals their labels
// need, and the axis ends (the outer ticks).
function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.01 || 1; lo -= d; hi += d; }  // flat data
  const raw = (hi - lo) / (count - 1);
  let mag = 10 ** Math.floor(Math.log10(raw));
  let mult = [1, 2, 5, 10].find((m) => m * mag >= raw * (1 - 1e-9));
  if (mult === 10) { mult = 1; mag *= 10; }
  const decimals = Math.max(0, -Math.round(Math.log10(mag)));
  const step = mult * mag;
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  const ticks = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { ticks, decimals, lo: ticks[0], hi: ticks[ticks.length - 1] };
}

function renderSeries(d) {
  const W = 640, H = 200, L = 56, R = 12, T = 10, B = 28;
  const pts = (d.series || []).flatMap((x) => x.points);
  if (!pts.length) return h("p", { class: "muted" }, "no data");
  let ys = pts.map((p) => p[1]);
  if (d.band) ys = ys.concat(d.band);
  const xs = pts.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const y0 = yt.lo, y1 = yt.hi;  // the axis runs from one round tick to another
  const X = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  if (d.band) svg.append(s("rect", { x: L, y: Y(d.band[1]), width: W - L - R, height: Y(d.band[0]) - Y(d.band[1]), class: "band" }));
  for (const y of yt.ticks) {
    svg.append(s("line", { x1: L, x2: W - R, y1: Y(y), y2: Y(y), class: "gridline" }));
    svg.append(s("text", { x: L - 4, y: Y(y) + 4, class: "tick ytick", "text-anchor": "end" }, y.toFixed(yt.decimals)));
  }
  const xt = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  svg.append(s("text", { x: L, y: H - 8, class: "tick" }, d.x_unit ? `${xt(x0)} ${d.x_unit}` : xt(x0)));
  svg.append(s("text", { x: W - R, y: H - 8, class: "tick", "text-anchor": "end" }, `${xt(x1)} ${d.x_label || ""}`));
  if (x0 < 0 && x1 > 0) {  // a time axis around "now"
    svg.append(s("line", { x1: X(0), x2: X(0), y1: T, y2: H - B, class: "now" }));
    svg.append(s("text", { x: X(0), y: H - 8, class: "tick", "text-anchor": "middle" }, "now"));
  }
  (d.series || []).forEach((ser, i) => {
    const path = ser.points.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    svg.append(s("path", { d: path, class: `line s${i}` }));
  });
  const legend = h("div", { class: "legend" }, (d.series || []).map((ser, i) => h("span", { class: `key s${i}` }, ser.name)),
    d.band ? h("span", { class: "key band" }, `aim band ${d.band[0]}–${d.band[1]} ${d.unit || ""}`) : null);
  return h("div", {}, svg, legend);
}

function renderPanels(panels) {
  return h("div", { class: "panels" }, panels.map((p) => h("div", { class: `panel p-${p.name}` },
    h("h4", {}, p.title),
    (RENDER[p.renderer] || RENDER.json)(p.data),
    p.note ? h("p", { class: "note" }, p.note) : null)));
}

function setCount(n) {
  const badge = $("pending-count");
  badge.textContent = String(n);
  badge.classList.toggle("zero", n === 0);
}

// ---- views -------------------------------------------------------------------------------
async function viewApprovals() {
  const { pending } = await api("GET", "/approvals");
  S.pending = pending;
  setCount(pending.length);
  const cards = await Promise.all(pending.map(approvalCard));
  return h("div", {},
    h("h2", {}, "Pending approvals"),
    pending.length ? cards : h("p", { class: "empty" }, "Nothing waits for a decision."));
}

async function approvalCard(item) {
  const p = item.pending || {};
  let panels = [];
  try { panels = (await api("GET", `/runs/${encodeURIComponent(item.thread_id)}/panels`)).panels; } catch (e) { /* shown below */ }
  const reason = h("textarea", { class: "reason", rows: 2, "data-thread": item.thread_id, placeholder: "Reason (recorded with your name; required to reject)",
    oninput: (e) => { S.drafts[item.thread_id] = e.target.value; } });
  reason.value = S.drafts[item.thread_id] || "";
  const canDecide = S.me && ["approver", "admin"].includes(S.me.role);
  const own = S.me && S.me.four_eyes && item.started_by === S.me.user;
  const decide = async (approved, btn) => {
    btn.disabled = true;
    try {
      const out = await api("POST", `/runs/${encodeURIComponent(item.thread_id)}/${approved ? "approve" : "reject"}`, { reason: reason.value });
      delete S.drafts[item.thread_id];
      const said = `${approved ? "Approved" : "Rejected"} ${p.action} on ${item.thread_id}`;
      if (out.status === "resuming") S.decided[item.thread_id] = said;
      toast(`${said}: ${out.status === "resuming" ? "recorded; the run continues" : "run " + out.status.replace("_", " ")}`);
      refresh();
    } catch (e) { toast(e.message, true); btn.disabled = false; }
  };
  if (p.type === "actuation_uncertain") return confirmCard(item, p, panels, reason, canDecide);
  return h("article", { class: "card approval", "data-thread": item.thread_id },
    h("div", { class: "cardhead" },
      h("span", { class: "action" }, p.action || "?"), chip(p.safety || "actuating"),
      h("span", { class: "muted" }, `thread ${item.thread_id} · ${item.agent} · started ${fmtTime(item.started_at)}${item.started_by ? " by " + item.started_by : ""}`)),
    renderPanels(panels),
    canDecide ? h("div", { class: "decide" }, reason,
      h("button", { class: "primary approve", disabled: own, title: own ? "four-eyes: you started this run" : null, onclick: (e) => decide(true, e.target) }, "Approve"),
      h("button", { class: "danger reject", onclick: (e) => {
        if (!reason.value.trim()) { toast("A rejection needs a reason", true); reason.focus(); return; }
        decide(false, e.target);
      } }, "Reject"))
      : h("p", { class: "muted" }, `Your role (${S.me ? S.me.role : "?"}) cannot decide.`));
}

function confirmCard(item, p, panels, reason, canDecide) {
  // the process died between carrying out an approved action and recording its outcome
  const answer = async (happened, btn) => {
    if (!reason.value.trim()) { toast("Say how you checked (recorded with your name)", true); reason.focus(); return; }
    btn.disabled = true;
    try {
      const out = await api("POST", `/runs/${encodeURIComponent(item.thread_id)}/confirm`, { happened, reason: reason.value });
      delete S.drafts[item.thread_id];
      toast(`Recorded: ${happened ? "it took effect" : "it did not take effect"}; run ${out.status.replace("_", " ")}`);
      refresh();
    } catch (e) { toast(e.message, true); btn.disabled = false; }
  };
  return h("article", { class: "card approval uncertain", "data-thread": item.thread_id },
    h("div", { class: "cardhead" }, h("span", { class: "action" }, `Did ${p.action || "the action"} take effect?`), chip("needs_confirmation"),
      h("span", { class: "muted" }, `thread ${item.thread_id} · ${item.agent}`)),
    h("p", {}, "The process carrying out this approved action stopped before recording its outcome. Check the plant, then answer."),
    renderPanels(panels.concat([{ name: "evidence", title: "Evidence", renderer: "json", data: p }])),
    canDecide ? h("div", { class: "decide" }, reason,
      h("button", { class: "primary", onclick: (e) => answer(true, e.target) }, "It took effect"),
      h("button", { class: "danger", onclick: (e) => answer(false, e.target) }, "It did not: carry it out"))
      : h("p", { class: "muted" }, `Your role (${S.me ? S.me.role : "?"}) cannot answer.`));
}

async function viewRuns() {
  if (S.detail) return viewRun(S.detail);
  const { runs } = await api("GET", "/runs?limit=200");
  return h("div", {}, h("h2", {}, "Runs"),
    runs.length ? h("table", { class: "grid runs" },
      h("thead", {}, h("tr", {}, ["Thread", "Agent", "Status", "Started", "Ended", "Error"].map((c) => h("th", {}, c)))),
      h("tbody", {}, runs.map((r) => h("tr", { class: "clickable", "data-thread": r.thread_id, onclick: () => { S.detail = r.thread_id; refresh(); } },
        h("td", { class: "mono" }, r.thread_id), h("td", {}, r.agent), h("td", {}, chip(r.status)),
        h("td", {}, fmtTime(r.started_at)), h("td", {}, fmtTime(r.ended_at)), h("td", { class: "error" }, r.error || "")))))
      : h("p", { class: "empty" }, "No runs yet."));
}

async function viewRun(tid) {
  const r = await api("GET", `/runs/${encodeURIComponent(tid)}`);
  let panels = [];
  try { panels = (await api("GET", `/runs/${encodeURIComponent(tid)}/panels`)).panels; } catch (e) { /* none */ }
  const table = (title, cols, rows) => rows.length ? h("div", { class: "section" }, h("h3", {}, title),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((c) => h("td", {}, fmtValue(c)))))))) : null;
  return h("div", { class: "detail" },
    h("p", {}, h("button", { class: "ghost", onclick: () => { S.detail = null; refresh(); } }, "← All runs")),
    h("h2", {}, `Thread ${tid} `, chip(r.status)),
    h("p", { class: "muted" }, `${r.agent}${r.started_by ? " · started by " + r.started_by : ""} · `,
      h("a", { href: `/runs/${encodeURIComponent(tid)}/export`, download: `run-${tid}.json` }, "Export JSON")),
    r.error ? h("p", { class: "error" }, r.error) : null,
    renderPanels(panels),
    table("Approvals", ["Decision", "By", "Action", "Reason", "At"], r.approvals.map((a) => [a.decision, a.by, a.action, a.reason, fmtTime(a.decided_at)])),
    table("Steps", ["Node", "Status", "ms", "Started"], r.steps.map((x) => [x.node, x.status, Math.round(x.duration_ms), fmtTime(x.started_at)])),
    table("Tool calls", ["Tool", "Safety", "Input", "Output", "ms"], r.tool_calls.map((x) => [x.tool, x.safety, x.input, x.output, Math.round(x.duration_ms)])),
    table("Alerts", ["Severity", "Code", "Message", "At"], r.alerts.map((a) => [a.severity, a.code, a.message, fmtTime(a.created_at)])),
    table("Work orders", ["Asset", "Title", "Priority", "Status"], r.work_orders.map((w) => [w.asset, w.title, w.priority, w.status])));
}

async function viewAlerts() {
  const { alerts, work_orders } = await api("GET", "/alerts?limit=200");
  const open = (tid) => () => { S.view = "runs"; S.detail = tid; refresh(); };
  return h("div", {},
    h("h2", {}, "Alerts"),
    alerts.length ? h("table", { class: "grid alerts" },
      h("thead", {}, h("tr", {}, ["At", "Severity", "Code", "Message", "Thread"].map((c) => h("th", {}, c)))),
      h("tbody", {}, alerts.map((a) => h("tr", { class: `clickable sev-${a.severity}`, onclick: open(a.thread_id) },
        h("td", {}, fmtTime(a.created_at)), h("td", {}, chip(a.severity)), h("td", { class: "mono" }, a.code),
        h("td", {}, a.message), h("td", { class: "mono" }, a.thread_id)))))
      : h("p", { class: "empty" }, "No alerts."),
    h("h2", {}, "Work orders"),
    work_orders.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Created", "Asset", "Title", "Priority", "Status", "Thread"].map((c) => h("th", {}, c)))),
      h("tbody", {}, work_orders.map((w) => h("tr", { class: "clickable", onclick: open(w.thread_id) },
        h("td", {}, fmtTime(w.created_at)), h("td", {}, w.asset), h("td", {}, w.title), h("td", {}, w.priority),
        h("td", {}, w.status), h("td", { class: "mono" }, w.thread_id)))))
      : h("p", { class: "empty" }, "No work orders."));
}

async function viewAudit() {
  const { audit } = await api("GET", "/audit?limit=500");
  return h("div", {}, h("h2", {}, "Audit"),
    h("p", {}, h("a", { class: "button", href: "/audit?format=csv&limit=10000", download: "audit.csv" }, "Export CSV"), " ",
      h("a", { class: "button", href: "/audit?format=json&limit=10000", download: "audit.json" }, "Export JSON")),
    h("table", { class: "grid audit" },
      h("thead", {}, h("tr", {}, ["At", "User", "Role", "Action", "Thread", "Outcome", "Reason"].map((c) => h("th", {}, c)))),
      h("tbody", {}, audit.map((e) => h("tr", { class: `a-${e.action}` },
        h("td", {}, fmtTime(e.at)), h("td", { class: "user" }, e.user), h("td", {}, e.role), h("td", {}, e.action),
        h("td", { class: "mono" }, e.thread_id || ""), h("td", {}, e.outcome), h("td", {}, (e.detail && e.detail.reason) || ""))))));
}

const VIEWS = { approvals: viewApprovals, runs: viewRuns, alerts: viewAlerts, audit: viewAudit };

async function refresh() {
  if (!S.me) return;
  try {
    const el = await VIEWS[S.view]();
    const view = $("view");
    // redraw only when something changed, so a person's focus and typing are never lost
    const shown = `${S.view}|${S.detail}|${el.textContent}`;
    if (shown !== S.shown || view.hidden) {
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.thread : null;
      view.replaceChildren(el);
      S.shown = shown;
      if (focused) { const again = view.querySelector(`textarea[data-thread="${CSS.escape(focused)}"]`); if (again) again.focus(); }
    }
    view.hidden = false;
    if (S.view !== "approvals") {
      api("GET", "/approvals").then((d) => setCount(d.pending.length)).catch(() => {});
    }
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === S.view);
  } catch (e) { if (S.me) toast(e.message, true); }
}

function scheduleRefresh() {
  clearTimeout(S.refreshTimer);
  S.refreshTimer = setTimeout(refresh, 250);
}

function connectLive() {
  if (S.events) S.events.close();
  const es = new EventSource("/events");
  S.events = es;
  es.onopen = () => { $("live").textContent = "live"; $("live").className = "live on"; };
  es.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live"; };
  for (const kind of ["run_end", "approval_requested", "approval", "decision_recorded"]) es.addEventListener(kind, scheduleRefresh);
  // a decision is acknowledged once recorded; say how the run it released ended
  es.addEventListener("run_end", (e) => {
    let ev = {};
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    const said = S.decided[ev.thread_id];
    if (!said) return;
    delete S.decided[ev.thread_id];
    toast(`${said}: run ${String(ev.status || "ended").replace("_", " ")}`, ev.status === "failed");
  });
}

function showLogin() {
  S.me = null;
  if (S.events) { S.events.close(); S.events = null; }
  $("login").hidden = false; $("view").hidden = true; $("tabs").hidden = true;
  $("logout").hidden = true; $("whoami").textContent = ""; $("live").textContent = "offline";
  $("username").focus();
}

async function signedIn(me) {
  S.me = me;
  $("login").hidden = true; $("tabs").hidden = false;
  $("logout").hidden = me.via !== "session";
  $("whoami").textContent = `${me.user} · ${me.role}`;
  const banner = $("banner");
  banner.hidden = !me.open_local;
  banner.textContent = me.open_local ? "No users are configured: anyone on this machine acts as admin. Add one with `agentarts users add NAME --role admin`." : "";
  connectLive();
  await refresh();
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").textContent = theme === "dark" ? "Light" : "Dark";
  try { localStorage.setItem("agentarts-theme", theme); } catch (e) { /* private mode */ }
}

document.addEventListener("DOMContentLoaded", async () => {
  let theme = null;
  try { theme = localStorage.getItem("agentarts-theme"); } catch (e) { /* none */ }
  setTheme(theme || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  $("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => { S.view = b.dataset.view; S.detail = null; refresh(); });
  $("logout").addEventListener("click", async () => { try { await api("POST", "/auth/logout"); } catch (e) { /* gone */ } showLogin(); });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await api("POST", "/auth/login", { username: $("username").value, password: $("password").value });
      $("password").value = "";
      await signedIn(await api("GET", "/auth/me"));
    } catch (e) { $("login-error").textContent = e.message; }
  });
  setInterval(() => { if (S.me) scheduleRefresh(); }, 15000);
  const r = await fetch("/auth/me", { credentials: "same-origin" });
  if (r.ok) await signedIn(await r.json()); else showLogin();
});
