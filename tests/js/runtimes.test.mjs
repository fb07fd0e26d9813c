// The built package (pkg/) in the other runtimes it supports: workerd (Miniflare), Deno, Bun
// and headless Chromium. Each runs the same scenarios (tests/runtimes/scenarios.mjs) against
// the mock servers started here; this file asserts what they observed, plus what differs per
// runtime: which export condition each one picks, Deno without file-read permission, Bun's
// `require`, workerd's frozen clock and its global scope, CORS in the browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

import {
  BIN,
  CONDITIONS,
  HERE,
  PKG,
  REPO,
  builtPackageJson,
  checkScenarios,
  checkSlim,
  lastJson,
  resolveExport,
  resultsFromPage,
  run,
  serveStatic,
  startEnv,
} from "../runtimes/harness.mjs";

const pkgJson = builtPackageJson();
const entryFile = (/** @type {string} */ condition) => {
  const target = pkgJson.exports["."][condition];
  assert.equal(typeof target, "string", `exports["."].${condition} names one file`);
  return pathToFileURL(join(PKG, target)).href;
};

/** Starts the mocks, runs `body(env, mocks)` for the results, then the shared checks. */
async function scenarioSuite(
  /** @type {import("node:test").TestContext} */ t,
  /** @type {(env: any) => Promise<any>} */ body,
) {
  const mocks = await startEnv();
  try {
    const results = await body(mocks.env);
    await checkScenarios(t, results, mocks);
    return results;
  } finally {
    await mocks.close();
  }
}

test("workerd (Miniflare): the workerd entry, a frozen clock, the global scope", { timeout: 90_000 }, async (t) => {
  const { Miniflare } = await import("miniflare").catch((e) =>
    assert.fail(`miniflare (workerd) is missing: this runtime is required; npm ci installs it (${e.message})`),
  );
  // `./pkg.mjs` for worker.mjs: what the exports map gives workerd, by relative path.
  const rel = (/** @type {string} */ sub) => {
    const target = resolveExport(pkgJson.exports, sub, CONDITIONS.workerd);
    assert.ok(target, `exports["${sub}"] resolves for workerd`);
    return relative(HERE, join(PKG, target)).split("\\").join("/");
  };
  assert.equal(rel("."), "../../pkg/web/workerd.js", "workerd picks its own entry");
  const shim = [
    `export * as main from "${rel(".")}";`,
    `export * as slim from "${rel("./slim")}";`,
    `export { default as wasm } from "${rel("./llm_pacer_bg.wasm")}";`,
  ].join("\n");
  const mf = new Miniflare({
    modulesRoot: REPO,
    modules: [
      { type: "ESModule", path: join(HERE, "worker.mjs") },
      { type: "ESModule", path: join(HERE, "pkg.mjs"), contents: shim },
      { type: "ESModule", path: join(HERE, "workerd-time.mjs") },
      { type: "ESModule", path: join(HERE, "scenarios.mjs") },
      ...["web/workerd.js", "web/slim.js", "web/llm_pacer.js", "web/llm_pacer_do.js"].map((f) => ({
        type: /** @type {const} */ ("ESModule"),
        path: join(PKG, f),
      })),
      { type: "CompiledWasm", path: join(PKG, "llm_pacer_bg.wasm") },
      { type: "CompiledWasm", path: join(PKG, "llm_pacer_do_bg.wasm") },
    ],
    compatibilityDate: "2025-09-01",
  });
  try {
    await mf.ready;
    const results = await scenarioSuite(t, async (env) => {
      const res = await mf.dispatchFetch(`http://localhost/?env=${encodeURIComponent(JSON.stringify(env))}`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return JSON.parse(text);
    });
    await t.test("slim: initSync with the .wasm module import", () => checkSlim(results.slim));
    await t.test("pacers made at global scope (Date.now() is 0 there) work in requests", () => {
      const r = results.globalScope;
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.globalDateNow, 0, "the frozen-clock emulation is in place");
      assert.deepEqual(r.statuses, [200, 200]);
      assert.deepEqual([r.realClock.status, r.realClock.sent], [200, 2]);
      assert.ok(r.realClock.elapsed >= 40, `retried after ${r.realClock.elapsed} ms (retry-after-ms: 40)`);
      for (const delays of r.jitter) assert.equal(delays.length, 3, "three retries after three 503s");
    });
    // workerd forbids crypto.getRandomValues at global scope: the seed is drawn at the first
    // retry instead, so pacers made there still get their own jitter (not a shared fallback).
    await t.test("pacers made at global scope get their own jitter seeds", () =>
      assert.notDeepEqual(results.globalScope.jitter[0], results.globalScope.jitter[1]),
    );
  } finally {
    await mf.dispose();
  }
});

test("Deno: the deno entry, with network access to 127.0.0.1 only", { timeout: 60_000 }, async (t) => {
  const results = await scenarioSuite(t, async (env) => {
    const args = ["run", "--no-prompt", "--allow-net=127.0.0.1", join(HERE, "deno.mjs"), JSON.stringify(env)];
    const { stdout } = await run(join(BIN, "deno"), args, {
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    return lastJson(stdout);
  });
  await t.test("resolves the deno condition (no file read needed)", () =>
    assert.equal(results.resolved, entryFile("deno")),
  );
  await t.test("slim: initSync with `import.source()` of the exported .wasm", () => checkSlim(results.slim));
});

test("Bun: the bun entry, import and require", { timeout: 60_000 }, async (t) => {
  const results = await scenarioSuite(t, async (env) => {
    const { stdout } = await run(join(BIN, "bun"), [join(HERE, "bun.mjs"), JSON.stringify(env)], {
      env: { ...process.env, NO_COLOR: "1", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    });
    return lastJson(stdout);
  });
  await t.test("resolves the bun condition", () => assert.equal(results.resolved, entryFile("bun")));
  await t.test("require() gives the same module as import", () => assert.equal(results.requireSame, true));
  await t.test("slim: init() fetches the package's .wasm", () => checkSlim(results.slim));
});

test("Chromium: the browser entry on a page, cross-origin calls", { timeout: 90_000 }, async (t) => {
  const entry = (/** @type {string} */ sub) => {
    const target = resolveExport(pkgJson.exports, sub, CONDITIONS.browser);
    assert.ok(target, `exports["${sub}"] resolves for browsers`);
    return "/pkg/" + target.slice(2);
  };
  assert.equal(entry("."), "/pkg/web/index.js", "browsers pick the browser entry");
  const importMap = { imports: { "llm-pacer": entry("."), "llm-pacer/slim": entry("./slim") } };
  const page = [
    '<!doctype html><meta charset="utf-8"><title>llm-pacer in the browser</title>',
    `<script type="importmap">${JSON.stringify(importMap)}</script>`,
    '<script type="module" src="/tests/runtimes/browser.mjs"></script>',
  ].join("\n");
  const site = await serveStatic({ "/pkg/": PKG, "/tests/runtimes/": HERE }, { "/": page });
  try {
    const results = await scenarioSuite(t, (env) =>
      resultsFromPage(`${site.url}/?env=${encodeURIComponent(JSON.stringify(env))}`),
    );
    await t.test("slim: init() fetches the package's .wasm", () => checkSlim(results.slim));
    await t.test("cross-origin responses are of type cors (the headers_hidden check ran)", () =>
      assert.equal(results.corsHidden.hidden.type, "cors"),
    );
  } finally {
    await site.close();
  }
});
