// The demo page (www/), end to end in headless Chromium, plus the page's Wasm exports in Node
// and the `preset` option of the npm package.
//
// * builds the page's module (scripts/www.sh build: the crate with `--features simulator`);
// * calls `simulate`, `backoffSamples` and `presets` in Node (the same module the page loads);
// * serves www/ on 127.0.0.1, drives the page with playwright-core and Debian's Chromium:
//   runs a simulation, checks every number of the results table against `simulate` for the
//   same scenario (and against the native `simulate` CLI), checks the plots are drawn, the
//   backoff strips, the live-batch form (and one live batch against a local fake API, so the
//   key is seen to go to the API and nowhere else), labels, no JavaScript errors, no
//   horizontal overflow on a phone-sized screen, and saves screenshots in www/screenshots/.
//
// Chromium: installed with apt-get when missing; when it cannot be, the browser tests fail
// with the reason (a required runtime is never skipped: CI would stay green without them).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../www/serve.mjs";
import { CHROMIUM, CHROMIUM_ARGS } from "../runtimes/harness.mjs";
import { reportRow } from "./lib/harness.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** Make sure Chromium is there; returns why not when it cannot be. */
function ensureChromium() {
  if (existsSync(CHROMIUM)) return null;
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "chromium", "chromium-driver"], {
      encoding: "utf8",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      timeout: 300_000,
    });
  let r = install();
  if (r.status !== 0) {
    spawnSync("apt-get", ["update"], { encoding: "utf8", timeout: 300_000 });
    r = install();
  }
  if (existsSync(CHROMIUM)) return null;
  return `chromium is not installed and could not be installed (apt-get: ${r.error?.message ?? (r.stderr || "").trim().split("\n").pop()})`;
}

let glue; // the page's Wasm module, in Node
let site; // the static server
let noChromium = null;
let chromium;

