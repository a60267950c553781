// The console's pages. Each renders into `main` from the server's JSON; what a page
// offers follows the signed-in person's role (the server checks it again).
"use strict";
const BAND_COLOURS = { green: "#2e9d4a", yellow: "#e8b400", red: "#d93025", escalated: "#7b1fa2" };
const STATUSES = ["reported", "registered", "dispatched", "accepted", "handled", "verification_submitted", "rework", "closed", "rejected", "voided", "merged", "self_fixed"];
let unitsCache = null;

async function units() {
  if (!unitsCache) unitsCache = await api("/v1/units");
  return unitsCache;
}

async function baseMap(element) {
  const config = await api("/console/config.json");
  if (!element.isConnected) throw new Error("page left");
  const map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
  if (config.tile_url) L.tileLayer(config.tile_url, { maxZoom: 19 }).addTo(map);
  currentMap = map;
  return map;
}

// ---- map (指挥中心) -------------------------------------------------------------------
// The GeoJSON of the cases matching `query`, as text. Only what the points show (id, band,
// status, category name): a quarter of the bytes of the full rows.
async function fetchCases(query) {
  query.set("properties", "map");
  return (await api("/v1/cases.geojson?" + query, { raw: true })).text();
}

PAGES.map = async function (_args, view) {
  const started = performance.now();
  // The cases are the long fetch: asked for first, beside the page's other reads.
  let pending = fetchCases(new URLSearchParams());
  const unitOptions = (await units()).map((u) => h("option", { value: u.id }, u.name));
  const filters = h("form", { class: "filters card", id: "filters" },
    h("label", {}, t("category"), h("br"), h("input", { name: "category", size: 6, placeholder: "20102" })),
    h("label", {}, t("unit"), h("br"), h("select", { name: "unit" }, h("option", { value: "" }, t("all")), unitOptions)),
    h("label", {}, t("status"), h("br"), h("select", { name: "status" }, h("option", { value: "" }, t("all")),
      STATUSES.map((s) => h("option", { value: s }, statusText(s))))),
    h("label", {}, t("band"), h("br"), h("select", { name: "band" }, h("option", { value: "" }, t("all")),
      Object.keys(BAND_COLOURS).map((b) => h("option", { value: b }, bandText(b))))),
    h("label", {}, t("from"), h("br"), h("input", { name: "from", type: "date" })),
    h("label", {}, t("to"), h("br"), h("input", { name: "to", type: "date" })),
    h("button", { type: "submit" }, t("apply")),
    h("span", {}, t("cases_shown") + ": ", h("strong", { id: "case-count" }, "…")));
  const mapDiv = h("div", { id: "map", class: "card" });
  view.replaceChildren(filters, mapDiv);
  const map = await baseMap(mapDiv);
  const [cells, segments] = await Promise.all([api("/v1/geo/cells"), api("/v1/geo/segments")]);
  const cellLayer = L.geoJSON(cells, {
    style: { color: "#5b7083", weight: 1, fillOpacity: 0.03 },
    onEachFeature: (f, layer) => layer.bindTooltip(f.properties.code + (f.properties.community ? " " + f.properties.community : "")),
  }).addTo(map);
  const segmentLayer = L.geoJSON(segments, {
    style: (f) => ({ color: { none: "#1e88e5", yellow: "#e8b400", orange: "#f57c00", red: "#d93025" }[f.properties.warning] || "#1e88e5", weight: 4 }),
    onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name),
  }).addTo(map);
  const bounds = cellLayer.getBounds().extend(segmentLayer.getBounds());
  if (bounds.isValid()) map.fitBounds(bounds); else map.setView([30.27, 120.12], 13);
  let caseLayer = null;
  L.control.layers(null, { [t("cells")]: cellLayer, [t("segments")]: segmentLayer }).addTo(map);

  async function load() {
    const asked = performance.now();
    if (!pending) {
      const query = new URLSearchParams();
      for (const [k, v] of new FormData(filters)) if (v) query.set(k, v);
      pending = fetchCases(query);
    }
    const text = await pending;
    pending = null;
    const fetched = performance.now();
    const data = JSON.parse(text);
    const parsed = performance.now();
    if (caseLayer) caseLayer.remove();
    caseLayer = new CasePoints(data.features.map((f) => ({
      lat: f.geometry.coordinates[1], lon: f.geometry.coordinates[0], id: f.properties.id, row: f.properties,
      colour: BAND_COLOURS[f.properties.band] || "#888",
    })), { label: (p) => (p.row.category_name || p.row.category) + " · " + statusText(p.row.status) });
    caseLayer.on("pointclick", (e) => { location.hash = "#/case/" + e.point.id; });
    caseLayer.addTo(map);
    const built = performance.now();
    // Ready when the points are on screen: the canvas renderer draws on the next frame.
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const drawn = performance.now();
    document.getElementById("case-count").textContent = caseLayer.drawn;
    document.body.dataset.mapPhases = JSON.stringify({
      page: Math.round(asked - started), cases_wait: Math.round(fetched - asked), parse: Math.round(parsed - fetched),
      build: Math.round(built - parsed), draw: Math.round(drawn - built),
    });
    document.body.dataset.mapMs = String(Math.round(drawn - started));
    // The count the point layer itself drew on the canvas.
    document.body.dataset.mapReady = String(caseLayer.drawn);
  }
  filters.addEventListener("submit", (e) => { e.preventDefault(); load().catch((err) => showError(filters, err)); });
  await load();
};

