// The package as users get it: `npm pack` of pkg/, installed from the tarball into scratch
// projects in a temp dir, built by the users' tools, then run. A wrong exports map or a file
// left out of the tarball fails here.
// - a Cloudflare Worker bundled by `wrangler deploy --dry-run` (the workerd condition, the
//   .wasm as a CompiledWasm module), run in Miniflare;
// - a Vite browser build (the browser condition, the .wasm emitted as an asset), loaded in
//   headless Chromium from 127.0.0.1.
// - a Vite browser build of `llm-pacer/simulate` (its own .wasm emitted as an asset, the main
//   one not at all), run in headless Chromium: the same figures as in Node.
// (Node's own `import` / `require` consumers are tested elsewhere.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BIN, PKG, builtPackageJson, resultsFromPage, run, serveStatic, startEnv } from "../runtimes/harness.mjs";

/** One call through the pacer: a 429 with `retry-after-ms: 20`, then a 200. Runs in the consumer. */
const CALL = `
async function oneCall(target) {
  let sent = 0;
  const pacer = new Pacer({
    seed: 1,
    fetch(input, init) {
      const req = new Request(input, init);
      if (++sent === 1) req.headers.set("x-mock-fault", "429; retry-after-ms=20");
      return fetch(req);
    },
  });
  const res = await pacer.fetch(target, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-test", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] }),
  });
  const body = await res.json();
  return { status: res.status, type: body.type, sent, retries: pacer.stats().retries, limits: pacer.limits()[0] ?? {} };
}
`;

/** What `oneCall` must have seen. */
function checkCall(/** @type {any} */ r) {
  assert.equal(r.error, undefined, r.error);
  assert.deepEqual([r.status, r.type, r.sent, r.retries], [200, "message", 2, 1]);
  assert.equal(r.limits.requests?.source, "headers", "rate-limit headers were read");
}

let dir = "";
let tarball = "";
/** @type {Awaited<ReturnType<typeof startEnv>>} */
let mocks;

before(async () => {
  builtPackageJson(); // fails clearly when pkg/ is not built
  dir = await mkdtemp(join(tmpdir(), "llm-pacer-consumers-"));
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: PKG });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("[")));
  tarball = join(dir, packed.filename);
  mocks = await startEnv();
});

after(async () => {
  await mocks?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A scratch project with the tarball installed (offline: the package has no dependencies). */
async function consumer(/** @type {string} */ name, /** @type {Record<string, string>} */ files) {
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  }
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: root });
  return root;
}

test("a Worker bundled by wrangler carries the .wasm module and runs in Miniflare", { timeout: 90_000 }, async () => {
  const root = await consumer("worker", {
    "wrangler.jsonc": JSON.stringify({
      name: "llm-pacer-consumer",
      main: "src/index.js",
      compatibility_date: "2025-09-01",
    }),
    "src/index.js": `import { Pacer } from "llm-pacer";
${CALL}
export default {
  async fetch(request) {
    try {
      return Response.json(await oneCall(new URL(request.url).searchParams.get("target")));
    } catch (e) {
      return Response.json({ error: String(e?.stack ?? e) });
    }
  },
};
`,
  });
  const home = join(root, ".home");
  await run(join(BIN, "wrangler"), ["deploy", "--dry-run", "--outdir", "dist"], {
    cwd: root,
    env: {
      ...process.env,
      CI: "true",
      WRANGLER_SEND_METRICS: "false",
      XDG_CONFIG_HOME: home,
      WRANGLER_LOG_PATH: join(home, "logs"),
    },
  });
  const out = await readdir(join(root, "dist"));
  const wasm = out.filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one .wasm module in the bundle: ${out.join(", ")}`);
  const bundle = await readFile(join(root, "dist", "index.js"), "utf8");
  assert.ok(bundle.includes(`from "./${wasm[0]}";`), "the bundle imports the .wasm as a module");
  assert.ok(!/^await\b/m.test(bundle), "no top-level await: the workerd entry instantiates synchronously");

  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    scriptPath: join(root, "dist", "index.js"),
    modulesRoot: join(root, "dist"),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2025-09-01",
  });
  try {
    const target = encodeURIComponent(`${mocks.env.anthropic}/v1/messages`);
    const res = await mf.dispatchFetch(`http://localhost/?target=${target}`);
    checkCall(await res.json());
  } finally {
    await mf.dispose();
  }
});

test("a Vite build emits the .wasm once and runs in Chromium", { timeout: 90_000 }, async () => {
  const root = await consumer("vite", {
    "index.html":
      '<!doctype html>\n<meta charset="utf-8">\n<title>consumer</title>\n<script type="module" src="./main.js"></script>\n',
    "main.js": `import { Pacer } from "llm-pacer";
${CALL}
globalThis.results = oneCall(new URLSearchParams(location.search).get("target")).catch((e) => ({ error: String(e?.stack ?? e) }));
`,
  });
  const { stdout, stderr } = await run(join(BIN, "vite"), ["build"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
  });
  const log = stdout + stderr;
  assert.doesNotMatch(log, /doesn't exist at build time|warning/i, `vite build warned:\n${log}`);
  const assets = await readdir(join(root, "dist", "assets"));
  assert.equal(assets.filter((f) => f.endsWith(".wasm")).length, 1, `one .wasm asset: ${assets.join(", ")}`);

  const html = await readFile(join(root, "dist", "index.html"), "utf8");
  const site = await serveStatic({ "/assets/": join(root, "dist", "assets") }, { "/": html });
  try {
    const target = `${mocks.env.anthropic}/v1/messages`;
    checkCall(await resultsFromPage(`${site.url}/?target=${encodeURIComponent(target)}`));
  } finally {
    await site.close();
  }
});

test("a Vite build of llm-pacer/simulate emits only the simulator's .wasm and runs it in Chromium", {
  timeout: 120_000,
}, async () => {
  const config = { seed: 2, clients: 2, workload: { requests: 40 }, strategies: ["llm-pacer", "naive-backoff"] };
  const root = await consumer("vite-simulate", {
    "index.html":
      '<!doctype html>\n<meta charset="utf-8">\n<title>simulate</title>\n<script type="module" src="./main.js"></script>\n',
    "main.js": `import { simulate } from "llm-pacer/simulate";
try {
  globalThis.results = simulate(${JSON.stringify(config)});
} catch (e) {
  globalThis.results = { error: String(e?.stack ?? e) };
}
`,
  });
  const { stdout, stderr } = await run(join(BIN, "vite"), ["build"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
  });
  const log = stdout + stderr;
  assert.doesNotMatch(log, /doesn't exist at build time|warning/i, `vite build warned:\n${log}`);
  const wasm = (await readdir(join(root, "dist", "assets"))).filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one .wasm asset: ${wasm.join(", ")}`);
  assert.match(wasm[0], /^llm_pacer_sim_bg/, "the simulator's module, not the main one");

  const html = await readFile(join(root, "dist", "index.html"), "utf8");
  const site = await serveStatic({ "/assets/": join(root, "dist", "assets") }, { "/": html });
  try {
    const r = await resultsFromPage(`${site.url}/`);
    assert.equal(r.error, undefined, r.error);
    const { simulate } = await import("llm-pacer/simulate");
    assert.deepEqual(r, simulate(config), "the browser's run is Node's, figure for figure");
  } finally {
    await site.close();
  }
});
