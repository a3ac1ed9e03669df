"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("router-token") || "";
let failures = 0;
const redelivered = {};  // subscriber -> [count, at_us] of the last stats, for a rate

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}
function rate(value) { return value >= 100 ? Math.round(value).toLocaleString() : value.toFixed(1); }

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: {"authorization": "Bearer " + token, "content-type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { showLogin("The token was not accepted; sign in again."); }
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function showLogin(message) {
  token = ""; sessionStorage.removeItem("router-token");
  $("app").hidden = true; $("login").hidden = false;
  $("login-message").textContent = message || "";
  $("users-section").hidden = false; $("audit-section").hidden = false;
}

function spark(canvas, series, colors) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(1, ...series.flat());
  series.forEach((points, i) => {
    if (points.length < 2) return;
    ctx.strokeStyle = colors[i]; ctx.lineWidth = 1.5; ctx.beginPath();
    points.forEach((v, x) => {
      const px = (x / (points.length - 1)) * (w - 2) + 1, py = h - 2 - (v / top) * (h - 4);
      x ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    });
    ctx.stroke();
  });
}

function since(us) {
  if (!us) return "";
  return " since " + new Date(us / 1000).toLocaleTimeString();
}

function render(stats) {
  const r = stats.rates;
  $("pub-1s").textContent = rate(r.published_1s);
  $("pub-1m").textContent = rate(r.published_1m);
  $("last-seq").textContent = stats.last_seq.toLocaleString();
  $("first-seq").textContent = (stats.first_seq || 1).toLocaleString();
  const c = stats.cluster;
  $("cluster").hidden = !c;
  if (c) {
    const standbys = c.routers.filter((n) => !n.leading).map((n) => esc(n.name));
    $("cluster").innerHTML = `leader <b>${esc(c.leader)}</b> (epoch ${c.epoch})` +
      ` · standby ${standbys.length ? standbys.join(", ") : "none"}` +
      (c.database_host ? ` · db ${esc(c.database_host)}` : "");
  }
  spark($("pub-chart"), [r.published_history], ["#2f6fdf"]);

  $("exchanges").innerHTML = stats.exchanges.length ? stats.exchanges.map((e) => {
    const er = r.exchanges[e.name] || {in_1s: 0, history: []};
    return `<tr data-exchange="${esc(e.name)}"><td>${esc(e.name)}</td>` +
      `<td>${esc(e.patterns.join(" "))}</td><td>${e.head_offset}` +
      `${e.first_offset > 1 ? ` <span class="empty">kept from ${e.first_offset}</span>` : ""}</td>` +
      `<td class="in">${rate(er.in_1s)}</td><td><canvas width="120" height="22"></canvas></td></tr>`;
  }).join("") : `<tr><td colspan="5" class="empty">no exchanges yet</td></tr>`;
  stats.exchanges.forEach((e, i) => {
    const row = $("exchanges").rows[i];
    spark(row.querySelector("canvas"), [(r.exchanges[e.name] || {history: []}).history], ["#2f6fdf"]);
  });

  const types = stats.types || [];
  $("types").innerHTML = types.length ? types.map((t) =>
    `<tr data-type="${esc(t.pattern)}"><td>${esc(t.pattern)}</td><td>${t.version}</td>` +
    `<td><span class="badge ${t.mode === "enforce" ? "enforce" : "warn"}">${esc(t.mode)}</span></td>` +
    `<td>${esc(t.owner)}</td><td>${esc(t.description)}</td><td>${t.checked.toLocaleString()}</td>` +
    `<td class="refused">${t.refused.toLocaleString()}</td><td class="warned">${t.warned.toLocaleString()}</td></tr>`
  ).join("") : `<tr><td colspan="8" class="empty">no event types registered (router type register)</td></tr>`;

  const queues = Object.fromEntries(stats.queues.map((q) => [q.id, q]));
  $("subscribers").innerHTML = stats.subscribers.length ? stats.subscribers.map((s) => {
    const q = queues[s.queue_id] || {fill: 0};
    const qr = r.queues[s.queue_id] || {in_1s: 0, out_1s: 0};
    const fill = Math.min(100, q.fill * 100);
    const key = s.queue_id + "/" + s.name;
    const [before, at] = redelivered[key] || [s.redelivered, stats.at_us];
    const again = stats.at_us > at ? Math.max(0, s.redelivered - before) * 1e6 / (stats.at_us - at) : 0;
    redelivered[key] = [s.redelivered, stats.at_us];
    const state = s.stalled ? "stalled" : s.state;
    const note = s.stalled ? ` stuck at ${s.acked_offset + 1}` :
      s.state === "sleeping" ? since(s.since_us) :
      ` ${s.consumers > 1 ? s.consumers + " consumers: " : ""}${s.consumer}`;
    const holding = s.holding_log ? " · holding the log" : "";
    const parked = s.parked ? `<span class="parked">${s.parked.toLocaleString()}</span>` +
      `<button class="small" data-redrive="${esc(s.exchange)}/${esc(s.name)}" ` +
      `data-limit="${q.limit_size || 0}">Re-drive</button>` : "0";
    return `<tr data-subscriber="${esc(s.exchange)}/${esc(s.name)}"><td>${esc(s.exchange)}</td>` +
      `<td>${esc(s.name)}</td><td><span class="badge ${state}">${state}</span>` +
      `<span class="empty">${esc(note + holding)}</span></td>` +
      `<td>${rate(qr.in_1s)}</td><td>${rate(qr.out_1s)}</td>` +
      `<td><span class="bar"><span class="${fill > 80 ? "high" : ""}" data-fill="${fill}"></span></span>` +
      `${fill.toFixed(1)}%</td><td>${s.lag.toLocaleString()}</td>` +
      `<td class="unsettled">${s.unsettled.toLocaleString()}</td><td>${rate(again)}</td>` +
      `<td class="parked-count">${parked}</td>` +
      `<td><canvas width="120" height="22"></canvas></td></tr>`;
  }).join("") : `<tr><td colspan="11" class="empty">no subscribers yet</td></tr>`;
  // Widths set here, not in a style attribute: the page's Content-Security-Policy allows no
  // inline style.
  for (const bar of $("subscribers").querySelectorAll("[data-fill]")) {
    bar.style.width = `${bar.dataset.fill}%`;
  }
  stats.subscribers.forEach((s, i) => {
    const qr = r.queues[s.queue_id] || {history_in: [], history_out: []};
    spark($("subscribers").rows[i].querySelector("canvas"), [qr.history_in, qr.history_out],
          ["#2f6fdf", "#2e9d63"]);
  });
}

