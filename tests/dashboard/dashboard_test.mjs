// End to end: the dashboard in headless Debian Chromium (driven by playwright-core) during a live
// stream. It starts `sluice serve --http` and a `sluice send --rate` producer on loopback ports,
// opens the dashboard, and asserts that the charts have data points, the batch table has rows and
// a source shows as active. It saves a screenshot as a test artifact.
//
//   node dashboard_test.mjs --sluice BIN --model DIR --images IDX --artifacts DIR
// SLUICE_FASHION_BUNDLE and FASHION_MNIST_DIR override --model and --images, as for the C++ tests.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    sluice: { type: "string" },
    model: { type: "string" },
    images: { type: "string" },
    artifacts: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const sluice = args.sluice;
const model = process.env.SLUICE_FASHION_BUNDLE || args.model;
const images = process.env.FASHION_MNIST_DIR
  ? path.join(process.env.FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz")
  : args.images;
const artifacts = args.artifacts || path.join(os.tmpdir(), "sluice-test-artifacts");
// The policy of tests/support/test_env.h: what the setup provides is required (the test fails,
// naming the script that provides it).
for (const [name, file, script] of [
  ["--sluice", sluice, "the build"],
  ["--model", model, "bash scripts/train-models.sh"],
  ["--images", images, "bash scripts/setup.sh"],
  ["--chromium", args.chromium, "bash scripts/setup.sh"],
]) {
  assert.ok(file && fs.existsSync(file), `${name} ${file} is missing. The project's setup provides it: run ${script}`);
}

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  console.error("playwright-core is not installed: run scripts/setup.sh (npm ci in tests/dashboard)");
  throw e;
}

// Everything this test starts is stopped when it ends, however it ends; and it always ends.
const children = [];
const watchdog = setTimeout(() => {
  console.error("FAIL: the dashboard test did not finish within 240 s");
  for (const c of children) c.kill("SIGKILL");
  process.exit(1);
}, 240_000);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function start(argv, logFile) {
  const log = fs.openSync(logFile, "w");
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", log, log] });
  children.push(child);
  child.exitPromise = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? 128 + os.constants.signals[signal])));
  return child;
}

async function stop(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill("SIGTERM");
  const timer = new Promise((resolve) => setTimeout(() => resolve("timeout"), timeoutMs));
  return Promise.race([child.exitPromise, timer]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  return false;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dashboard-"));
fs.mkdirSync(artifacts, { recursive: true });
const listenPort = await freePort();
const httpPort = await freePort();
const base = `http://127.0.0.1:${httpPort}`;
let browserContext;
let failed = false;

try {
  const serve = start([sluice, "serve", "--listen", `127.0.0.1:${listenPort}`, "--http", `127.0.0.1:${httpPort}`,
    "--model", model, "--output", path.join(dir, "results.jsonl"), "--batch-interval", "500ms",
    "--block-interval", "100ms"], path.join(dir, "serve.log"));
  assert.ok(await waitForHttp(`${base}/api/status`, 60_000),
    "sluice serve --http did not answer: " + fs.readFileSync(path.join(dir, "serve.log"), "utf8"));
  // About 60 s of frames at 200/s: the stream is live for the whole test, which stops it.
  const send = start([sluice, "send", "--to", `127.0.0.1:${listenPort}`, "--rate", "200", "--connections", "2",
    "--limit", "1000", "--repeat", "12", images], path.join(dir, "send.log"));

  browserContext = await chromium.launchPersistentContext(path.join(dir, "chromium-profile"), {
    executablePath: args.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic"],
    viewport: { width: 1400, height: 1000 },
  });
  const page = browserContext.pages()[0] || (await browserContext.newPage());
  const requests = [];
  const pageErrors = [];
  page.on("request", (req) => requests.push(req.url()));
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(msg.text()); });

  await page.goto(`${base}/`, { waitUntil: "load", timeout: 30_000 });
  assert.equal(await page.title(), "sluice · streaming");

  // Live: wait (bounded) until every chart has drawn at least 5 batches, the batch table has rows
  // and a source shows as active.
  const charts = ["input_rate", "scheduling_delay_ms", "processing_time_ms", "total_delay_ms"]
    .flatMap((k) => [`timeline-${k}`, `histogram-${k}`]);
  await page.waitForFunction((ids) => {
    const chartsReady = ids.every((id) => Number(document.getElementById(id)?.dataset.points || 0) >= 5);
    const rows = document.querySelectorAll("#batches tr").length;
    const active = document.querySelector('#sources tr[data-active="true"]');
    return chartsReady && rows >= 5 && active !== null;
  }, charts, { timeout: 90_000, polling: 250 });

  for (const id of charts) {
    const chart = await page.$(`#${id}`);
    const points = Number(await chart.getAttribute("data-points"));
    assert.ok(points >= 5, `${id} has ${points} data points`);
    const canvas = await chart.$("canvas");
    assert.ok(canvas, `${id} draws on a canvas`);
    const box = await canvas.boundingBox();
    assert.ok(box && box.width > 100 && box.height > 50, `${id} canvas is visible: ${JSON.stringify(box)}`);
  }
  const batchRows = await page.$$eval("#batches tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.ok(batchRows.length >= 5, "the batch table has rows");
  assert.ok(batchRows.some((cells) => Number(cells[2]) > 0), "a batch has records: " + JSON.stringify(batchRows));
  const source = await page.$eval('#sources tr[data-active="true"]', (tr) => ({
    text: tr.textContent, state: tr.dataset.state,
  }));
  assert.equal(source.state, "running");
  assert.match(source.text, /tcp-listen 127\.0\.0\.1:\d+/);
  assert.match(source.text, /active/);
  const labels = await page.$$eval("#labels .label-row", (rows) => rows.length);
  assert.ok(labels > 0, "the most frequent labels of the last minute are listed");
  const interval = await page.$eval("#meta", (el) => el.textContent);
  assert.match(interval, /batch interval 500 ms/);

  // Nothing came from anywhere but sluice itself (no CDN), and the page ran without errors.
  const foreign = requests.filter((url) => !url.startsWith(base + "/"));
  assert.deepEqual(foreign, [], "every request goes to sluice itself");
  assert.deepEqual(pageErrors, [], "no errors in the page");

  // It keeps updating by itself: more batches appear without a reload.
  const before = Number(await page.getAttribute("#timeline-input_rate", "data-points"));
  await page.waitForFunction((n) => Number(document.getElementById("timeline-input_rate").dataset.points) > n,
    before, { timeout: 30_000, polling: 250 });

  const screenshot = path.join(artifacts, "dashboard.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(fs.statSync(screenshot).size > 10_000, "the screenshot has content");
  console.log(`dashboard: ${charts.length} charts with data, ${batchRows.length} batch rows, source "${source.text}"`);
  console.log(`screenshot: ${screenshot}`);

  await browserContext.close();
  browserContext = undefined;
  await stop(send, 10_000);
  const code = await stop(serve, 60_000);
  assert.equal(code, 0, "serve stops cleanly: " + fs.readFileSync(path.join(dir, "serve.log"), "utf8").slice(-2000));
} catch (e) {
  failed = true;
  console.error("FAIL:", e);
  for (const name of ["serve.log", "send.log"]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) console.error(`--- ${name} (tail)\n` + fs.readFileSync(file, "utf8").slice(-3000));
  }
} finally {
  if (browserContext) await browserContext.close().catch(() => {});
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  clearTimeout(watchdog);
  if (!failed) fs.rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? "0 passed, 1 failed" : "1 passed, 0 failed");
process.exit(failed ? 1 : 0);
