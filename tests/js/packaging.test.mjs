// The npm package as users get it: `npm pack` in pkg/ (built by scripts/build-pkg.mjs), the
// tarball's files against what the exports map needs (no stray file, the .wasm included), and
// the tarball installed (offline, from the file: it has no dependencies) into scratch consumer
// projects in a temp dir: a Node ESM one (`import { Pacer } from "llm-pacer"`), a Node CJS one
// (`require("llm-pacer")`), the `./slim` entry (a clear error before `init`, then working), the
// `./simulate` entry from both module systems, and a TypeScript type-check of both module
// systems against the shipped declarations.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const pkgDir = join(root, "pkg");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

let tmp;
let tarball;
let files; // paths inside the tarball, without the leading "package/"
let unpacked; // the tarball extracted: <unpacked>/package/...

const consumers = new Map();

/** A consumer project with the tarball installed (once per name); resolves to its directory. */
function consumer(name, packageJson) {
  if (!consumers.has(name)) consumers.set(name, install(name, packageJson));
  return consumers.get(name);
}

async function install(name, packageJson) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true, ...packageJson }));
  await run(npm, ["install", tarball, "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir });
  return dir;
}

/** Run `node file` in `dir`; its stdout parsed as JSON. */
async function node(dir, file, source) {
  writeFileSync(join(dir, file), source);
  const { stdout } = await run(process.execPath, [file], { cwd: dir, timeout: 20_000 });
  return JSON.parse(stdout);
}

// A tiny LLM-like server for the consumers: a 429 with a 5 ms hint first, then usage JSON.
const SERVER = `
  let hits = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (++hits === 1) {
        res.writeHead(429, { "content-type": "application/json", "retry-after-ms": "5" });
        return res.end('{"type":"error","error":{"type":"rate_limit_error"}}');
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"type":"message","usage":{"input_tokens":4,"output_tokens":2}}');
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = "http://127.0.0.1:" + server.address().port + "/v1/messages";
  const requestInit = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ max_tokens: 8, messages: [] }) };
  async function call(Pacer) {
    const pacer = new Pacer({ retry: { maxRetries: 2 } });
    const res = await pacer.fetch(url, requestInit);
    const body = await res.json();
    while (pacer.stats().inFlight > 0) await new Promise((r) => setImmediate(r));
    const { attempts, inputTokensUsed } = pacer.stats();
    pacer.close();
    return { status: res.status, type: body.type, attempts, inputTokensUsed };
  }
`;

before(async () => {
  assert.ok(existsSync(join(pkgDir, "package.json")), "pkg/ is not built: run scripts/build-pkg.mjs");
  tmp = mkdtempSync(join(tmpdir(), "llm-pacer-pack-"));
  const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", tmp, "--loglevel=error"], { cwd: pkgDir });
  tarball = join(tmp, JSON.parse(stdout)[0].filename);
  files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l && !l.endsWith("/"))
    .map((l) => {
      assert.ok(l.startsWith("package/"), l);
      return l.slice("package/".length);
    })
    .sort();
  // Both consumer projects install while the first test runs.
  consumer("esm-consumer", { type: "module" }).catch(() => {});
  consumer("cjs-consumer", {}).catch(() => {});
  unpacked = join(tmp, "unpacked");
  mkdirSync(unpacked);
  execFileSync("tar", ["-xzf", tarball, "-C", unpacked]);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Every file a string or condition object of the exports map points at. */
function targets(value) {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(targets);
  if (value && typeof value === "object") return Object.values(value).flatMap(targets);
  return [];
}

/** The relative files a shipped file loads: imports, requires, `new URL(.., import.meta.url)`, `${__dirname}/..`. */
function references(path, text) {
  const out = [];
  const dir = posix.dirname(path);
  const patterns = [
    /\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\brequire\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /\bnew URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
    /\$\{__dirname\}\/([^`"'\s]+)/g,
  ];
  for (const re of patterns) {
    for (const [, ref] of text.matchAll(re)) {
      let target = posix.normalize(posix.join(dir, ref));
      // In declaration files `./index.js` means its declarations.
      if (/\.d\.c?ts$/.test(path)) target = target.replace(/\.js$/, ".d.ts").replace(/\.cjs$/, ".d.cts");
      out.push(target);
    }
  }
  return out;
}

test("the tarball holds exactly what the exports map needs (the .wasm included)", () => {
  const manifest = JSON.parse(readFileSync(join(unpacked, "package", "package.json"), "utf8"));
  assert.equal(manifest.name, "llm-pacer");
  assert.equal(manifest.sideEffects, false);
  assert.deepEqual(manifest.dependencies ?? {}, {}, "no runtime dependencies");
  for (const key of Object.keys(manifest.exports))
    assert.ok(!key.includes("*"), `pattern export ${key}: extend this test`);
  assert.ok(
    "." in manifest.exports &&
      "./slim" in manifest.exports &&
      "./simulate" in manifest.exports &&
      "./opentelemetry" in manifest.exports,
  );

  // The closure of the exports map (and the legacy main/module/types, and the `bin` commands)
  // over what each file loads.
  const needed = new Set();
  const bins = typeof manifest.bin === "string" ? [manifest.bin] : Object.values(manifest.bin ?? {});
  assert.ok(bins.length > 0, "the package ships its command (bin)");
  const queue = [...targets(manifest.exports), manifest.main, manifest.module, manifest.types, ...bins]
    .filter(Boolean)
    .map((p) => posix.normalize(p));
  while (queue.length) {
    const p = queue.pop();
    if (needed.has(p)) continue;
    needed.add(p);
    assert.ok(files.includes(p), `the package needs ${p} but the tarball lacks it`);
    if (/\.(c|m)?js$|\.d\.c?ts$/.test(p))
      queue.push(...references(p, readFileSync(join(unpacked, "package", p), "utf8")));
  }
  assert.ok(needed.has("llm_pacer_bg.wasm"));
  assert.ok(
    needed.has("node/llm_pacer.cjs") && needed.has("web/llm_pacer.js"),
    "the glue is reached through the entries",
  );
  assert.ok(
    needed.has("simulate/llm_pacer_sim_bg.wasm"),
    "the simulator's module is reached through llm-pacer/simulate",
  );
  // The Durable Object's export is in the workerd entries' module only.
  const glue = (/** @type {string} */ f) => readFileSync(join(unpacked, "package", f), "utf8");
  assert.match(glue("web/llm_pacer_do.js"), /storeOp/);
  for (const f of ["web/llm_pacer.js", "node/llm_pacer.cjs", "llm_pacer_bg.js"])
    assert.doesNotMatch(glue(f), /storeOp/, f);
  assert.match(glue("web/workerd.js"), /llm_pacer_do/);
  assert.match(glue("web/cloudflare.js"), /llm_pacer_do/);
  // The main entries never load the simulator's module.
  for (const entry of [
    "web/index.js",
    "web/slim.js",
    "web/workerd.js",
    "web/bun.js",
    "deno/index.js",
    "node/index.cjs",
  ]) {
    assert.doesNotMatch(readFileSync(join(unpacked, "package", entry), "utf8"), /llm_pacer_sim|simulate\//, entry);
  }
  const meta = new Set(["package.json", "README.md"]);
  const stray = files.filter((f) => !needed.has(f) && !meta.has(f) && !/^(LICEN[CS]E|CHANGELOG)/i.test(f));
  assert.deepEqual(stray, [], "files nothing loads");
  assert.ok(files.includes("README.md"));
  // The users' README is the repository's, less its development sections (build-pkg.mjs).
  const readme = readFileSync(join(unpacked, "package", "README.md"), "utf8");
  const source = readFileSync(join(root, "README.md"), "utf8");
  for (const h of ["## Install", "## Use", "### Options", "## Command line", "## How the policy works"]) {
    assert.ok(readme.includes(`\n${h}\n`), `the package README has ${h}`);
  }
  assert.ok(readme.startsWith(source.slice(0, source.search(/^## /m)).trimEnd()), "the intro, as in README.md");
  const options = (t) => t.slice(t.indexOf("\n### Options\n"), t.indexOf("\n### Lower-level exports\n"));
  assert.equal(options(readme), options(source), "the options, word for word");
  assert.doesNotMatch(readme, /^## (Fuzzing|Benchmarks|Layout|The two commands)$/m);
  assert.doesNotMatch(readme, /<!-- include/);

  // The shipped module is the built one, and valid.
  const wasm = readFileSync(join(unpacked, "package", "llm_pacer_bg.wasm"));
  assert.ok(WebAssembly.validate(wasm));
  assert.ok(wasm.equals(readFileSync(join(pkgDir, "llm_pacer_bg.wasm"))));
});

test("a Node ESM consumer: import { Pacer } from 'llm-pacer' (and require in the same program)", async () => {
  const dir = await consumer("esm-consumer", { type: "module" });
  const out = await node(
    dir,
    "index.js",
    `import http from "node:http";
     import { createRequire } from "node:module";
     import { Pacer, PacerError, ClosedError, RequestTooLargeError, RetryAfterTooLongError, PacerTimeoutError } from "llm-pacer";
     ${SERVER}
     const required = createRequire(import.meta.url)("llm-pacer");
     const result = await call(Pacer);
     server.close();
     const cloudflare = await import("llm-pacer/cloudflare").then(() => "loaded", (e) => e.message);
     console.log(JSON.stringify({
       ...result,
       cloudflare,
       resolved: import.meta.resolve("llm-pacer").replace(/^.*node_modules\\//, ""),
       sameInstance: required.Pacer === Pacer,
       errors: [PacerError, ClosedError, RequestTooLargeError, RetryAfterTooLongError, PacerTimeoutError].every((C) => typeof C === "function"),
       closedIsPacerError: new ClosedError("x") instanceof PacerError,
       version: createRequire(import.meta.url)("llm-pacer/package.json").version,
     }));`,
  );
  assert.deepEqual(out, {
    status: 200,
    type: "message",
    attempts: 2,
    inputTokensUsed: 4,
    resolved: "llm-pacer/node/index.mjs",
    // The Durable Object's entry, outside workerd: an error that says where it runs.
    cloudflare:
      "llm-pacer/cloudflare runs only in Cloudflare's workerd (Workers, wrangler dev, Miniflare): " +
      "its Durable Object needs cloudflare:workers. In Node, share limits through llm-pacer/redis.",
    sameInstance: true,
    errors: true,
    closedIsPacerError: true,
    version: JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version,
  });
});

test("a Node CJS consumer: require('llm-pacer')", async () => {
  const dir = await consumer("cjs-consumer", {});
  const out = await node(
    dir,
    "index.js",
    `const http = require("node:http");
     const { Pacer, PacerError } = require("llm-pacer");
     (async () => {
       ${SERVER}
       const result = await call(Pacer);
       server.close();
       let optionError;
       try { new Pacer({ retry: { maxRetries: -1 } }); } catch (e) { optionError = e.constructor.name + ": " + e.message; }
       let cloudflare = "loaded";
       try { require("llm-pacer/cloudflare"); } catch (e) { cloudflare = e.message; }
       console.log(JSON.stringify({
         ...result,
         resolved: require.resolve("llm-pacer").replace(/^.*node_modules\\//, ""),
         pacerError: typeof PacerError,
         optionError,
         cloudflare,
       }));
     })();`,
  );
  assert.equal(out.status, 200);
  assert.equal(out.attempts, 2);
  assert.equal(out.inputTokensUsed, 4);
  assert.equal(out.resolved, "llm-pacer/node/index.cjs");
  assert.equal(out.pacerError, "function");
  assert.match(out.optionError, /^RangeError: .*`retry\.maxRetries`/);
  assert.match(out.cloudflare, /^llm-pacer\/cloudflare runs only in Cloudflare's workerd/);
});

test("llm-pacer/slim throws a clear error before init, and works after", async () => {
  const dir = await consumer("esm-consumer", { type: "module" });
  const out = await node(
    dir,
    "slim.js",
    `import http from "node:http";
     import { readFileSync } from "node:fs";
     import { fileURLToPath } from "node:url";
     import init, { Pacer, initSync } from "llm-pacer/slim";
     ${SERVER}
     let before;
     try { new Pacer(); } catch (e) { before = e.message; }
     const wasmPath = fileURLToPath(import.meta.resolve("llm-pacer/llm_pacer_bg.wasm"));
     // Another module first (one with no imports instantiates): refused, and the right one
     // still loads after it (the glue keeps the first instance it is given).
     const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
     const wrong = [];
     for (const load of [() => initSync(empty), () => init(empty)])
       try { await load(); } catch (e) { wrong.push(e.message); }
     await init(readFileSync(wasmPath));
     const result = await call(Pacer);
     server.close();
     console.log(JSON.stringify({ before, wrong, ...result, initSync: typeof initSync, resolved: import.meta.resolve("llm-pacer/slim").replace(/^.*node_modules\\//, "") }));`,
  );
  assert.deepEqual(out.wrong.length, 2, JSON.stringify(out.wrong));
  for (const m of out.wrong) assert.match(m, /not llm-pacer's Wasm module/);
  assert.match(out.before, /llm-pacer\/slim/);
  assert.match(out.before, /await init\(\)/);
  assert.equal(out.status, 200);
  assert.equal(out.attempts, 2);
  assert.equal(out.initSync, "function");
  assert.equal(out.resolved, "llm-pacer/web/slim.js");
});

test("llm-pacer/simulate in Node ESM and CJS consumers: the same run, one instance for import and require", async () => {
  const esm = await consumer("esm-consumer", { type: "module" });
  const config = { seed: 5, workload: { requests: 30 }, strategies: ["llm-pacer", "sdk-default"] };
  const summary = (r) => r.reports.map((x) => [x.strategy, x.completed, x.attempts, x.makespanMs]);
  const fromEsm = await node(
    esm,
    "sim.js",
    `import { createRequire } from "node:module";
     import { simulate } from "llm-pacer/simulate";
     const required = createRequire(import.meta.url)("llm-pacer/simulate");
     const r = simulate(${JSON.stringify(config)});
     console.log(JSON.stringify({
       reports: r.reports.map((x) => [x.strategy, x.completed, x.attempts, x.makespanMs]),
       sameInstance: required.simulate === simulate,
       resolved: import.meta.resolve("llm-pacer/simulate").replace(/^.*node_modules\\//, ""),
     }));`,
  );
  const cjs = await consumer("cjs-consumer", {});
  const fromCjs = await node(
    cjs,
    "sim.js",
    `const { simulate } = require("llm-pacer/simulate");
     let error;
     try { simulate({ clients: 0 }); } catch (e) { error = e.constructor.name + ": " + e.message; }
     const r = simulate(${JSON.stringify(config)});
     console.log(JSON.stringify({
       reports: r.reports.map((x) => [x.strategy, x.completed, x.attempts, x.makespanMs]),
       resolved: require.resolve("llm-pacer/simulate").replace(/^.*node_modules\\//, ""),
       error,
     }));`,
  );
  const { simulate } = await import("llm-pacer/simulate");
  const expected = summary(simulate(config));
  assert.deepEqual(fromEsm, { reports: expected, sameInstance: true, resolved: "llm-pacer/simulate/index.mjs" });
  assert.deepEqual(fromCjs.reports, expected);
  assert.equal(fromCjs.resolved, "llm-pacer/simulate/index.cjs");
  assert.match(fromCjs.error, /^RangeError: .*`clients`/);
  assert.equal(expected[0][1], 30, "every request completed");
});

/** A strict consumer of the events' and options' types: what must compile, and typos that must not. */
const EVENTS_TYPES = `
import { Pacer, type PacerEvent, type QueuedEvent, type PresetName } from "llm-pacer";
import { instrument } from "llm-pacer/opentelemetry";
function describe(e: PacerEvent): string {
  switch (e.type) {
    case "retry": {
      const s: number | undefined = e.status;
      const ms: number | undefined = e.latencyMs;
      return \`\${s} \${ms} \${e.reason} \${e.delayMs}\`;
    }
    case "settled": return e.usage ? String(e.usage.outputTokens + e.usage.cacheReadInputTokens) : e.reason;
    case "warning": return e.message;
    case "wait": {
      const r: "requests" | "inputTokens" | "outputTokens" | "tokens" | "paused" | "first_response" | "concurrency" | "queue" | "store" | "budget" = e.reason;
      return r;
    }
    case "queued": { const r: "submitted" = e.reason; return r; }
    case "admitted": case "giveup": case "limits": return e.reason + (e.key ?? "") + (e.model ?? "");
    default: { const never: never = e; return never; }
  }
}
const pacer = new Pacer({
  debug: true,
  limits: { rpm: 5, models: { sonnet: { itpm: 1 } } },
  preset: "openai:tier-1:gpt-4o-mini",
  retry: { retryOn: [429, 503] },
  onEvent: (e) => void describe(e),
});
const src: "configured" | "headers" | "configured+headers" | undefined = pacer.limits()[0]?.requests?.source;
const p: PresetName = "anthropic:tier-1:sonnet";
const stop: () => void = instrument(pacer);
// @ts-expect-error: a typo in an option
new Pacer({ concurency: 5 });
// @ts-expect-error: a typo in a limit
new Pacer({ limits: { RPM: 50 } });
// @ts-expect-error: a typo in a retry option
new Pacer({ retry: { maxretries: 0 } });
// @ts-expect-error: not a preset
new Pacer({ preset: "anthropic:tier-9:sonnet" });
// @ts-expect-error: debug is a boolean
new Pacer({ debug: "yes" });
// @ts-expect-error: a queued event has no usage
const u = (e: QueuedEvent) => e.usage;
// @ts-expect-error: a misspelt reason can never match
const typo = (e: PacerEvent) => e.type === "retry" && e.reason === "rate_limit";
// @ts-expect-error: not an event type
const t2 = (e: PacerEvent) => e.type === "retried";
void src; void p; void stop; void u; void typo; void t2;
export {};
`;

test("the shipped types check for ESM and CJS consumers (tsc, module nodenext)", async () => {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc)) return assert.fail("typescript is not installed (npm ci)");
  const dir = await consumer("esm-consumer", { type: "module" });
  const use = (fetchType) => `
    const pacer = new Pacer({ limits: { rpm: 50, itpm: 30_000, models: { haiku: { otpm: 9_000 } } }, preset: "anthropic:tier-1",
      retry: { maxRetries: 3, jitter: "equal" }, concurrency: 5,
      limitKey: ({ url, model, headers }) => \`\${url}:\${model}:\${headers.get("x-workspace")}\`,
      onEvent: (e) => { const r: string = e.reason; void r; } });
    const f: ${fetchType} = pacer.fetch;
    const s: number = pacer.stats().attempts;
    const l: "configured" | "headers" | "configured+headers" | undefined = pacer.limits()[0]?.requests?.source;
    const k: string | undefined = pacer.limits()[0]?.key;
    const m: string | undefined = pacer.limits()[0]?.model;
    void k; void m;
    // @ts-expect-error: a limitKey returns a string
    new Pacer({ limitKey: () => 1 });
    // The README's gateway example, as written there (strict).
    new Pacer({ limitKey: ({ url }) => new URL(url).host, estimate: ({ url }) => ({ input: url.length, output: 1 }) });
    function code(e: unknown): string | undefined { return e instanceof PacerError ? e.code : undefined; }
    // @ts-expect-error: not an option value
    new Pacer({ retry: { jitter: "wild" } });
    void f; void s; void l; void code;
  `;
  // The lower-level exports.
  const low = `
    const b = new Backoff({ maxRetries: 3, jitter: "decorrelated", seed: 1 });
    const d: number | undefined = b.next(1000);
    for (const ms of b) { const n: number = ms; void n; }
    const lim = new Limiter({ limits: { rpm: 5 }, preset: "anthropic:tier-1:sonnet", latencyMs: 0 });
    const a = lim.acquire({ input: 10, output: 20 }, 0);
    if (a.ok) lim.settle(a.ticket, { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: null });
    else { const w: number = a.waitMs; const why: string = a.reason; void w; void why; }
    lim.observe(new Headers(), 0);
    lim.observe({ "retry-after": "1", "x-many": ["a", "b"] });
    const rem: number | undefined = parseRateLimitHeaders(new Map([["retry-after", "1"]])).inputTokens?.remaining;
    const act: "retry" | "fail" | "success" = classify(429, {}, '{"error":{}}', 0).action;
    // @ts-expect-error: tickets are opaque
    lim.release({});
    const keyed = new KeyedLimiter((key: string) => ({ limits: { rpm: key.endsWith(":haiku") ? 50 : 40 } }));
    const one = keyed.get("org-1:haiku");
    const oneOk: boolean = one.acquire({}, 0).ok;
    const listed: string = keyed.limits(0)[0].key;
    const gone: boolean = keyed.delete("org-1:haiku");
    void d; void rem; void act; void oneOk; void listed; void gone;
  `;
  const names = "Pacer, PacerError, Backoff, Limiter, KeyedLimiter, classify, parseRateLimitHeaders";
  writeFileSync(
    join(dir, "esm.mts"),
    `import { ${names} } from "llm-pacer";\n${use("typeof fetch")}\n${low}\nexport {};\n`,
  );
  writeFileSync(
    join(dir, "cjs.cts"),
    `import lib = require("llm-pacer");\nconst { ${names} } = lib;\n${use("typeof fetch")}\n${low}\nexport {};\n`,
  );
  writeFileSync(
    join(dir, "slim.mts"),
    `import init, { Pacer } from "llm-pacer/slim";\nawait init(new Uint8Array());\nnew Pacer({ seed: 1 });\nexport {};\n`,
  );
  const sim = `
    const r = simulate({ seed: 1, clients: 2, limits: { rpm: 50 }, workload: { requests: 10 }, strategies: ["llm-pacer"] });
    const ratio: number | null = r.reports[0].ratio;
    const summary: string = r.scenario.summary;
    // @ts-expect-error: not a strategy
    simulate({ strategies: ["fast"] });
    void ratio; void summary;
  `;
  writeFileSync(join(dir, "sim.mts"), `import { simulate } from "llm-pacer/simulate";\n${sim}\nexport {};\n`);
  // llm-pacer/redis: a store for the \`store\` option, its decisions a strict union (ESM and CJS).
  const redis = `
    const store = redisStore({}, { prefix: "app" });
    const p = new Pacer({ store });
    void p;
    const d = await store.reserve("k", { limits: { rpm: 50 }, input: 1, output: 2 });
    if (d.admit) { const n: number = d.now; void n; }
    else if ("never" in d) { const dim: "requests" | "inputTokens" | "outputTokens" | "tokens" = d.never; void dim; }
    else { const w: number = d.waitMs; const b: string = d.blocker; void w; void b; }
    await store.learn("k", [{ dim: "requests", limit: 50, remaining: 10 }]);
    // @ts-expect-error: not a dimension
    await store.learn("k", [{ dim: "rpm" }]);
    const mine: PacerStore = { reserve: async () => ({ admit: true }), settle: async () => {} };
    new Pacer({ store: mine });
    const src: string = redisScript; void src;
  `;
  writeFileSync(
    join(dir, "redis.mts"),
    `import { Pacer, type PacerStore } from "llm-pacer";\nimport { redisStore, redisScript } from "llm-pacer/redis";\n${redis}\nexport {};\n`,
  );
  // llm-pacer/cloudflare: the Durable Object class and its store, typed without
  // @cloudflare/workers-types (a namespace binding is taken structurally).
  const cloudflare = `
    declare const env: { PACER_LIMITS: { idFromName(name: string): { toString(): string }; get(id: { toString(): string }): object } };
    const store: PacerStore = durableObjectStore(env.PACER_LIMITS);
    const p = new Pacer({ store });
    void p;
    const ds = durableObjectStore(env.PACER_LIMITS);
    const d = await ds.reserve("k", { limits: { rpm: 50 }, input: 1, output: 2 });
    if (d.admit) { const n: number = d.now; void n; }
    else if ("never" in d) { const dim: StoreDim = d.never; void dim; }
    else { const w: number = d.waitMs; const b: StoreDim | "paused" = d.blocker; void w; void b; }
    await ds.learn("k", [{ dim: "outputTokens", limit: 8000 }]);
    const lv: number | undefined = (await ds.levels("k")).levels.requests; void lv;
    // @ts-expect-error: not a namespace
    durableObjectStore({});
    class Limits extends PacerLimits {}
    const ctx = { storage: { get: async () => undefined, put: async () => {} }, blockConcurrencyWhile: <T,>(f: () => Promise<T>) => f() };
    const o = new Limits(ctx, {});
    const r: number[] = o.op("levels", []); void r;
    // @ts-expect-error: not an operation
    o.op("drop", []);
    // Branded as workers-types brands a DurableObject (its key is this string), so that
    // \`DurableObjectNamespace<PacerLimits>\` (what \`wrangler types\` writes) checks.
    type DurableObjectBranded = { __DURABLE_OBJECT_BRAND: never };
    type Namespace<T extends DurableObjectBranded> = { get(id: unknown): T };
    declare const ns: Namespace<PacerLimits>; void ns;
  `;
  writeFileSync(
    join(dir, "cloudflare.mts"),
    `import { Pacer, type PacerStore } from "llm-pacer";\nimport { PacerLimits, durableObjectStore, type StoreDim } from "llm-pacer/cloudflare";\n${cloudflare}\nexport {};\n`,
  );
  // Events as a discriminated union, strict options, preset names, the OpenTelemetry entry
  // (its peer dependency taken from this checkout: it is optional, so npm did not install it).
  writeFileSync(join(dir, "events.mts"), EVENTS_TYPES);
  mkdirSync(join(dir, "node_modules", "@opentelemetry"), { recursive: true });
  if (!existsSync(join(dir, "node_modules", "@opentelemetry", "api"))) {
    symlinkSync(
      join(root, "node_modules", "@opentelemetry", "api"),
      join(dir, "node_modules", "@opentelemetry", "api"),
      "dir",
    );
  }
  writeFileSync(
    join(dir, "sim.cts"),
    `import lib = require("llm-pacer/simulate");\nconst { simulate } = lib;\n${sim}\nexport {};\n`,
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        lib: ["es2022", "dom"],
      },
      files: ["esm.mts", "cjs.cts", "slim.mts", "sim.mts", "sim.cts", "events.mts", "redis.mts", "cloudflare.mts"],
    }),
  );
  try {
    await run(process.execPath, [tsc, "-p", "."], { cwd: dir, timeout: 60_000 });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});