before(async () => {
  execFileSync("scripts/www.sh", ["build"], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  glue = await import(new URL("../../www/pkg/llm_pacer.js", import.meta.url));
  glue.initSync({ module: readFileSync(join(root, "www/pkg/llm_pacer_bg.wasm")) });
  site = await startServer({ root: join(root, "www"), npmDir: join(root, "pkg") });
  noChromium = ensureChromium();
  if (!noChromium) ({ chromium } = await import("playwright-core"));
});

after(async () => {
  await site?.close();
});

// --- the page's Wasm exports, in Node ----------------------------------------------------------

test("simulate: every strategy, reproducible, with the time series and the scenario echoed", () => {
  const scenario = { seed: 3, clients: 2, concurrency: 4, workload: { requests: 80 } };
  const a = JSON.parse(glue.simulate(JSON.stringify(scenario)));
  assert.deepEqual(JSON.parse(glue.simulate(scenario)), a, "a string and an object give the same run");
  assert.deepEqual(
    a.reports.map((r) => r.strategy),
    ["llm-pacer", "naive-backoff", "token-window", "sdk-default"],
  );
  assert.deepEqual(a.scenario.limits, { rpm: 50, itpm: 30000, otpm: 8000, tpm: null });
  assert.equal(a.scenario.clients, 2);
  assert.match(a.scenario.summary, /^80 requests, 2 clients x concurrency 4, seed 3\n/);
  for (const r of a.reports) {
    assert.equal(r.requests, 80);
    assert.equal(r.completed + r.failures, 80);
    assert.ok(r.series.length > 3, `${r.strategy} has a time series`);
    assert.equal(
      r.series.reduce((n, s) => n + s.sent, 0),
      r.attempts,
      `${r.strategy}: the series adds up`,
    );
  }
  const pacer = a.reports[0];
  assert.equal(pacer.failures, 0);
  assert.ok(pacer.makespanMs >= pacer.lowerBoundMs * 0.99);
  const other = JSON.parse(glue.simulate({ ...scenario, seed: 4 }));
  assert.notDeepEqual(other.reports[0].series, pacer.series, "the seed matters");
  const one = JSON.parse(glue.simulate({ ...scenario, strategies: ["token-window"] }));
  assert.deepEqual(one.reports, [a.reports[2]]);
});

test("simulate: presets, explicit limits over them, and errors naming the key", () => {
  const p = JSON.parse(
    glue.simulate({ preset: "openai:tier-1:gpt-4o", limits: { rpm: 20 }, workload: { requests: 5 } }),
  );
  assert.deepEqual(p.scenario.limits, { rpm: 20, itpm: null, otpm: null, tpm: 30000 });
  const bare = JSON.parse(glue.simulate({ limits: { otpm: 1000 }, workload: { requests: 5 } }));
  assert.deepEqual(bare.scenario.limits, { rpm: null, itpm: null, otpm: 1000, tpm: null });
  const throws = (input, type, pattern) =>
    assert.throws(
      () => glue.simulate(input),
      (e) => e instanceof type && pattern.test(e.message),
    );
  throws({ preset: "anthropic:tier-9:sonnet" }, RangeError, /`preset`.*did you mean "anthropic:tier-1:sonnet"/);
  throws({ workload: { maxTokens: "many" } }, TypeError, /workload\.maxTokens/);
  throws({ workload: { requests: 0 } }, RangeError, /workload\.requests/);
  throws({ metering: "sometimes" }, RangeError, /metering/);
  throws({ strategies: ["magic"] }, RangeError, /strategies/);
  throws({ p529: 2 }, RangeError, /p529/);
  throws("{not json", SyntaxError, /./);
});

test("backoffSamples: seeded, within each mode's bounds, common draws across modes", () => {
  const opts = { initialDelayMs: 500, maxDelayMs: 8000, multiplier: 2, attempts: 6, samples: 300, seed: 9 };
  const b = JSON.parse(glue.backoffSamples(JSON.stringify(opts)));
  assert.deepEqual(JSON.parse(glue.backoffSamples(opts)), b, "same seed, same delays");
  assert.notDeepEqual(JSON.parse(glue.backoffSamples({ ...opts, seed: 10 })).modes[1], b.modes[1]);
  assert.deepEqual(b.base, [500, 1000, 2000, 4000, 8000, 8000]);
  assert.deepEqual(
    b.modes.map((m) => m.jitter),
    ["none", "full", "equal", "decorrelated", "additive"],
  );
  const mode = (name) => b.modes.find((m) => m.jitter === name).delays;
  b.base.forEach((base, i) => {
    assert.ok(mode("none")[i].every((d) => d === base));
    assert.ok(mode("full")[i].every((d) => d >= 0 && d <= base));
    assert.ok(mode("equal")[i].every((d) => d >= base / 2 && d <= base));
    assert.ok(mode("decorrelated")[i].every((d) => d >= 500 && d <= 8000));
    assert.ok(mode("additive")[i].every((d) => d >= base && d <= base + 1000));
    for (const m of b.modes) assert.equal(m.delays[i].length, 300);
    // Full jitter spreads: its samples are not all alike, and average near base / 2.
    const full = mode("full")[i];
    const mean = full.reduce((a, c) => a + c, 0) / full.length;
    assert.ok(Math.abs(mean / base - 0.5) < 0.1, `full jitter mean ${mean} for base ${base}`);
  });
  // Common random numbers: the same draw u gives full = u * base and equal = base/2 (1 + u).
  const [f, e] = [mode("full")[2][17], mode("equal")[2][17]];
  assert.ok(Math.abs(e - (1000 + f / 2)) < 0.2, `${f} ${e}`);
  assert.throws(() => glue.backoffSamples({ initialDelayMs: 5000, maxDelayMs: 10 }), /maxDelayMs/);
  assert.throws(() => glue.backoffSamples({ attempts: 0 }), RangeError);
});

test("presets: every row with its source, read date and limits", () => {
  const rows = JSON.parse(glue.presets());
  assert.ok(rows.length >= 30);
  for (const p of rows) {
    assert.match(p.name, /^(anthropic|openai):[a-z0-9-]+:[a-z0-9.-]+$/);
    assert.equal(`${p.provider}:${p.tier}:${p.class}`, p.name);
    assert.match(p.source, /^https:\/\/(platform\.claude\.com|docs\.claude\.com|platform\.openai\.com)\//);
    assert.match(p.read, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(p.limits.rpm > 0);
  }
  const t1 = rows.find((p) => p.name === "anthropic:tier-1:sonnet");
  assert.deepEqual(t1.limits, { rpm: 50, itpm: 30000, otpm: 8000, tpm: null });
  assert.equal(t1.metering, "reservation");
  assert.equal(rows.find((p) => p.name === "anthropic:build:sonnet").metering, "realtime");
});

// --- the `preset` option of the npm package ------------------------------------------------

test("new Pacer({ preset }): sets the limits, explicit limits win, unknown names throw", async () => {
  const { Pacer } = await import("llm-pacer");
  // The limits of the key a request makes (configured limits show as soon as it is queued).
  const dims = (p) => {
    p.fetch("https://api.example/v1/messages", { method: "POST", body: "{}" });
    const { key, model, ...d } = p.limits()[0];
    return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, [v.limit, v.source]]));
  };
  const fetch = async () => new Response("{}");
  const p = new Pacer({ preset: "anthropic:tier-1:sonnet", fetch });
  assert.deepEqual(dims(p), {
    requests: [50, "configured"],
    inputTokens: [30000, "configured"],
    outputTokens: [8000, "configured"],
  });
  p.close();
  const q = new Pacer({ preset: "anthropic:tier-4:opus", limits: { otpm: 1234, tpm: 99999 }, fetch });
  assert.deepEqual(dims(q), {
    requests: [4000, "configured"],
    inputTokens: [2000000, "configured"],
    outputTokens: [1234, "configured"],
    tokens: [99999, "configured"],
  });
  q.close();
  const o = new Pacer({ preset: "openai:tier-1:gpt-4o-mini", fetch });
  assert.deepEqual(dims(o), { requests: [500, "configured"], tokens: [200000, "configured"] });
  o.close();
  assert.throws(
    () => new Pacer({ preset: "anthropic:tier-1:sonet" }),
    (e) => e instanceof RangeError && /`preset`/.test(e.message) && /"anthropic:tier-1:sonnet"/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ preset: 1 }),
    (e) => e instanceof TypeError && /`preset`/.test(e.message),
  );
  // A preset's limits are validated with the explicit ones: a bad explicit value still throws.
  assert.throws(() => new Pacer({ preset: "anthropic:tier-1:sonnet", limits: { rpm: -1 } }), /limits\.rpm/);
});