// ---- case -------------------------------------------------------------------------------
const ACTION_FIELDS = {
  "case.registered": [],
  "case.rejected": ["reason"],
  "case.voided": ["reason"],
  "case.suspended": ["reason"],
  "case.extension_denied": ["reason"],
  "case.supervised": ["reason"],
  "case.merged": ["duplicate_of"],
  "case.duplicate_kept": ["reason"],
  "case.dispatched": ["unit"],
  "case.extension_granted": ["amount"],
  "case.resumed": [],
};

async function actionForm(detail, kind) {
  const fields = ACTION_FIELDS[kind] || [];
  const inputs = [];
  for (const field of fields) {
    if (field === "unit") {
      inputs.push(h("select", { name: "unit", required: true }, (await units()).map((u) =>
        h("option", { value: u.id, selected: u.id === detail.unit }, u.name))));
    } else if (field === "amount") {
      inputs.push(h("input", { name: "amount", type: "number", min: 1, value: 1, size: 3 }),
        h("select", { name: "limit_unit" }, h("option", { value: "working_days" }, "工作日"), h("option", { value: "working_hours" }, "工作时")));
    } else {
      inputs.push(h("input", { name: field, placeholder: t(field), required: true }));
    }
  }
  const form = h("form", { "data-action": kind }, inputs, h("button", { type: "submit" }, t(kind)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    let data = {};
    if (kind === "case.dispatched") data = { unit: values.unit };
    else if (kind === "case.merged") data = { duplicate_of: values.duplicate_of };
    else if (kind === "case.extension_granted") data = { extension: { amount: Number(values.amount), unit: values.limit_unit } };
    else if (fields.includes("reason")) data = { reason: values.reason };
    const out = document.getElementById("action-result");
    try {
      await api("/v1/cases/" + detail.id + "/actions", { method: "POST", json: { type: kind, data } });
      // Marked done only once the page shows the case as it now is.
      await PAGES.case([detail.id], form.closest(".view"), true);
      out.className = "ok";
      out.textContent = t(kind) + " ✔";
    } catch (e) {
      out.className = "error";
      out.textContent = e.body ? e.body.error + ": " + e.body.reason : e.message;
    }
  });
  return form;
}

async function photoThumb(photo) {
  const img = h("img", { alt: photo.stage, title: photo.stage + " · " + photo.by + " · " + time(photo.taken_at), "data-hash": photo.hash });
  api(photo.url, { raw: true }).then((r) => r.blob()).then((b) => {
    img.src = URL.createObjectURL(b);
    img.addEventListener("click", () => {
      const overlay = h("div", { id: "overlay", onclick: () => overlay.remove() }, h("img", { src: img.src }));
      document.body.append(overlay);
    });
  }).catch(() => { img.alt = photo.stage + " (" + t("none") + ")"; });
  return h("figure", { style: "display:inline-block;margin:0 8px" }, img, h("figcaption", { class: "muted" }, photo.stage + " · " + photo.by));
}