// Users and the audit trail are the admin role's: a token that may only monitor sees the rest.
async function adminOnly(section, read) {
  if ($(section).hidden) return null;
  try { return await read(); } catch (error) {
    if (error.status !== 403) throw error;
    $(section).hidden = true;
    return null;
  }
}

const QUOTAS = [["events_per_s", "events/s"], ["bytes_per_s", "bytes/s"],
                ["streams", "streams"], ["subscribers", "subscribers"]];
function grantsText(u) {
  if (u.role === "admin") return "everything";
  return u.grants.map((g) => (g.deny ? "deny " : "") + g.action +
                             (g.action === "monitor" ? "" : " " + g.pattern)).join("; ") || "none";
}
function quotasText(u) {
  return QUOTAS.filter(([k]) => u.quotas[k]).map(([k, unit]) => `${u.quotas[k]} ${unit}`)
    .join(", ") || "none";
}

async function refreshUsers() {
  const data = await adminOnly("users-section", () => api("GET", "/v1/users"));
  if (!data) return;
  $("users").innerHTML = data.users.map((u) =>
    `<tr data-user="${esc(u.name)}"><td>${esc(u.name)}</td><td>${esc(u.role)}</td>` +
    `<td class="grants">${esc(grantsText(u))}</td><td class="quotas">${esc(quotasText(u))}</td>` +
    `<td>${esc(u.token_ids.join(", "))}</td>` +
    `<td><button class="quiet" data-remove="${esc(u.name)}">Remove</button></td></tr>`).join("");
}

