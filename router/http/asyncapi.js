"use strict";
// A readable rendering of /asyncapi.json: servers, channels with their messages, and each
// message's schema. No build step; the token is the one the page signed in with.
const $ = (id) => document.getElementById(id);

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}

function refName(ref) { return ref.$ref.split("/").pop(); }

function renderDocument(doc) {
  $("title").textContent = `${doc.info.title} ${doc.info.version} (AsyncAPI ${doc.asyncapi})`;
  $("description").textContent = doc.info.description || "";
  $("servers").innerHTML = Object.entries(doc.servers || {}).map(([name, s]) =>
    `<tr data-server="${esc(name)}"><td>${esc(name)}</td><td>${esc(s.protocol)}</td>` +
    `<td>${esc(s.host)}${esc(s.pathname || "")}</td><td>${esc(s.description || "")}</td></tr>`
  ).join("");
  $("channels").innerHTML = Object.entries(doc.channels || {}).map(([name, c]) => {
    const messages = Object.values(c.messages || {}).map((m) => {
      const key = refName(m);
      return `<li><a href="#message-${esc(key)}">${esc(doc.components.messages[key].name)}</a></li>`;
    }).join("");
    const patterns = c["x-patterns"] ? ` · patterns ${c["x-patterns"].map(esc).join(" ")}` : "";
    return `<article class="channel" data-channel="${esc(name)}"><h3>${esc(c.title || name)}</h3>` +
      `<p class="empty">address ${esc(c.address === null ? "(the publish calls)" : c.address)}` +
      `${patterns}</p><p>${esc(c.description || "")}</p><ul>${messages}</ul></article>`;
  }).join("");
  $("messages").innerHTML = Object.entries(doc.components.messages || {}).map(([key, m]) => {
    const payload = m.payload && m.payload.schema !== undefined ? m.payload.schema : m.payload;
    const facts = (m["x-version"] ?
      [`version ${m["x-version"]}`, esc(m["x-mode"]), `owner ${esc(m["x-owner"] || "-")}`] : [])
      .concat(m.contentType ? [esc(m.contentType)] : []).join(" · ");
    return `<article class="message-doc" id="message-${esc(key)}" data-message="${esc(m.name)}">` +
      `<h3>${esc(m.name)}</h3><p>${esc(m.title || "")}</p><p class="empty">${facts}</p>` +
      `<pre>${esc(JSON.stringify(payload, null, 2))}</pre></article>`;
  }).join("");
}

async function load() {
  const token = sessionStorage.getItem("router-token") || "";
  if (!token) { $("signed-out").hidden = false; $("status").textContent = "signed out"; return; }
  const response = await fetch("/asyncapi.json", {headers: {"authorization": "Bearer " + token}});
  if (!response.ok) {
    $("signed-out").hidden = response.status !== 401;
    $("status").textContent = `not loaded (${response.status})`;
    return;
  }
  renderDocument(await response.json());
  $("status").textContent = "loaded";
}

load();