// A field two people set at once: every value, and for those allowed to edit it a button
// per value that keeps it (the edit a phone's resolveCaseField writes).
function conflictRow(detail, conflict) {
  const row = h("div", { class: "error conflict", "data-field": conflict.field },
    t("conflict") + " · " + t(conflict.field) + ": ");
  for (const value of conflict.values) {
    row.append(h("q", { class: "conflict-value" }, value), " ");
    if (conflict.resolvable) {
      row.append(h("button", { type: "button", class: "secondary keep-value", "data-value": value, onclick: async () => {
        const out = document.getElementById("action-result");
        try {
          await api("/v1/cases/" + detail.id + "/fields", { method: "POST", json: { field: conflict.field, value } });
          await PAGES.case([detail.id], row.closest(".view"), true);
          out.className = "ok";
          out.textContent = t("keep_value") + " ✔";
        } catch (e) {
          out.className = "error";
          out.textContent = e.body ? e.body.error + ": " + e.body.reason : e.message;
        }
      } }, t("keep_value")), " ");
    }
  }
  return row;
}

PAGES.case = async function ([id], view, keepResult) {
  const detail = await api("/v1/cases/" + id);
  const result = keepResult ? document.getElementById("action-result") : null;
  const header = h("div", { class: "card" },
    h("h2", {}, bandDot(detail.band), t("case_title") + " ", h("code", {}, detail.id.slice(0, 8)), " · ", detail.category_name || detail.category,
      detail.source === "open311" ? h("span", { class: "muted" }, " · " + t("source_open311")) : null),
    table([t("status"), t("unit"), t("deadline"), t("grid"), t("reported_at"), t("reported_by"), t("urgency")],
      [[h("strong", { id: "case-status" }, statusText(detail.status)), detail.unit_name || "—", time(detail.deadline) || "—", detail.grid_cell || "—",
        time(detail.reported_at), detail.reported_by, detail.urgency]]),
    detail.description ? h("p", {}, t("description") + ": " + detail.description) : null,
    detail.address ? h("p", {}, t("address") + ": " + detail.address) : null,
    detail.field_conflicts.map((c) => conflictRow(detail, c)));
  const verdict = h("div", { class: "card", id: "verdict" }, h("h3", {}, t("verdict")),
    detail.verdict
      ? [h("p", {}, time(detail.verdict.at) + " · ", h("strong", { class: detail.verdict.passed ? "light-green" : "light-red" },
          detail.verdict.passed ? t("verdict_pass") : t("verdict_fail"))),
        h("ul", {}, detail.verdict.checks.map((c) => h("li", { class: c.passed ? "check-pass" : "check-fail" }, h("strong", {}, c.name), ": " + c.reason)))]
      : h("p", { class: "muted" }, t("no_verdict")));
  const forms = [];
  for (const kind of detail.actions) forms.push(await actionForm(detail, kind));
  const actions = h("div", { class: "card actions", id: "actions" }, h("h3", {}, t("actions")),
    forms.length ? forms : h("p", { class: "muted" }, t("no_actions")),
    result || h("p", { id: "action-result" }));
  const duplicates = detail.duplicate_candidates.length ? h("div", { class: "card", id: "duplicates" },
    h("h3", {}, t("duplicate_suggested")),
    table([t("case_title"), t("distance"), t("reported_at"), ""], detail.duplicate_candidates.map((c) => [
      h("a", { href: "#/case/" + c.case_id }, h("code", {}, c.case_id.slice(0, 8))), Math.round(c.distance_m) + " m", time(c.reported_at),
      detail.actions.includes("case.merged") ? h("button", { class: "merge-into", "data-case": c.case_id, onclick: () => {
        const input = document.querySelector('form[data-action="case.merged"] input[name="duplicate_of"]');
        if (input) { input.value = c.case_id; input.form.requestSubmit(); }
      } }, t("merge_into")) : "",
    ]))) : null;
  const photos = h("div", { class: "card photos" }, h("h3", {}, t("photos")), await Promise.all(detail.photos.map(photoThumb)));
  const mapDiv = h("div", { class: "mini-map" });
  const position = h("div", { class: "card" }, h("h3", {}, t("position")),
    detail.lat !== null ? h("p", {}, detail.lat.toFixed(6) + ", " + detail.lon.toFixed(6) + " · " + t("accuracy") + " ±" + Math.round(detail.accuracy_m || 0) + " m") : null,
    mapDiv);
  const events = h("div", { class: "card" }, h("h3", {}, t("events")),
    table([t("when"), t("who"), t("role"), t("event"), t("detail")], detail.events.map((e) => [
      time(e.at), e.by, e.role, t(e.type),
      h("span", {}, e.data ? h("code", {}, JSON.stringify(e.data).slice(0, 200)) : "", e.ignored ? h("span", { class: "error" }, " " + t("ignored") + ": " + e.ignored) : null),
    ])));
  view.replaceChildren(header, duplicates || "", h("div", { class: "grid2" }, h("div", {}, verdict, actions), position), photos, events);
  if (currentMap) { currentMap.remove(); currentMap = null; }
  if (detail.lat !== null) {
    const map = await baseMap(mapDiv);
    const here = [detail.lat, detail.lon];
    map.setView(here, 17);
    L.circle(here, { radius: detail.accuracy_m || 1, color: "#1d5fa8" }).addTo(map);
    L.circleMarker(here, { radius: 6, fillColor: BAND_COLOURS[detail.band], fillOpacity: 1, color: "#fff" }).addTo(map);
    for (const p of detail.photos) {
      if (p.lat !== null) L.circleMarker([p.lat, p.lon], { radius: 4, color: "#555" }).bindTooltip(p.stage + " · " + p.by).addTo(map);
    }
  }
};

