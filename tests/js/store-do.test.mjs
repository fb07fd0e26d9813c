// llm-pacer/cloudflare: the Durable Object store in workerd (Miniflare), with several Workers
// (each its own service and isolate) reaching ONE object per limit key through
// `durableObjectStore(env.LIMITS)`: the object's decisions and levels against the Rust core
// (the seeded sequences of examples/store_ops.rs, as tests/js/store-redis.test.mjs does for
// the Lua script); two Workers' pacers together within a mock server's rpm; the object's
// state resumed after a restart (persisted storage, a new Miniflare); a store that fails; the
// README's Worker and wrangler config, bundled by wrangler.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, PKG, REPO, run, workerdEntry, workerdModules } from "../runtimes/harness.mjs";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit } from "./lib/harness.mjs";

const { Miniflare } = await import("miniflare");
const WORKER = join(REPO, "tests", "js", "store-do.worker.mjs");

const entry = workerdEntry;

test("the exports map gives workerd the cloudflare entry", () => {
  assert.equal(entry("./cloudflare"), "../../pkg/web/cloudflare.js");
  assert.equal(entry("."), "../../pkg/web/workerd.js");
});

// Each Worker: the pacer and the store from the package, and a few endpoints the test drives.
const script = `
import { Pacer } from "${entry(".")}";
import { PacerLimits as Limits, durableObjectStore } from "${entry("./cloudflare")}";

// The class, with a way to fire its alarm now (alarm() cannot be called over RPC), and one
// to write its stored record as an older version would have.
export class PacerLimits extends Limits {
  fireAlarm() {
    return this.alarm();
  }
  seed(record) {
    return this.ctx.storage.put("s", record);
  }
}

const broken = {
  idFromName: (name) => name,
  get: () => ({ op: async () => { throw new Error("the object is unreachable"); } }),
};

export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    const body = request.method === "POST" ? await request.json() : null;
    const store = durableObjectStore(env.LIMITS);
    try {
      if (path === "/replay") {
        const out = [];
        for (const s of body) out.push(await store._op(s.op, s.key, s.args, s.now));
        return Response.json(out);
      }
      if (path === "/store") return Response.json((await store[body.method](...body.args)) ?? null);
      if (path === "/seed") {
        await env.LIMITS.get(env.LIMITS.idFromName(body.key)).seed(body.record);
        return Response.json(true);
      }
      if (path === "/alarm") {
        await env.LIMITS.get(env.LIMITS.idFromName(body.key)).fireAlarm();
        return Response.json(true);
      }
      if (path === "/pace") {
        const events = [];
        const pacer = new Pacer({
          limits: { rpm: body.rpm },
          store: body.broken ? durableObjectStore(broken) : store,
          onEvent: (e) => events.push({ type: e.type, reason: e.reason }),
        });
        const res = await Promise.all(Array.from({ length: body.n }, () => pacer.fetch(body.url, body.init)));
        const statuses = [];
        for (const r of res) {
          statuses.push(r.status);
          await r.text();
        }
        return Response.json({ statuses, events });
      }
      if (path === "/bad") {
        const out = {};
        try { durableObjectStore({}); } catch (e) { out.notNamespace = e instanceof TypeError; }
        const stub = env.LIMITS.get(env.LIMITS.idFromName("bad"));
        out.badOp = await stub.op("nope", []).then(() => "resolved", (e) => String(e.message));
        return Response.json(out);
      }
      return new Response("not found", { status: 404 });
    } catch (e) {
      return new Response(String(e?.stack ?? e), { status: 500 });
    }
  },
};
`;

const modules = workerdModules(WORKER, script);

// RPC to a Durable Object needs a compatibility date from 2024-04-03 on (or the "rpc" flag).
const worker = { modulesRoot: REPO, modules, compatibilityDate: "2025-09-01" };