// --- the page in Chromium --------------------------------------------------------------------

/** A fresh browser with its own profile directory; `use(page, errors)` runs in it. */
async function withPage(_t, viewport, use) {
  if (noChromium) assert.fail(`${noChromium}: the browser tests need it (scripts/setup.sh as root installs it)`);
  const profile = mkdtempSync(join(tmpdir(), "llm-pacer-www-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  const errors = [];
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    await page.goto(site.url);
    await page.waitForSelector("body[data-ready=true]");
    await use(page, errors);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const shots = join(root, "www/screenshots");

test("the page runs a simulation whose table matches the simulator, and draws it", { timeout: 600_000 }, async (t) => {
  await withPage(t, { width: 1280, height: 900 }, async (page, errors) => {
    // A scenario unlike the defaults: a preset, two clients, 529s, another seed.
    await page.selectOption("#preset", "anthropic:tier-1:haiku");
    const form = {
      requests: "150",
      inputMedian: "1500",
      maxTokens: "1024",
      clients: "2",
      concurrency: "3",
      p529: "0.05",
      seed: "7",
    };
    for (const [name, value] of Object.entries(form)) await page.fill(`#sim-form [name=${name}]`, value);
    assert.equal(await page.inputValue("#sim-form [name=itpm]"), "50000", "the preset filled the limits");
    assert.equal(await page.inputValue("#sim-form [name=tpm]"), "");
    assert.match(await page.textContent("#preset-source"), /docs\.claude\.com|source/);
    await page.click("#sim-run");
    await page.waitForSelector("body[data-simulated='1']");
    assert.match(await page.textContent("#sim-status"), /^Simulated 4 strategies/);

    const scenario = {
      seed: 7,
      clients: 2,
      concurrency: 3,
      limits: { rpm: 50, itpm: 50000, otpm: 10000, tpm: null },
      p529: 0.05,
      metering: "reservation",
      learnLimits: false,
      workload: { requests: 150, inputMedian: 1500, maxTokens: 1024 },
    };
    const expected = JSON.parse(glue.simulate(JSON.stringify(scenario)));
    const table = await page.$$eval("#results tbody tr", (rows) =>
      rows.map((r) => [...r.children].map((c) => c.textContent.trim())),
    );
    assert.deepEqual(table, expected.reports.map(reportRow));
    assert.equal(await page.textContent("#sim-summary"), expected.scenario.summary);
    assert.ok(
      expected.reports.some((r) => r.overloaded > 0),
      "the scenario exercises 529s",
    );

    // The native CLI prints the same numbers for the same scenario.
    const cli = execFileSync(
      "cargo",
      [
        "run",
        "--quiet",
        "--bin",
        "simulate",
        "--",
        "--clients",
        "2",
        "--requests",
        "150",
        "--rpm",
        "50",
        "--itpm",
        "50000",
        "--otpm",
        "10000",
        "--concurrency",
        "3",
        "--seed",
        "7",
        "--p529",
        "0.05",
      ],
      { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    const cliRows = cli
      .split("\n")
      .filter((l) => /^(llm-pacer|naive-backoff|token-window|sdk-default) /.test(l))
      .map((l) =>
        l.match(/^(\S+)\s+(\S+ s)\s+(\S+ s)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+ s|-)\s+(\S+ s|-)/).slice(1),
      );
    assert.deepEqual(
      cliRows,
      table.map((row) => row.map((c) => c.replace(" (stopped)", ""))),
    );

    // Plots: one path per strategy, with real data, and the limit lines.
    const plots = await page.$$eval("#plots figure", (figs) =>
      figs.map((f) => ({
        id: f.id,
        paths: [...f.querySelectorAll("path.series")].map((p) => ({
          key: p.dataset.series,
          points: Number(p.dataset.points),
          ys: new Set(p.getAttribute("d").match(/[\d.]+(?=L|$)/g)).size,
        })),
        limit: f.querySelector("line.limit") !== null,
        label: f.querySelector("svg").getAttribute("aria-labelledby"),
      })),
    );
    assert.deepEqual(
      plots.map((p) => p.id),
      ["plot-input", "plot-output", "plot-requests", "plot-429", "plot-queue"],
    );
    for (const p of plots) {
      assert.equal(p.paths.length, 4, `${p.id}: a line per strategy`);
      assert.ok(p.label, `${p.id} is labelled`);
      for (const s of p.paths) assert.ok(s.points > 10, `${p.id}/${s.key}: ${JSON.stringify(s)}`);
      // Real data, not a flat line: every strategy's traffic varies; 429s only for some.
      const varied = p.paths.filter((s) => s.ys > 3).length;
      assert.ok(p.id === "plot-429" ? varied >= 2 : varied === 4, `${p.id}: ${JSON.stringify(p.paths)}`);
    }
    assert.equal(plots[3].paths.find((s) => s.key === "llm-pacer").ys, 1, "llm-pacer: no 429 at all");
    assert.deepEqual(
      plots.map((p) => p.limit),
      [true, true, true, false, false],
    );

    // Hiding a strategy redraws without it.
    await page.uncheck("#legend input[value=naive-backoff]");
    assert.equal(await page.$$eval("#plot-input path.series", (ps) => ps.length), 3);
    await page.check("#legend input[value=naive-backoff]");

    // An OpenAI preset: TPM instead of ITPM/OTPM, and a tokens-per-minute plot.
    await page.selectOption("#preset", "openai:tier-1:gpt-4o-mini");
    assert.equal(await page.inputValue("#sim-form [name=tpm]"), "200000");
    assert.equal(await page.inputValue("#sim-form [name=itpm]"), "");
    await page.click("#sim-run");
    await page.waitForSelector("body[data-simulated='2']");
    assert.ok(await page.$("#plot-tokens line.limit"));

    // The clients through one store: the scenario says so.
    assert.doesNotMatch(await page.textContent("#sim-summary"), /through a store/);
    await page.check("#sim-form [name=store]");
    await page.click("#sim-run");
    await page.waitForSelector("body[data-simulated='3']");
    assert.match(await page.textContent("#sim-summary"), /share their limits through a store \(2 ms a reservation\)/);

    // Backoff strips: five modes, one row per retry, every sample placed.
    const strips = await page.$$eval("#backoff-plots figure", (figs) =>
      figs.map((f) => ({
        id: f.id,
        rows: [...f.querySelectorAll("g[data-row]")].map((g) => [
          Number(g.dataset.samples),
          g.querySelectorAll("rect").length,
        ]),
      })),
    );
    assert.deepEqual(
      strips.map((s) => s.id),
      ["backoff-none", "backoff-full", "backoff-equal", "backoff-decorrelated", "backoff-additive"],
    );
    for (const s of strips) {
      assert.equal(s.rows.length, 6);
      for (const [samples, bars] of s.rows) assert.ok(samples === 400 && bars >= 1);
    }
    assert.ok(strips[1].rows[5][1] > 10, "full jitter spreads over many bins");
    await page.fill("#backoff-form [name=attempts]", "3");
    await page.click("#backoff-form button[type=submit]");
    assert.equal(await page.$$eval("#backoff-full g[data-row]", (g) => g.length), 3);

    // Every control has a label; the key field is a password field that is never stored.
    const unlabelled = await page.$$eval("input, select, textarea", (els) =>
      els.filter((e) => !e.labels || e.labels.length === 0).map((e) => e.name || e.id),
    );
    assert.deepEqual(unlabelled, []);
    assert.equal(await page.getAttribute("#live-form [name=key]", "type"), "password");
    assert.equal(await page.getAttribute("#live-form [name=key]", "autocomplete"), "off");
    assert.ok(await page.isVisible("#live-run"));

    mkdirSync(shots, { recursive: true });
    await page.selectOption("#preset", "anthropic:tier-1:sonnet");
    await page.fill("#sim-form [name=requests]", "300");
    await page.fill("#sim-form [name=clients]", "1");
    await page.fill("#sim-form [name=concurrency]", "5");
    await page.fill("#sim-form [name=p529]", "0");
    await page.fill("#sim-form [name=seed]", "1");
    await page.click("#sim-run");
    // The fourth run (waiting for a third passed at once, before the run, or never, when the
    // run had ended first: the flake seen beside a busy machine).
    await page.waitForSelector("body[data-simulated='4']");
    await page.screenshot({ path: join(shots, "www.png"), fullPage: true });
    assert.deepEqual(errors, []);
  });
});

test("the page fits a phone-sized screen and works from the keyboard", { timeout: 300_000 }, async (t) => {
  await withPage(t, { width: 390, height: 844 }, async (page, errors) => {
    await page.focus("#sim-form [name=requests]");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("60");
    await page.keyboard.press("Enter"); // submits the form
    await page.waitForSelector("body[data-simulated='1']");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await page.screenshot({ path: join(shots, "www-phone.png"), fullPage: true });
    assert.deepEqual(errors, []);
  });
});

test("a live batch goes through the npm package to the API, and the key nowhere else", {
  timeout: 300_000,
}, async (t) => {
  assert.ok(existsSync(join(root, "pkg/web/index.js")), "pkg/ is not built: run scripts/build-pkg.mjs first");
  // A fake Messages API on loopback that lets the page's origin read it (CORS).
  const seen = [];
  let n = 0;
  const api = createServer((req, res) => {
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "*",
      "access-control-expose-headers": "retry-after, retry-after-ms, anthropic-ratelimit-requests-limit",
    };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ key: req.headers["x-api-key"], url: req.url, body: JSON.parse(body) });
      if (++n === 2) {
        res.writeHead(429, { ...cors, "content-type": "application/json", "retry-after": "1", "retry-after-ms": "5" });
        return res.end(JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }));
      }
      res.writeHead(200, { ...cors, "content-type": "application/json", "anthropic-ratelimit-requests-limit": "50" });
      res.end(JSON.stringify({ type: "message", content: [], usage: { input_tokens: 12, output_tokens: 3 } }));
    });
  });
  await new Promise((ok) => api.listen(0, "127.0.0.1", ok));
  try {
    await withPage(t, { width: 1280, height: 900 }, async (page, errors) => {
      const key = "sk-test-not-a-real-key-123";
      await page.fill("#live-form [name=baseUrl]", `http://127.0.0.1:${api.address().port}`);
      await page.fill("#live-form [name=key]", key);
      await page.fill("#live-form [name=requests]", "3");
      await page.selectOption("#live-preset", "anthropic:tier-1:haiku");
      await page.click("#live-run");
      await page.waitForFunction(() => /succeeded/.test(document.querySelector("#live-status").textContent));
      const statusText = await page.textContent("#live-status");
      assert.match(statusText, /^3 of 3 succeeded/);
      assert.match(statusText, /1 retries, 1 429s/);
      assert.equal(seen.length, 4);
      assert.ok(seen.every((s) => s.key === key && s.url === "/v1/messages" && s.body.max_tokens === 64));
      const log = await page.textContent("#live-log");
      assert.match(log, /rate_limited/);
      assert.ok(!log.includes(key) && !statusText.includes(key), "the key is never shown");
      const stored = await page.evaluate(
        () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie,
      );
      assert.ok(!stored.includes(key), "the key is never stored");
      await page.click("#live-forget");
      assert.equal(await page.inputValue("#live-form [name=key]"), "");
      // Chromium reports the fake API's 429 as a failed resource load; nothing else may fail.
      assert.deepEqual(
        errors.filter((e) => !/status of 429/.test(e)),
        [],
      );
    });
  } finally {
    await new Promise((ok) => api.close(ok));
  }
});