// ---- queues -----------------------------------------------------------------------------
PAGES.queues = async function ([open], view) {
  const data = await api("/v1/queues");
  const chosen = open || (data.queues.find((q) => q.count > 0) || data.queues[0]).key;
  const tabs = h("div", { class: "tabs card" }, data.queues.map((q) =>
    h("button", { type: "button", class: q.key === chosen ? "active" : "secondary", "data-queue": q.key,
      onclick: () => { location.hash = "#/queues/" + q.key; } },
      t("queue_" + q.key) + " ", h("span", { class: "count" }, q.count))));
  const queue = data.queues.find((q) => q.key === chosen);
  const list = h("div", { class: "card", id: "queue-" + chosen },
    queue.items.length === 0 ? h("p", { class: "muted" }, t("empty_queue")) :
      table(["", t("category"), t("status"), t("unit"), t("deadline"), t("reported_at"), ""], queue.items.map((c) => [
        bandDot(c.band), h("a", { href: "#/case/" + c.id, "data-case": c.id }, c.category_name || c.category),
        statusText(c.status), c.unit_name || "—", time(c.deadline) || "—", time(c.reported_at),
        c.source === "open311" ? t("source_open311") : "",
      ])));
  view.replaceChildren(tabs, list);
};

// ---- evaluation (综合评价) ----------------------------------------------------------------
function trendChart(points) {
  const width = 560, height = 200, left = 40, bottom = 24;
  const x = (i) => left + (i * (width - left - 20)) / Math.max(points.length - 1, 1);
  const y = (v) => height - bottom - v * (height - bottom - 10);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("id", "trend");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  for (const v of [0, 0.5, 1]) { add("line", { x1: left, x2: width - 10, y1: y(v), y2: y(v), stroke: "#dde" }); add("text", { x: 4, y: y(v) + 4 }, (v * 100) + "%"); }
  points.forEach((p, i) => add("text", { x: x(i) - 18, y: height - 6 }, p.period));
  const series = [["on_time_rate", "#1d5fa8"], ["close_rate", "#2e9d4a"], ["overdue_rate", "#d93025"]];
  series.forEach(([key, colour], s) => {
    const pts = points.map((p, i) => (p[key] === null ? null : [x(i), y(p[key])])).filter(Boolean);
    if (pts.length) add("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: colour, "stroke-width": 2 });
    pts.forEach((p) => add("circle", { cx: p[0], cy: p[1], r: 3, fill: colour }));
    add("text", { x: left + 10 + s * 110, y: 12, fill: colour }, t(key));
  });
  return svg;
}

PAGES.ranking = async function ([period], view) {
  const month = period || new Date().toISOString().slice(0, 7);
  const form = h("form", { class: "filters card" }, h("label", {}, t("period"), h("br"), h("input", { name: "period", type: "month", value: month })),
    h("button", { type: "submit" }, t("show")));
  form.addEventListener("submit", (e) => { e.preventDefault(); location.hash = "#/ranking/" + new FormData(form).get("period"); });
  const data = await api("/v1/ranking?period=" + encodeURIComponent(month));
  const notice = data.message ? h("p", { class: "card muted", id: "ranking-message" }, data.message) : null;
  const unitsTable = h("div", { class: "card", id: "ranking-units" }, h("h3", {}, t("unit") + " · " + data.period + (data.provisional ? " (provisional)" : "")),
    table([t("rank"), t("unit"), t("light"), t("due"), t("closed"), t("on_time"), t("rework"), t("overdue"), t("close_rate"), t("on_time_rate"), t("rework_rate"), t("overdue_rate")],
      data.units.map((u) => [u.rank === null ? "—" : u.rank, u.unit_name,
        u.light ? h("span", { class: "light-" + u.light }, "●") : "—", u.due, u.closed, u.closed_on_time, u.rework, u.overdue,
        pct(u.close_rate), pct(u.on_time_rate), pct(u.rework_rate), pct(u.overdue_rate)])),
    h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => download("/v1/ranking.csv?rows=units&period=" + data.period) }, t("download_units")), " ",
      h("button", { type: "button", class: "secondary", onclick: () => download("/v1/ranking.csv?rows=inspectors&period=" + data.period) }, t("download_inspectors"))));
  const people = h("div", { class: "card" }, h("h3", {}, t("inspectors")),
    table([t("inspectors"), t("reports"), t("valid_reports"), t("verifications"), t("patrols"), t("mileage"), t("coverage")],
      data.inspectors.map((i) => [i.inspector, i.reports, i.valid_reports, i.verifications, i.patrols, i.mileage_km, pct(i.coverage)])));
  const trend = h("div", { class: "card" }, h("h3", {}, t("trend")), trendChart(data.trend));
  const contractors = data.contractors.length ? h("div", { class: "card", id: "contractors" }, h("h3", {}, t("contractor_notices")),
    table([t("contractor"), t("notices_issued"), t("notices_closed"), t("on_time"), t("overdue"), t("on_time_rate")],
      data.contractors.map((c) => [c.contractor, c.issued, c.closed, c.closed_on_time, c.overdue, pct(c.on_time_rate)]))) : null;
  view.replaceChildren(...[form, notice, unitsTable, trend, people, contractors].filter(Boolean));
};

