// The console's shell: session, API calls, routing, small DOM helpers. Pages are in
// pages.js. No framework: the pages are few and the data is the server's JSON.
"use strict";
const session = {
  get token() { return sessionStorage.getItem("fieldloop.token"); },
  get me() { return JSON.parse(sessionStorage.getItem("fieldloop.me") || "null"); },
  save(login) {
    sessionStorage.setItem("fieldloop.token", login.token);
    sessionStorage.setItem("fieldloop.me", JSON.stringify(login));
  },
  clear() { sessionStorage.removeItem("fieldloop.token"); sessionStorage.removeItem("fieldloop.me"); },
};

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.reason || body.error)) || ("HTTP " + status));
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (session.token) headers.Authorization = "Bearer " + session.token;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  if (response.status === 401 && path !== "/v1/login") {
    session.clear();
    route();
    throw new ApiError(401, { reason: "signed out" });
  }
  if (options.raw) {
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return response;
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Builds an element: h("td", {class: "x", onclick: f}, "text", child…).
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
function time(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : ""; }
function bandDot(b) { return h("span", { class: "band band-" + (b || "green"), title: bandText(b) }); }
function showError(where, e) {
  where.replaceChildren(h("p", { class: "error" }, t("error") + ": " + (e.body ? e.body.error + " — " + e.body.reason : e.message)));
}

// Downloads a protected file under the name the server gave in Content-Disposition.
async function download(path) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/.exec(disposition);
  const plain = /filename="([^"]+)"/.exec(disposition);
  const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : "download";
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const main = document.getElementById("main");
const PAGES = {};
let currentMap = null;

function translateStatic() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  document.getElementById("lang").textContent = LANG === "zh" ? "English" : "中文";
}

async function route() {
  translateStatic();
  const me = session.me;
  const nav = document.getElementById("nav");
  nav.hidden = !me;
  document.getElementById("logout").hidden = !me;
  document.getElementById("who").textContent = me ? me.username + " · " + me.role : "";
  if (currentMap) { currentMap.remove(); currentMap = null; }
  if (!me) { renderLogin(); return; }
  const [page, ...rest] = (location.hash.replace(/^#\/?/, "") || defaultPage(me)).split("/");
  nav.querySelectorAll("a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#/" + page));
  const render = PAGES[page] || PAGES.map;
  // Each navigation renders into its own view, so a slow page left behind writes into a
  // detached element instead of over the page shown now.
  const view = h("div", { class: "view" }, h("p", { class: "muted" }, t("loading")));
  main.replaceChildren(view);
  try {
    await render(rest.map(decodeURIComponent), view);
  } catch (e) {
    showError(view, e);
  }
}

function defaultPage(me) {
  if (me.role === "admin") return "map";
  if (me.role === "river_chief") return "rivers";
  if (me.role === "supervisor" || me.role === "contractor") return "works";
  return "map";
}

function renderLogin() {
  const form = h("form", { id: "login", class: "card narrow" },
    h("h2", {}, t("login_title")),
    h("label", {}, t("username") + " ", h("input", { name: "username", autocomplete: "username", required: true })),
    h("label", {}, t("password") + " ", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit" }, t("login")),
    h("p", { class: "error", id: "login-error" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const username = data.get("username");
    try {
      const login = await api("/v1/login", { method: "POST", json: { username, password: data.get("password") } });
      session.save(Object.assign({ username }, login));
      location.hash = "#/" + defaultPage(session.me);
      route();
    } catch (e) {
      form.querySelector("#login-error").textContent = e.message;
    }
  });
  main.replaceChildren(form);
}

document.getElementById("lang").addEventListener("click", () => {
  LANG = LANG === "zh" ? "en" : "zh";
  localStorage.setItem("fieldloop.lang", LANG);
  route();
});
document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/v1/logout", { method: "POST" }); } catch (_) { /* signed out either way */ }
  session.clear();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
