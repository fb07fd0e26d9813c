// The Node side of the runtime and consumer tests: the mock servers on a shared virtual clock,
// the exports-map resolver, the assertions on what tests/runtimes/scenarios.mjs observed,
// child processes with a time bound, a static file server and headless Chromium.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import { startAnthropicMock, startOpenAIMock } from "../js/mock/index.mjs";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const PKG = join(REPO, "pkg");
export const HERE = fileURLToPath(new URL(".", import.meta.url));
export const BIN = join(REPO, "node_modules", ".bin");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/**
 * Chromium's flags for a closed network (with playwright's `headless: true`): without the
 * background-networking ones it tries, and fails, many connections at every start.
 */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The package as built (scripts/build-pkg.mjs). */
export function builtPackageJson() {
  const file = join(PKG, "package.json");
  assert.ok(existsSync(file), "pkg/ is not built: run scripts/build-pkg.mjs");
  return JSON.parse(readFileSync(file, "utf8"));
}

/**
 * Resolves `subpath` through a package's `exports` map for the given conditions, the way Node,
 * bundlers and runtimes do: the first key (in object order) that is `default` or one of the
 * conditions wins, nested maps recurse. Returns the target ("./web/index.js") or undefined.
 * @param {any} exportsField
 * @param {string} subpath "." or "./slim" ...
 * @param {string[]} conditions
 */