// ---- river chiefs ------------------------------------------------------------------------
PAGES.rivers = async function (_args, view) {
  const [plans, tracks] = await Promise.all([api("/v1/plans?limit=200"), api("/v1/geo/patrols")]);
  const rows = [];
  for (const p of plans.items) {
    const plan = p.state && p.state.plan;
    if (!plan) continue;
    for (const w of p.state.progress || []) {
      rows.push([plan.chief, w.segment || (w.window && w.window.segment) || "", JSON.stringify(w.window || w).slice(0, 60), w.required, (w.patrols || []).length,
        (w.patrols || []).length >= w.required ? "✔" : ""]);
    }
  }
  const mapDiv = h("div", { id: "map", class: "card", style: "height:420px" });
  const trackRows = tracks.features.map((f) => [f.properties.patroller, f.properties.segment || "", time(f.properties.started_at),
    h("strong", { class: f.properties.valid ? "light-green" : "light-red" }, f.properties.valid === null ? "—" : f.properties.valid ? t("valid") : t("invalid")),
    (f.properties.reasons || []).join("; ")]);
  view.replaceChildren(
    h("div", { class: "card" }, h("h3", {}, t("plans")), table([t("chief"), t("segment"), t("window"), t("required"), t("patrolled"), t("done")], rows)),
    mapDiv,
    h("div", { class: "card" }, h("h3", {}, t("tracks")), table([t("chief"), t("segment"), t("when"), t("valid"), t("reason")], trackRows)));
  const map = await baseMap(mapDiv);
  const segments = L.geoJSON(await api("/v1/geo/segments"), { style: { color: "#1e88e5", weight: 5, opacity: 0.5 } }).addTo(map);
  const layer = L.geoJSON(tracks, {
    style: (f) => ({ color: f.properties.valid ? "#2e9d4a" : "#d93025", weight: 3 }),
    onEachFeature: (f, l) => l.bindTooltip(f.properties.patroller + " · " + (f.properties.reasons || []).join("; ")),
  }).addTo(map);
  const bounds = segments.getBounds().extend(layer.getBounds());
  if (bounds.isValid()) map.fitBounds(bounds);
};

// ---- water works ---------------------------------------------------------------------
PAGES.works = async function (_args, view) {
  const notices = await api("/v1/notices?limit=200");
  const rows = notices.items.map((n) => {
    const s = n.state || {};
    const open = (s.items || []).filter((i) => i.status !== "confirmed").length;
    return [bandDot(n.band), n.project || "", s.contractor || "", n.status || "", time(n.deadline) || "—", open + " / " + (s.items || []).length,
      h("details", {}, h("summary", {}, t("items")), h("ul", {}, (s.items || []).map((i) => h("li", {}, (i.item && (i.item.id + " " + (i.item.title || i.item.action || ""))) + " · " + i.status))))];
  });
  view.replaceChildren(h("div", { class: "card" }, h("h3", {}, t("notices")),
    table(["", t("project"), t("contractor"), t("status"), t("deadline"), t("open_items"), t("items")], rows)));
};