/** Two Workers, "a" (which defines the class) and "b", bound to the same namespace. */
function fleet(extra = {}) {
  return new Miniflare({
    ...extra,
    workers: [
      { name: "a", ...worker, durableObjects: { LIMITS: "PacerLimits" } },
      { name: "b", ...worker, durableObjects: { LIMITS: { className: "PacerLimits", scriptName: "a" } } },
    ],
  });
}

async function post(mf, worker, path, body) {
  const w = await mf.getWorker(worker);
  const res = await w.fetch(`http://localhost${path}`, { method: "POST", body: JSON.stringify(body) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

let mf;
before(async () => {
  mf = fleet();
  await mf.ready;
});
after(async () => {
  await mf?.dispose();
});

/** The reference: core::store driven by the seeded sequences (examples/store_ops.rs). */
function reference(seeds, ops) {
  const out = execFileSync("cargo", ["run", "-q", "--example", "store_ops", "--", String(seeds), String(ops)], {
    cwd: REPO,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  return out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

const close = (a, b) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

test("the Durable Object makes every decision and level the Rust core makes, called from two Workers", {
  timeout: 120_000,
}, async () => {
  const steps = reference(30, 300);
  const bySeed = new Map();
  for (const s of steps) {
    if (!bySeed.has(s.seed)) bySeed.set(s.seed, []);
    bySeed.get(s.seed).push({ ...s, key: `diff-${s.seed}` });
  }
  let compared = 0;
  await Promise.all(
    [...bySeed.values()].map(async (seq) => {
      // In chunks, alternately through Worker a and Worker b: one object, two callers.
      for (let i = 0, n = 0; i < seq.length; i += 37, n++) {
        const chunk = seq.slice(i, i + 37);
        const got = await post(mf, n % 2 ? "b" : "a", "/replay", chunk);
        chunk.forEach((s, j) => {
          const r = got[j];
          const where = `seed ${s.seed} ${s.op}(${s.args.join(",")}) at ${s.now}`;
          assert.equal(r.kind, s.kind, where);
          assert.equal(r.now, s.now, where);
          if (s.kind === "wait") assert.ok(close(r.waitMs, s.wait), `${where}: wait ${r.waitMs} vs ${s.wait}`);
          if (s.dim !== "") assert.equal(r.dim, Number(s.dim), where);
          for (let d = 0; d < 4; d++) {
            // JSON carries no undefined: a missing bucket arrives as null.
            if (s.levels[d] === null) assert.equal(r.levels[d], null, `${where}: dim ${d + 1}`);
            else
              assert.ok(
                close(r.levels[d], s.levels[d]),
                `${where}: dim ${d + 1} level ${r.levels[d]} vs ${s.levels[d]}`,
              );
          }
          compared++;
        });
      }
    }),
  );
  assert.equal(compared, steps.length);
  assert.ok(
    steps.some((s) => s.kind === "wait") &&
      steps.some((s) => s.kind === "never") &&
      steps.some((s) => s.kind === "admit") &&
      steps.some((s) => s.dim === "5"), // the opening probe's wait
  );
});

test("two Workers share one key through the object: all-or-nothing, the last tokens go once", async () => {
  const limits = { rpm: 100, otpm: 1000 };
  const reserve = (w, output, turn = false) =>
    post(mf, w, "/store", { method: "reserve", args: ["share", { limits, input: 0, output, turn }] });
  assert.equal((await reserve("a", 500)).admit, true);
  const [x, y] = await Promise.all([reserve("a", 400), reserve("b", 400)]);
  assert.equal([x, y].filter((r) => r.admit).length, 1);
  const waiting = x.admit ? y : x;
  assert.equal(waiting.blocker, "outputTokens");
  assert.ok(waiting.waitMs > 0);
  await post(mf, "a", "/store", {
    method: "settle",
    args: ["share", { input: 0, output: 500 }, { input: 0, output: 0 }],
  });
  // The waiting one, at its turn (as a new request it would queue behind the turn it booked).
  assert.equal((await reserve("b", 400, true)).admit, true);
  const lv = await post(mf, "b", "/store", { method: "levels", args: ["share"] });
  assert.ok(lv.levels.outputTokens >= 200 && lv.levels.outputTokens < 210, JSON.stringify(lv));
  assert.ok(Math.abs(lv.now - Date.now()) < 5_000, "the object's clock");
  await post(mf, "a", "/store", { method: "pause", args: ["share", 5_000] });
  const p = await reserve("b", 0);
  assert.equal(p.blocker, "paused");
  assert.ok(p.waitMs > 4_000 && p.waitMs <= 5_000);
  await post(mf, "b", "/store", { method: "learn", args: ["share", [{ dim: "requests", limit: 50, remaining: 10 }]] });
  const req = (await post(mf, "a", "/store", { method: "levels", args: ["share"] })).levels.requests;
  assert.ok(req >= 10 && req < 10.1, String(req));
  assert.equal((await reserve("a", 2000)).never, "outputTokens");
  // Another key is another object: untouched.
  assert.deepEqual((await post(mf, "a", "/store", { method: "levels", args: ["other"] })).levels, {});
});

test("an idle key's state is deleted by the object's alarm at its expiry", async () => {
  // Used ten minutes ago (the object's clock replaced): it expired eight minutes ago. The
  // alarm (set two minutes ahead on the real clock; called here at once) deletes it. Read
  // back at a time before the expiry, a kept state would still show its buckets.
  const then = Date.now() - 10 * 60_000;
  const reserve = { op: "reserve", key: "idle", args: ["10", "", "", "", "0", "0", "0"], now: then };
  const levelsThen = { op: "levels", key: "idle", args: [], now: then + 1 };
  const [r] = await post(mf, "a", "/replay", [reserve]);
  assert.equal(r.kind, "admit");
  assert.ok((await post(mf, "b", "/replay", [levelsThen]))[0].levels[0] > 8, "kept until the alarm");
  assert.equal(await post(mf, "a", "/alarm", { key: "idle" }), true);
  assert.deepEqual(
    (await post(mf, "b", "/replay", [levelsThen]))[0].levels,
    [null, null, null, null],
    "the state is gone",
  );
});

test("bad input: not a namespace, an unknown operation", async () => {
  assert.deepEqual(await post(mf, "b", "/bad", {}), {
    notNamespace: true,
    badOp: "llm-pacer/cloudflare: unknown store operation",
  });
});

test("two Workers' pacers sharing one key through the object never exceed the server's rpm together", {
  timeout: 60_000,
}, async () => {
  // 60 requests a minute; each Worker alone would send its 35 calls at once (35 < 60), the two
  // together 70: with the store, 60 go at once and the rest at the refill (1 a second).
  const mock = await startAnthropicMock({ limits: { rpm: 60, itpm: null, otpm: null }, enforce: false });
  try {
    const body = { rpm: 60, n: 35, url: `${mock.url}/v1/messages`, init: anthropicInit() };
    const results = await Promise.all([post(mf, "a", "/pace", body), post(mf, "b", "/pace", body)]);
    for (const r of results) assert.deepEqual([...new Set(r.statuses)], [200]);
    assert.deepEqual(mock.violations(), [], "the two Workers together stayed within rpm");
    assert.equal(mock.stats.limited, 0);
    const events = results.flatMap((r) => r.events);
    assert.ok(
      events.some((e) => e.type === "wait" && e.reason === "store"),
      "the store made calls wait",
    );
    assert.ok(!events.some((e) => e.reason === "store_unavailable"));
  } finally {
    await mock.close();
  }
});

test("a store that fails costs no call: store_unavailable, local limits", async () => {
  const mock = await startAnthropicMock({ limits: { rpm: 1000, itpm: null, otpm: null } });
  try {
    const r = await post(mf, "a", "/pace", {
      rpm: 1000,
      n: 3,
      broken: true,
      url: `${mock.url}/v1/messages`,
      init: anthropicInit(),
    });
    assert.deepEqual(r.statuses, [200, 200, 200]);
    assert.deepEqual(
      r.events.filter((e) => e.type === "warning").map((e) => e.reason),
      ["store_unavailable"],
    );
  } finally {
    await mock.close();
  }
});

test("the object resumes its state after a restart (persisted storage)", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-pacer-do-"));
  try {
    let m = fleet({ durableObjectsPersist: dir });
    await m.ready;
    const limits = { rpm: 10 };
    for (let i = 0; i < 4; i++) {
      const r = await post(m, i % 2 ? "b" : "a", "/store", {
        method: "reserve",
        args: ["kept", { limits, input: 0, output: 0 }],
      });
      assert.equal(r.admit, true);
    }
    await post(m, "a", "/store", { method: "pause", args: ["kept", 30_000] });
    await m.dispose();
    m = fleet({ durableObjectsPersist: dir });
    try {
      await m.ready;
      const lv = await post(m, "b", "/store", { method: "levels", args: ["kept"] });
      // 10 - 4, refilled at 10 a minute for the second or two since.
      assert.ok(lv.levels.requests >= 6 && lv.levels.requests < 7, JSON.stringify(lv));
      const r = await post(m, "a", "/store", {
        method: "reserve",
        args: ["kept", { limits: { rpm: 1000 }, input: 0, output: 0 }],
      });
      assert.equal(r.blocker, "paused", "the pause survived");
      assert.ok(r.waitMs > 20_000 && r.waitMs <= 30_000, String(r.waitMs));
      assert.ok(r.levels.requests < 7, "the bucket kept its capacity of 10, not the new rpm");
    } finally {
      await m.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the object reads the records older versions stored (21 and 23 numbers, then the expiry)", {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "llm-pacer-do-"));
  const t = Date.now();
  const far = t + 3_600_000;
  const NaN4 = Array(5).fill(Number.NaN);
  // A requests bucket of 10 at level 4 (its queue's level and time beside it), nothing else.
  const bucket = [10, 4, t, 4, t, ...NaN4, ...NaN4, ...NaN4];
  // Saved before the opening probe: the buckets and the pause's end.
  const before21 = [...bucket, Number.NaN, far];
  // Saved before the probes out were counted: no bucket, a probe's lease until t + 10 s.
  const before23 = [...NaN4, ...NaN4, ...NaN4, ...NaN4, Number.NaN, t + 10_000, 0, far];
  // A length no version wrote: a key that knows nothing.
  const unknown = [...bucket, Number.NaN, t + 10_000, far];
  try {
    let m = fleet({ durableObjectsPersist: dir });
    await m.ready;
    for (const [key, record] of Object.entries({ before21, before23, unknown })) {
      assert.equal(await post(m, "a", "/seed", { key, record }), true);
    }
    await m.dispose();
    m = fleet({ durableObjectsPersist: dir });
    try {
      await m.ready;
      const levels = (key) => ({ op: "levels", key, args: [], now: t });
      // No limit known: a probe's lease held by another process makes this one wait for it.
      const open = (key) => ({ op: "reserve", key, args: ["", "", "", "", "0", "0", "0"], now: t + 1 });
      const [l21, l23, lUnknown, r23, rUnknown] = await post(m, "b", "/replay", [
        levels("before21"),
        levels("before23"),
        levels("unknown"),
        open("before23"),
        open("unknown"),
      ]);
      assert.deepEqual(l21.levels, [4, null, null, null], "the bucket and its level");
      assert.deepEqual(l23.levels, [null, null, null, null]);
      assert.deepEqual(lUnknown.levels, [null, null, null, null], "an unknown length reads as nothing");
      assert.equal(r23.kind, "wait", "the lease is kept: one probe out");
      assert.equal(r23.dim, 5);
      assert.equal(rUnknown.kind, "admit", "no lease: this request is the opening probe");
    } finally {
      await m.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The README's example: its wrangler config and Worker, bundled by wrangler (the package's
// exports map, "cloudflare:workers", the .wasm as a module), run in Miniflare.
const WRANGLER = {
  name: "pacer-example",
  main: "src/index.js",
  compatibility_date: "2025-09-01",
  durable_objects: { bindings: [{ name: "PACER_LIMITS", class_name: "PacerLimits" }] },
  migrations: [{ tag: "v1", new_sqlite_classes: ["PacerLimits"] }],
};
const EXAMPLE = `import { Pacer } from "llm-pacer";
import { PacerLimits, durableObjectStore } from "llm-pacer/cloudflare";
export { PacerLimits };

let pacer; // one per isolate; all of them share the Durable Object's limits
const events = [];
export default {
  async fetch(request, env) {
    pacer ??= new Pacer({ limits: { rpm: 60 }, store: durableObjectStore(env.PACER_LIMITS), onEvent: (e) => events.push(e.reason) });
    const { target, init, n } = await request.json();
    const res = await Promise.all(Array.from({ length: n }, () => pacer.fetch(target, init)));
    return Response.json({ statuses: res.map((r) => r.status), events });
  },
};
`;

test("the README's Worker, bundled by wrangler with its config, shares limits through the object", {
  timeout: 120_000,
}, async () => {
  const root = mkdtempSync(join(tmpdir(), "llm-pacer-do-wrangler-"));
  const mock = await startAnthropicMock({ limits: { rpm: 60, itpm: null, otpm: null }, enforce: false });
  let m;
  try {
    mkdirSync(join(root, "src"));
    mkdirSync(join(root, "node_modules"));
    symlinkSync(PKG, join(root, "node_modules", "llm-pacer"), "dir");
    writeFileSync(join(root, "package.json"), JSON.stringify({ name: "pacer-example", private: true, type: "module" }));
    writeFileSync(join(root, "wrangler.jsonc"), JSON.stringify(WRANGLER, null, 2));
    writeFileSync(join(root, "src", "index.js"), EXAMPLE);
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
    const out = readdirSync(join(root, "dist"));
    assert.equal(out.filter((f) => f.endsWith(".wasm")).length, 1, `one .wasm module: ${out.join(", ")}`);
    const bundle = readFileSync(join(root, "dist", "index.js"), "utf8");
    assert.equal(
      bundle.split("deprecated parameters for `initSync()`").length,
      2,
      "one copy of the glue, shared by both entries",
    );
    m = new Miniflare({
      scriptPath: join(root, "dist", "index.js"),
      modulesRoot: join(root, "dist"),
      modules: true,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: WRANGLER.compatibility_date,
      durableObjects: { PACER_LIMITS: "PacerLimits" },
    });
    await m.ready;
    // 80 calls at rpm 60, the server sending no rate-limit headers: the object admits 59 at
    // once (each needs 1 plus a quarter second's refill) and makes the rest wait. Beyond the
    // capacity each call needs a quarter of a request more in the object than in the pacer's
    // own copy, which waits for its own refill first: the object's shortfall grows by that
    // much a call until it makes one wait (the fourth, unloaded), whatever the timers'
    // lateness on a loaded machine up to a quarter second a call. Without figures the copy
    // is its own arithmetic: with them, a loaded run raised it less than the object's level
    // (its reservations in flight kept off), and the copy, not the object, made every call
    // wait (twice in whole-suite runs, with 66 calls and with 80).
    const init = anthropicInit({ headers: { "x-mock-fault": "ok; ratelimit-headers=missing" } });
    const res = await m.dispatchFetch("http://localhost/", {
      method: "POST",
      body: JSON.stringify({ target: `${mock.url}/v1/messages`, init, n: 80 }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const r = JSON.parse(text);
    assert.deepEqual([...new Set(r.statuses)], [200]);
    assert.ok(r.events.includes("store"), `the object made a call wait: ${r.events.join(", ")}`);
    assert.ok(!r.events.includes("store_unavailable"), r.events.join(", "));
    assert.deepEqual(mock.violations(), []);
  } finally {
    await m?.dispose();
    await mock.close();
    rmSync(root, { recursive: true, force: true });
  }
});