export function resolveExport(exportsField, subpath, conditions) {
  const walk = (/** @type {any} */ v) => {
    if (typeof v === "string") return v;
    if (v === null || typeof v !== "object") return undefined;
    for (const [key, next] of Object.entries(v)) {
      if (key === "default" || conditions.includes(key)) {
        const hit = walk(next);
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  };
  return walk(exportsField?.[subpath]);
}

/** The conditions each consumer resolves with (besides `default`). */
export const CONDITIONS = {
  workerd: ["workerd", "worker", "browser", "import"], // wrangler / Miniflare
  browser: ["browser", "import", "module"], // Vite, webpack for the web, import maps by hand
};

// --- the mocks on one virtual clock ------------------------------------------------------

export const ANTHROPIC_LIMITS = { rpm: 1000, itpm: 2000, otpm: 100_000 };
export const OPENAI_LIMITS = { rpm: 1000, tpm: 3000 };

/**
 * Starts the Anthropic and OpenAI mocks, and the control endpoint the scenarios use to share
 * the virtual time: `GET /now?t=` moves it to `t` (never backwards), `GET /advance?ms=` moves it
 * on; both answer `{ t }`, with CORS so a page can call them.
 */
export async function startEnv() {
  const time = { t: Date.UTC(2026, 0, 1) };
  const now = () => time.t;
  const anthropic = await startAnthropicMock({ now, limits: ANTHROPIC_LIMITS });
  const openai = await startOpenAIMock({ now, limits: OPENAI_LIMITS });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://control");
    const n = Number(url.searchParams.get(url.pathname === "/now" ? "t" : "ms"));
    if (!Number.isFinite(n) || !["/now", "/advance"].includes(url.pathname)) {
      res.writeHead(400, { "access-control-allow-origin": "*" });
      return res.end();
    }
    time.t = url.pathname === "/now" ? Math.max(time.t, n) : time.t + n;
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(JSON.stringify({ t: time.t }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const port = /** @type {import("node:net").AddressInfo} */ (server.address()).port;
  return {
    env: { anthropic: anthropic.url, openai: openai.url, control: `http://127.0.0.1:${port}` },
    anthropic,
    openai,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await Promise.all([anthropic.close(), openai.close()]);
    },
  };
}

// --- what the scenarios must have observed -------------------------------------------------

/** A subtest per scenario: `results` is what `runScenarios` returned in the runtime. */
/**
 * @param {import("node:test").TestContext} t
 * @param {any} results
 * @param {Awaited<ReturnType<typeof startEnv>>} mocks
 */
export async function checkScenarios(t, results, mocks) {
  const check = (/** @type {string} */ name, /** @type {(r: any) => void} */ fn) =>
    t.test(name, () => {
      const r = results[name];
      assert.ok(r, `no result for ${name}`);
      assert.equal(r.error, undefined, `${name} threw in the runtime:\n${r.error}`);
      fn(r);
    });

  await check("corsHidden", (r) => {
    assert.equal(r.hidden.type, r.exposed.type, "both pacers see the same kind of response");
    const hidden = r.hidden.type === "cors";
    // `limits` events: `headers` when limits are learned, `headers_hidden` (once) when CORS
    // hides them all.
    const told = (/** @type {string[]} */ reasons) => reasons.filter((x) => x === "headers_hidden").length;
    assert.equal(told(r.hidden.reasons), hidden ? 1 : 0, `response type ${r.hidden.type}: ${r.hidden.reasons}`);
    assert.equal(r.hidden.reasons.includes("headers"), !hidden, "limits learned only where visible");
    assert.equal(told(r.exposed.reasons), 0, "exposed headers: no headers_hidden event");
    // Where the headers are hidden the pacer learns nothing from them; where they are
    // visible it learns the limits.
    assert.equal(r.hidden.limits.requests?.source, hidden ? undefined : "headers");
    assert.equal(r.exposed.limits.requests?.source, "headers");
  });

  await check("retryAfter", (r) => {
    assert.equal(r.status, 200);
    assert.equal(r.sent, 2);
    assert.deepEqual([r.attempts, r.retries, r.rateLimited], [2, 1, 1]);
    const waited = r.sentAt[1] - r.sentAt[0];
    assert.ok(waited >= 2000 && waited <= 2200, `retried ${waited} ms (virtual) after a retry-after: 2`);
  });

  await check("burstItpm", (r) => {
    assert.deepEqual(r.statuses, Array(10).fill(200));
    assert.equal(r.sent, 10, "no request was refused and retried");
    assert.equal(r.admittedAt.length, 10);
    // 4 x 500 fit the full bucket of 2000; then 500 tokens come back every 15 s.
    for (const [k, at] of /** @type {number[]} */ (r.admittedAt).entries()) {
      assert.ok(
        at >= Math.max(0, k - 3) * 15_000 - 1,
        `request ${k + 1} admitted at ${at} ms, before the bucket held 500`,
      );
    }
    const last = r.admittedAt[9];
    assert.ok(last <= 90_000 * 1.1, `the last request waited until ${last} ms (ideal 90000)`);
  });

  await check("burstTpm", (r) => {
    assert.deepEqual(r.statuses, Array(10).fill(200));
    assert.equal(r.sent, 10, "no request was refused and retried");
    assert.deepEqual(r.admittedAt.slice(0, 5), [0, 0, 0, 0, 0], "5 x 600 fit the full bucket of 3000");
    assert.ok(r.admittedAt[5] > 0, "the sixth request waited for the TPM bucket");
    assert.ok(
      r.admittedAt[9] <= 60_000 * 1.1,
      `the last request waited until ${r.admittedAt[9]} ms (at most 5 x 12000)`,
    );
  });

  await check("abort", (r) => {
    assert.equal(r.queued.first, 200);
    assert.equal(r.queued.rejectedWithReason, true, `the queued call settled with ${JSON.stringify(r.queued.outcome)}`);
    assert.deepEqual(
      [r.queued.queuedAfter, r.queued.sent, r.queued.clockMoved],
      [0, 1, 0],
      "settled at once, never sent",
    );
    assert.equal(r.backoff.rejectedWithReason, true, "aborted in the backoff: rejects with signal.reason");
    assert.equal(r.backoff.name, "AbortError");
    assert.deepEqual([r.backoff.sent, r.backoff.clockMoved], [1, 0]);
    assert.deepEqual(r.preAborted, { rejectedWithReason: true, sent: 0 });
  });

  await check("bodies", (r) => {
    const { json, kinds } = r;
    const perAttempt = (/** @type {any} */ k) => k.inputReserved / k.sent;
    for (const [kind, k] of Object.entries(kinds)) {
      assert.deepEqual([k.status, k.sent, k.retries], [200, 2, 1], `${kind}: one 429, one retry`);
      const sent = mocks.anthropic.log.filter((e) => e.headers["x-body-kind"] === kind);
      assert.equal(sent.length, 2, `${kind}: the mock saw both attempts`);
      for (const e of sent) assert.deepEqual(e.body, JSON.parse(json), `${kind}: the same body each time`);
    }
    assert.equal(kinds.Blob.callerBody, json, "the caller's Blob is still readable");
    assert.equal(kinds.Request.callerBody, json, "the caller's Request is not consumed");
    // Strings and bytes are estimated alike (300 characters of text: about 100 tokens, and the
    // structure), a Request's too (read from a clone); a Blob's body is not read for the
    // estimate, but priced by its size, as ASCII text (issue 14).
    for (const kind of ["string", "Uint8Array", "ArrayBuffer", "Request"]) {
      assert.equal(perAttempt(kinds[kind]), perAttempt(kinds.string), kind);
      assert.equal(kinds[kind].outputReserved, 2 * 33, `${kind}: max_tokens reserved per attempt`);
    }
    assert.ok(perAttempt(kinds.string) >= 100 && perAttempt(kinds.string) <= 120, `${perAttempt(kinds.string)}`);
    assert.equal(kinds.Blob.inputReserved, kinds.Blob.sent * Math.ceil(Buffer.byteLength(json) / 3));
    assert.equal(kinds.Blob.outputReserved, 0);
  });

  await check("learnedLimits", (r) => {
    for (const side of ["anthropic", "openai"]) {
      assert.equal(r[side].status, 200);
      assert.deepEqual(r[side].before, {}, "nothing known before the first response");
    }
    const a = r.anthropic.after;
    assert.deepEqual(
      [a.requests?.limit, a.inputTokens?.limit, a.outputTokens?.limit],
      [ANTHROPIC_LIMITS.rpm, ANTHROPIC_LIMITS.itpm, ANTHROPIC_LIMITS.otpm],
      JSON.stringify(a),
    );
    for (const d of ["requests", "inputTokens", "outputTokens"]) {
      assert.equal(a[d].source, "headers");
      assert.ok(a[d].resetAt >= r.anthropic.now - 1000, `${d}.resetAt is absolute: ${a[d].resetAt}`);
    }
    assert.ok(a.requests.remaining < ANTHROPIC_LIMITS.rpm, "remaining counts the request just sent");
    const o = r.openai.after;
    assert.deepEqual([o.requests?.limit, o.tokens?.limit], [OPENAI_LIMITS.rpm, OPENAI_LIMITS.tpm], JSON.stringify(o));
    assert.equal(o.tokens.source, "headers");
  });

  await check("realTimers", (r) => {
    assert.deepEqual([r.retry.status, r.retry.sent], [200, 2]);
    assert.ok(
      r.retry.elapsed >= 40 && r.retry.elapsed < 5000,
      `retried after ${r.retry.elapsed} ms (retry-after-ms: 40)`,
    );
    assert.deepEqual(r.paced.statuses, [200, 200]);
    const { order } = r.paced;
    assert.ok(
      order.indexOf("admitted 2") >= 0 && order.indexOf("admitted 2") < order.indexOf("response 1"),
      `the 40 ms wait ended on its timer, before the first response: ${order.join(", ")}`,
    );
  });

  await check("usageRead", (r) => {
    assert.deepEqual([r.asJson, r.asText], [7, 5], "the caller's own reads are whole");
    assert.deepEqual([r.outputUsed, r.inFlight], [17, 0], "every answer's usage counted, every call ended");
  });

  await check("streamRead", (r) => {
    assert.ok(r.whole, "a stream reaches the caller byte for byte");
    assert.deepEqual(r.cancelled, [true, true], `streams cancelled, reader and abort (${r.pulls} deltas pulled)`);
    assert.equal(r.abortRead, "rejected with the reason");
    assert.equal(r.inFlight, 0, "every call ended");
    // The first stream's usage; the others' output was never reported.
    assert.equal(r.outputUsed, 4);
  });

  await check("invalidRequests", (r) => {
    for (const k of ["getWithBody", "ftp", "malformed"])
      assert.equal(r[k], "giveup:invalid_request after 1 attempt(s)", k);
  });

  await check("secretErrors", (r) => {
    for (const k of ["malformed", "header", "refused", "body"]) {
      assert.equal(typeof r[k], "object", `${k}: rejects (${r[k]})`);
      assert.deepEqual(r[k].leaks, [], `${k}: the ${r[k].name} holds the key at ${r[k].leaks}`);
    }
  });

  await t.test("the mocks never refused a request for limits", () => {
    assert.equal(mocks.anthropic.stats.limited, 0, mocks.anthropic.printLog());
    assert.equal(mocks.openai.stats.limited, 0, mocks.openai.printLog());
  });
}

/** The `slim` scenario's result (see slimScenario). */
export function checkSlim(/** @type {any} */ r) {
  assert.ok(r, "no slim result");
  assert.equal(r.error, undefined, `slim threw in the runtime:\n${r.error}`);
  assert.match(r.before, /init/, "using llm-pacer/slim before init throws an error that says to call init");
  assert.equal(r.status, 200);
}

// --- processes, files, Chromium ------------------------------------------------------------

/**
 * Runs a command to its end, at most `timeoutMs` (then kills it and fails).
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cwd?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv }} [o]
 */
export function run(cmd, args, { cwd = REPO, timeoutMs = 60_000, env = process.env } = {}) {
  // A required runtime that is missing is a failure that says so (never a skip).
  if (cmd.includes("/") && !existsSync(cmd)) {
    return Promise.reject(
      new Error(`${cmd} is missing: this runtime is required; install it with \`npm ci\` (or scripts/setup.sh)`),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")}: no exit after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => (clearTimeout(timer), reject(e)));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

/** The last line of `stdout` that is a JSON object (a runtime's results). */
export function lastJson(/** @type {string} */ stdout) {
  const line = stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  assert.ok(line, `no JSON results in the output:\n${stdout}`);
  return JSON.parse(line);
}

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
};

/**
 * Serves files on 127.0.0.1: `pages` (exact path -> HTML text) and the files under each
 * `mounts` prefix ("/pkg/" -> a directory). Nothing outside the mounts is served.
 * @param {Record<string, string>} mounts
 * @param {Record<string, string>} [pages]
 */
export async function serveStatic(mounts, pages = {}) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    if (pages[path] !== undefined) {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(pages[path]);
    }
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!path.startsWith(prefix)) continue;
      const root = resolve(dir);
      const file = resolve(root, "." + sep + path.slice(prefix.length));
      if (!file.startsWith(root + sep)) break;
      try {
        const body = await readFile(file);
        const type = TYPES[/** @type {keyof TYPES} */ (extname(file))] ?? "application/octet-stream";
        res.writeHead(200, { "content-type": type });
        return res.end(body);
      } catch {
        break;
      }
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const port = /** @type {import("node:net").AddressInfo} */ (server.address()).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

/**
 * Opens `url` in headless Chromium (Debian's, driven by playwright-core; a fresh profile) and
 * returns what `window.results` (a promise the page sets) resolves to.
 * @param {string} url
 * @param {number} [timeoutMs]
 */
export async function resultsFromPage(url, timeoutMs = 30_000) {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} not found: run scripts/setup.sh as root (apt-get install chromium chromium-driver)`,
  );
  const { chromium } = await import("playwright-core");
  const profile = await mkdtemp(join(tmpdir(), "llm-pacer-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  /** @type {string[]} */
  const problems = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.stack ?? e}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    page.setDefaultTimeout(timeoutMs);
    await page.goto(url);
    try {
      await page.waitForFunction(() => /** @type {any} */ (globalThis).results !== undefined);
    } catch (e) {
      throw new Error(`the page never set window.results:\n${problems.join("\n")}`, { cause: e });
    }
    return await page.evaluate(() => /** @type {any} */ (globalThis).results);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/**
 * What the built package's exports map gives workerd for `sub`, as a path from a module in
 * `tests/js/` (a Worker's module there imports it so).
 * @param {string} sub
 */
export function workerdEntry(sub) {
  const target = resolveExport(builtPackageJson().exports, sub, CONDITIONS.workerd);
  if (!target) throw new Error(`exports["${sub}"] does not resolve for workerd`);
  return relative(join(REPO, "tests", "js"), join(PKG, target))
    .split("\\")
    .join("/");
}

/**
 * The modules of a Worker (path `path`, source `contents`) that imports the package's workerd
 * entries and its Durable Object (`llm-pacer/cloudflare`), for Miniflare with `modulesRoot:
 * REPO`: the entries' files and the Durable Object's `.wasm` as modules of their own.
 * @param {string} path
 * @param {string} contents
 */
export function workerdModules(path, contents) {
  return [
    { type: "ESModule", path, contents },
    ...["web/workerd.js", "web/cloudflare.js", "web/llm_pacer_do.js"].map((f) => ({
      type: "ESModule",
      path: join(PKG, f),
    })),
    { type: "CompiledWasm", path: join(PKG, "llm_pacer_do_bg.wasm") },
  ];
}