// ---- admin ---------------------------------------------------------------------------
PAGES.admin = async function (_args, view) {
  if (session.me.role !== "admin") { view.replaceChildren(h("p", { class: "error" }, t("not_allowed"))); return; }
  const [users, devices] = await Promise.all([api("/v1/admin/users"), api("/v1/admin/devices")]);
  const status = h("p", { id: "admin-result" });
  const report = (promise) => promise.then(() => { status.className = "ok"; status.textContent = t("saved"); })
    .catch((e) => { status.className = "error"; status.textContent = e.body ? e.body.error + ": " + e.body.reason : e.message; });
  const roles = ["inspector", "dispatcher", "handler", "supervisor", "contractor", "river_chief", "admin"];
  const userRows = users.map((u) => {
    const role = h("select", {}, roles.map((r) => h("option", { value: r, selected: r === u.role }, r)));
    const jurisdiction = h("input", { value: JSON.stringify(u.jurisdiction), size: 40 });
    const disabled = h("input", { type: "checkbox", checked: u.disabled });
    const password = h("input", { type: "password", placeholder: t("new_password"), size: 10 });
    return [u.username, role, jurisdiction, disabled,
      h("button", { type: "button", onclick: () => report(api("/v1/users/" + u.username, { method: "PATCH",
        json: { role: role.value, jurisdiction: JSON.parse(jurisdiction.value), disabled: disabled.checked } })) }, t("save")),
      h("span", {}, password, h("button", { type: "button", class: "secondary", onclick: () => report(api("/v1/admin/users/" + u.username + "/password", { method: "POST", json: { password: password.value } })) }, t("reset_password")))];
  });
  const create = h("form", { class: "filters" },
    h("input", { name: "username", placeholder: t("username"), required: true }),
    h("input", { name: "password", type: "password", placeholder: t("password"), required: true }),
    h("select", { name: "role" }, roles.map((r) => h("option", { value: r }, r))),
    h("input", { name: "jurisdiction", value: "{\"grid_prefixes\":[]}", size: 30 }),
    h("button", { type: "submit" }, t("create_user")));
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(create));
    report(api("/v1/users", { method: "POST", json: { username: v.username, password: v.password, role: v.role, jurisdiction: JSON.parse(v.jurisdiction) } }).then(() => route()));
  });
  const deviceRows = devices.map((d) => [d.username, d.name, d.id, new Date(d.registered_at).toISOString().slice(0, 16), d.live_tokens,
    h("button", { type: "button", class: "secondary", onclick: () => report(api("/v1/admin/devices/" + d.id + "/revoke", { method: "POST" }).then(() => route())) }, t("revoke"))]);
  // The server's one list of kinds (PUT /v1/reference/{kind}, the import command).
  const kinds = (await api("/console/config.json")).reference_kinds;
  const importForm = h("form", { class: "filters", id: "reference-import" },
    h("select", { name: "kind" }, kinds.map((k) => h("option", { value: k.kind }, k.name + " (" + k.kind + ")"))),
    h("input", { name: "file", type: "file", accept: ".json,application/json" }),
    h("button", { type: "submit" }, t("import")));
  const importResult = h("pre", { id: "import-result" });
  importForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = new FormData(importForm);
    const file = v.get("file");
    const body = file && file.size ? await file.text() : "";
    try {
      const r = await api("/v1/reference/" + v.get("kind"), { method: "PUT", body, headers: { "Content-Type": "application/json" } });
      importResult.className = "ok";
      importResult.textContent = t("imported") + "\n" + JSON.stringify(r, null, 2);
    } catch (err) {
      importResult.className = "error";
      importResult.textContent = err.body ? JSON.stringify(err.body, null, 2) : err.message;
    }
  });
  view.replaceChildren(status,
    h("div", { class: "card" }, h("h3", {}, t("users")), table([t("username"), t("role"), t("jurisdiction"), t("disabled"), "", ""], userRows), h("h4", {}, t("create_user")), create),
    h("div", { class: "card" }, h("h3", {}, t("devices")), table([t("username"), t("name"), "id", t("registered_at"), t("live_tokens"), ""], deviceRows)),
    h("div", { class: "card" }, h("h3", {}, t("reference_import")), importForm, importResult));
};
