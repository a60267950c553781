// Shared by the browser tests and the map benchmark: starts the console test server (a
// real server on loopback with the demo city) and a headless Chromium with a fresh
// profile, and signs in through the login form.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const shots = path.join(root, "target", "browser");

export async function startServer(args = [], timeoutMs = 900_000) {
  // While developing: reuse a running server by passing its ready line.
  if (process.env.CONSOLE_TEST_READY) return { ...JSON.parse(process.env.CONSOLE_TEST_READY), async stop() {} };
  const binary = process.env.CONSOLE_TEST_SERVER || path.join(root, "target", "debug", "console-test-server");
  const child = spawn(binary, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("console-test-server did not get ready in time")), timeoutMs);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error("console-test-server exited with " + code)); });
    lines.once("line", (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
  });
  return {
    ...ready,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function startBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), "fieldloop-chromium-"));
  mkdirSync(shots, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function signIn(page, url, username, password) {
  await page.goto(url + "/");
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("form#login button[type=submit]");
  await page.waitForSelector("#nav:not([hidden])");
}
