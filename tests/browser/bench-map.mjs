// Benchmark: the console's map page with 10,000 cases, in headless Chromium, against a
// real server on loopback (demo city + 10,000 reported cases stored in bulk). Prints one
// JSON line: per run the time from navigation to "every case drawn" (the map's own
// marker layer has added every point and two animation frames have passed, so the canvas
// has painted them: body[data-map-ready] = the count drawn), with the page's phases
// (page: filters, cells and segments, while the cases' GeoJSON is already on its way;
// cases_wait: the rest of the wait for it; parse; build: the point layer; draw: until
// painted), the server's time for the map's GeoJSON alone, the date and the load. The target is ≤ 2 s; a figure, not a pass/fail test.
//   node tests/browser/bench-map.mjs [cases] [runs]
import { loadavg, cpus } from "node:os";
import { startServer, startBrowser, signIn } from "./harness.mjs";

const cases = Number(process.argv[2] || 10000);
const runCount = Number(process.argv[3] || 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startServer(["--no-day", "--cases", String(cases)], 1_800_000);
const browser = await startBrowser();
try {
  const page = await browser.context.newPage();
  await signIn(page, server.url, "admin", "admin-demo-pass");
  const token = await page.evaluate(() => sessionStorage.getItem("fieldloop.token"));
  const loadBefore = loadavg()[0];
  const runs = [];
  for (let i = 0; i < runCount; i++) {
    // The server alone: the GeoJSON the page asks for, fetched and read whole.
    const asked = performance.now();
    const body = await (await fetch(server.url + "/v1/cases.geojson?properties=map", { headers: { Authorization: "Bearer " + token } })).arrayBuffer();
    const serverMs = Math.round(performance.now() - asked);

    await page.goto("about:blank");
    const started = Date.now();
    await page.goto(server.url + "/#/map");
    await page.waitForSelector("body[data-map-ready]", { timeout: 120_000 });
    runs.push({
      total_ms: Date.now() - started,
      shown: Number(await page.getAttribute("body", "data-map-ready")),
      phases_ms: JSON.parse(await page.getAttribute("body", "data-map-phases")),
      geojson_server_ms: serverMs,
      geojson_bytes: body.byteLength,
    });
  }
  const totals = runs.map((r) => r.total_ms);
  console.log(JSON.stringify({
    date: new Date().toISOString(),
    cores: cpus().length,
    load_1min: [Number(loadBefore.toFixed(2)), Number(loadavg()[0].toFixed(2))],
    server_binary: process.env.CONSOLE_TEST_SERVER || "target/debug/console-test-server",
    cases: runs[0].shown,
    median_ms: median(totals),
    target_ms: 2000,
    met: median(totals) <= 2000,
    runs,
  }));
} finally {
  await browser.close();
  await server.stop();
}
