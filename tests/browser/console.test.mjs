// The console in headless Chromium against a real server on loopback with the demo city
// after its simulated day. Screenshots go to target/browser/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startServer, startBrowser, signIn, shots } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
}, { timeout: 960_000 });

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function page(username, password) {
  const p = await browser.context.newPage();
  p.setDefaultTimeout(20_000);
  await signIn(p, server.url, username, password);
  return p;
}

async function api(p, pathname) {
  return p.evaluate(async (url) => {
    const r = await fetch(url, { headers: { Authorization: "Bearer " + sessionStorage.getItem("fieldloop.token") } });
    return r.json();
  }, pathname);
}

test("a dispatcher signs in and sees the city's cases on the map; a click opens a case", async () => {
  const p = await page("dispatch-xihu", "xihu-demo-2026");
  await p.goto(server.url + "/#/map");
  await p.waitForSelector("body[data-map-ready]");
  const shown = Number(await p.getAttribute("body", "data-map-ready"));
  // 12 cases of the day plus the two citizen reports.
  assert.ok(shown >= 14, `map shows ${shown} cases`);
  assert.equal(await p.textContent("#case-count"), String(shown));
  await p.screenshot({ path: path.join(shots, "map.png") });

  // Filter by band: only overdue ones (C08 went overdue during the day).
  await p.selectOption("select[name=band]", "red");
  await p.click("#filters button[type=submit]");
  await p.waitForFunction(() => document.getElementById("case-count").textContent !== "" && Number(document.body.dataset.mapReady) < 14);
  const red = Number(await p.getAttribute("body", "data-map-ready"));
  assert.ok(red >= 1 && red < shown, `red filter shows ${red}`);

  // Click the marker of that overdue case on the canvas.
  const geo = await api(p, "/v1/cases.geojson?band=red");
  const [lon, lat] = geo.features[0].geometry.coordinates;
  const point = await p.evaluate(([la, lo]) => currentMap.latLngToContainerPoint([la, lo]), [lat, lon]);
  const box = await p.locator("#map").boundingBox();
  await p.mouse.click(box.x + point.x, box.y + point.y);
  await p.waitForURL(/#\/case\//);
  await p.waitForSelector("#case-status");
  await p.close();
});

test("a case page shows the verdict with each check's reason, the log by name and photos", async () => {
  const p = await page("dispatch-xihu", "xihu-demo-2026");
  const closed = await api(p, "/v1/cases?status=closed&limit=50");
  // A reworked case: its latest verdict passed, its log holds the failed one.
  let target = null;
  for (const row of closed.items) {
    const detail = await api(p, "/v1/cases/" + row.id);
    if (detail.rework_count > 0) { target = detail; break; }
  }
  assert.ok(target, "a reworked, closed case exists after the demo day");
  await p.goto(server.url + "/#/case/" + target.id);
  await p.waitForSelector("#verdict li");
  const reasons = await p.locator("#verdict li").allTextContents();
  assert.ok(reasons.length >= 3, `verdict lists ${reasons.length} checks`);
  for (const check of target.verdict.checks) {
    assert.ok(reasons.some((r) => r.includes(check.reason)), `check ${check.name} shows its reason`);
  }
  const log = await p.locator("table").last().textContent();
  assert.match(log, /insp-|inspector/, "the event log names people");
  assert.match(log, /系统 \(server\)/, "the server's events are marked");
  await p.waitForFunction(() => [...document.querySelectorAll(".photos img")].some((i) => i.src.startsWith("blob:")));
  await p.screenshot({ path: path.join(shots, "case.png"), fullPage: true });
  await p.close();
});

test("a dispatcher dispatches a returned case and it leaves the dispatch queue", async () => {
  const p = await page("dispatch-xihu", "xihu-demo-2026");
  await p.goto(server.url + "/#/queues/to_dispatch");
  const link = p.locator(`#queue-to_dispatch a[data-case="${server.to_dispatch}"]`);
  await link.waitFor();
  const before = Number(await p.textContent('button[data-queue="to_dispatch"] .count'));
  await link.click();
  const form = p.locator('form[data-action="case.dispatched"]');
  await form.waitFor();
  const other = server.returned_by === "enforcement-xihu" ? "sanitation-xihu" : "enforcement-xihu";
  await form.locator("select[name=unit]").selectOption(other);
  await form.locator("button").click();
  await p.waitForSelector("#action-result.ok");
  assert.equal(await p.textContent("#case-status"), "已派遣");
  await p.goto(server.url + "/#/queues/to_dispatch");
  await p.waitForSelector('button[data-queue="to_dispatch"]');
  const after = Number(await p.textContent('button[data-queue="to_dispatch"] .count'));
  assert.equal(after, before - 1);
  assert.equal(await p.locator(`a[data-case="${server.to_dispatch}"]`).count(), 0);
  await p.screenshot({ path: path.join(shots, "queues.png") });
  await p.close();
});

test("a citizen report waits in the register queue, marked as such", async () => {
  const p = await page("dispatch-xihu", "xihu-demo-2026");
  await p.goto(server.url + "/#/queues/to_register");
  const row = p.locator(`#queue-to_register a[data-case="${server.to_register}"]`);
  await row.waitFor();
  assert.match(await p.locator("#queue-to_register").textContent(), /市民上报/);
  await p.close();
});

test("the ranking shows units by name with lights, a trend, and a CSV with BOM", async () => {
  const p = await page("dispatch-xihu", "xihu-demo-2026");
  await p.goto(server.url + "/#/ranking/2026-11");
  await p.waitForSelector("#ranking-units table");
  const text = await p.textContent("#ranking-units");
  assert.match(text, /西湖区城管执法大队/);
  assert.match(text, /按期结案率/);
  assert.equal(await p.locator("#ranking-units tbody tr").count(), 6);
  assert.ok(await p.locator("#trend polyline").count() >= 1, "trend chart drawn");
  const [download] = await Promise.all([
    p.waitForEvent("download"),
    p.click("text=下载单位评价 CSV"),
  ]);
  assert.match(download.suggestedFilename(), /^综合评价-单位-2026-11\.csv$/);
  const bytes = readFileSync(await download.path());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8 BOM");
  assert.match(bytes.toString("utf8"), /西湖区/);
  await p.screenshot({ path: path.join(shots, "ranking.png"), fullPage: true });

  // A month in the future says so and ranks nobody.
  await p.goto(server.url + "/#/ranking/2027-03");
  await p.waitForSelector("#ranking-message");
  assert.match(await p.textContent("#ranking-message"), /尚未到来/);
  assert.equal(await p.locator("#ranking-units tbody tr td:first-child").first().textContent(), "—");
  await p.close();
});

test("an admin imports a bad reference file and sees the server's error", async () => {
  const p = await page("admin", "admin-demo-pass");
  await p.goto(server.url + "/#/admin");
  await p.waitForSelector("#reference-import");
  assert.ok(await p.locator("text=dispatch-xihu").count() >= 1, "users listed");
  // One list of kinds: each option is a kind the import endpoint takes (its 404 names
  // them all), shown by its Chinese name with the API name beside it.
  const options = await p.locator("#reference-import select[name=kind] option").evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  const unknown = await p.evaluate(async () => {
    const r = await fetch("/v1/reference/no-such-kind", { method: "PUT", body: "{}",
      headers: { Authorization: "Bearer " + sessionStorage.getItem("fieldloop.token"), "Content-Type": "application/json" } });
    return r.json();
  });
  const accepted = unknown.reason.split("; one of ")[1].split(", ");
  assert.deepEqual(options.map(([value]) => value).sort(), [...accepted].sort());
  assert.ok(options.some(([value, text]) => value === "categories" && text === "部件事件分类 (categories)"), JSON.stringify(options));
  assert.ok(options.every(([value, text]) => /[\u4e00-\u9fff]/.test(text) && text.endsWith("(" + value + ")")), JSON.stringify(options));
  await p.selectOption("#reference-import select[name=kind]", "categories");
  await p.setInputFiles("#reference-import input[type=file]", {
    name: "categories.json", mimeType: "application/json", buffer: Buffer.from('{"categories": [{"code": "99"}]'),
  });
  await p.click("#reference-import button[type=submit]");
  await p.waitForSelector("#import-result.error");
  const shown = JSON.parse(await p.textContent("#import-result"));
  assert.ok(shown.error && shown.reason, "the error body {error, reason} is shown");
  await p.screenshot({ path: path.join(shots, "admin-import.png"), fullPage: true });
  await p.close();
});

test("a dispatcher sees both values of a field two people edited at once, keeps one, and the conflict is gone", async () => {
  // An inspector who did not report the case reads the conflict but gets no buttons.
  const q = await page("insp-wang", "xihu-demo-2026");
  await q.goto(server.url + "/#/case/" + server.conflicted.case);
  await q.locator('.conflict[data-field="description"]').waitFor();
  assert.equal(await q.locator("button.keep-value").count(), 0);
  await q.close();

  const p = await page("dispatch-xihu", "xihu-demo-2026");
  await p.goto(server.url + "/#/case/" + server.conflicted.case);
  const conflict = p.locator('.conflict[data-field="description"]');
  await conflict.waitFor();
  const shown = await conflict.locator(".conflict-value").allTextContents();
  assert.deepEqual([...shown].sort(), [...server.conflicted.values].sort());
  await p.screenshot({ path: path.join(shots, "case-conflict.png"), fullPage: true });
  const keep = server.conflicted.values[1];
  await conflict.locator(`button.keep-value[data-value="${keep}"]`).click();
  await p.waitForSelector("#action-result.ok");
  // The page is drawn again from the server's copy: no conflict left, the value kept.
  await p.waitForSelector(".conflict", { state: "detached" });
  assert.match(await p.textContent("main"), new RegExp(keep));
  const detail = await api(p, "/v1/cases/" + server.conflicted.case);
  assert.deepEqual(detail.field_conflicts, []);
  assert.equal(detail.description, keep);
  await p.close();
});

test("river chiefs' plans and tracks, water-works notices, and English", async () => {
  const p = await page("chief-district", "xihu-demo-2026");
  await p.waitForSelector("text=巡河计划完成情况");
  const tracks = await p.locator("table").last().textContent();
  assert.match(tracks, /无效/, "the invalid patrol is shown with its reasons");
  assert.match(tracks, /chief-gudang/);
  await p.screenshot({ path: path.join(shots, "rivers.png"), fullPage: true });
  await p.click("#lang");
  await p.waitForSelector("text=Patrol plan progress");
  await p.click("#lang");
  await p.close();

  const s = await page("supervisor", "supervise-demo-pass");
  await s.waitForSelector("text=整改通知单");
  assert.match(await s.textContent("main"), /canal-2026/);
  await s.close();
});