async function refreshAudit() {
  const since = (Date.now() - 86400e3) * 1000;
  const data = await adminOnly("audit-section",
                               () => api("GET", `/v1/audit?since_us=${since}&max=10000`));
  if (!data) return;
  const last = data.entries.slice(-20).reverse();
  $("audit").innerHTML = last.length ? last.map((e) =>
    `<tr data-audit="${esc(e.action)}"><td>${new Date(e.at / 1000).toLocaleString()}</td>` +
    `<td>${esc(e.user)}</td><td>${esc(e.action)}</td><td>${esc(e.target)}</td>` +
    `<td>${esc(e.source)}</td></tr>`).join("") :
    `<tr><td colspan="5" class="empty">no changes in the past day</td></tr>`;
}

let ticks = 0;
async function tick() {
  if (!token) return;
  try {
    render(await api("GET", "/v1/stats"));
    if (ticks++ % 5 === 0) await refreshAudit();
    failures = 0;
    $("status").textContent = "live · " + new Date().toLocaleTimeString();
  } catch (error) {
    failures += 1;
    // The token no longer allows watching (a grant taken): stop polling and say why.
    if (error.status === 403) showLogin(error.message);
    else if (token) $("status").textContent = "cannot reach the router (" + error.message + ")";
  }
}

function said(element, text, isError) {
  element.textContent = text; element.className = "message" + (isError ? " error" : "");
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  try {
    await api("GET", "/v1/stats");
    sessionStorage.setItem("router-token", token);
    $("login").hidden = true; $("app").hidden = false;
    await refreshUsers(); await tick();
  } catch (error) {
    if (error.status === 403) showLogin(error.message);
    else if (!$("login").hidden || !token) showLogin("The token was not accepted.");
    else showLogin(error.message);
  }
});

$("exchange-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("exchange-name").value.trim();
  const patterns = $("exchange-patterns").value.split(/[\s,]+/).filter(Boolean);
  try {
    const created = await api("POST", "/v1/exchanges", {name, patterns});
    said($("exchange-message"), `created ${created.name} (history: ${created.head_offset} events)`);
    $("exchange-name").value = ""; $("exchange-patterns").value = "";
    await refreshAudit(); await tick();
  } catch (error) { said($("exchange-message"), error.message, true); }
});

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const added = await api("POST", "/v1/users", {name: $("user-name").value.trim(),
                                                   role: $("user-role").value});
    $("user-message").className = "message";
    $("user-message").innerHTML = `added ${esc(added.name)} (${esc(added.role)}). ` +
      `Its token, shown only now:<code class="token" id="new-token">${esc(added.token)}</code>`;
    $("user-name").value = "";
    await refreshUsers(); await refreshAudit();
  } catch (error) { said($("user-message"), error.message, true); }
});

$("users").addEventListener("click", async (event) => {
  const name = event.target.dataset && event.target.dataset.remove;
  if (!name) return;
  try {
    await api("DELETE", "/v1/users/" + encodeURIComponent(name));
    said($("user-message"), `removed ${name}: its tokens stopped working, its streams ended`);
    await refreshUsers(); await refreshAudit();
  } catch (error) { said($("user-message"), error.message, true); }
});

$("subscribers").addEventListener("click", async (event) => {
  const which = event.target.dataset && event.target.dataset.redrive;
  if (!which) return;
  const [exchange, name] = which.split("/");
  const path = `/v1/exchanges/${encodeURIComponent(exchange)}/subscribers/` +
    `${encodeURIComponent(name)}/parked/redrive?limit_size=${event.target.dataset.limit}`;
  try {
    const done = await api("POST", path, {all: true});
    said($("subscriber-message"),
         `re-driving ${done.redriven.length} parked event(s) of ${name}: delivered again`);
    await tick();
  } catch (error) { said($("subscriber-message"), error.message, true); }
});

if (token) {
  api("GET", "/v1/stats").then(() => { $("app").hidden = false; refreshUsers(); tick(); })
    .catch(() => showLogin("Sign in with an admin token, or one that may monitor."));
} else {
  showLogin("");
}
setInterval(tick, 1000);
