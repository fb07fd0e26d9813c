// Faults of the shared store (issue 11 item 4; DESIGN.md §5 "Faults"), each against a real
// redis-server and the loopback mock, which admits over its limits and records each such
// admission (`enforce: false`) so the over-limit can be measured: a slow Redis, a script flush
// and a restart, a process killed while holding reservations, clocks 5 s apart. For each:
// every call settles with a 200 within the pacer's `timeoutMs`, the events say what happened,
// sharing resumes, and the server's limit is exceeded by no more than the stated bound.
// Real time throughout (the store's clock is Redis TIME): limits are high enough per second
// that each test takes a few seconds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import Redis from "ioredis";
import { Pacer } from "llm-pacer";
import { redisStore } from "llm-pacer/redis";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit } from "./lib/harness.mjs";
import { startRedis } from "./lib/redis-server.mjs";
import { startDelayProxy } from "./lib/delay-proxy.mjs";

/** @type {Awaited<ReturnType<typeof startRedis>>} */
let server;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server?.stop();
});

const TIMEOUT_MS = 15_000;
/** BLIND_SHARE (src/core/share.rs): what a pacer that lost the store spends of a bucket beyond its refill before a response. */
const BLIND_SHARE = 0.25;

/** @param {number} port */
const client = (port) =>
  new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 });

/** @param {Redis} c */
const ready = (c) =>
  c.status === "ready" ? Promise.resolve() : new Promise((resolve) => c.once("ready", () => resolve(undefined)));

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A pacer on the store, recording its events with their real time.
 * @param {import("llm-pacer").PacerStore} store
 * @param {number} rpm
 * @param {Partial<import("llm-pacer").PacerOptions>} [extra]
 */
function pacerOn(store, rpm, extra = {}) {
  /** @type {(import("llm-pacer").PacerEvent & { t: number })[]} */
  const events = [];
  const pacer = new Pacer({
    limits: { rpm },
    timeoutMs: TIMEOUT_MS,
    store,
    onEvent: (e) => events.push({ ...e, t: Date.now() }),
    ...extra,
  });
  return { pacer, events };
}

/**
 * `n` calls at once; resolves to each one's status (or error code) and duration.
 * @param {Pacer} pacer @param {string} url @param {number} n
 */
async function fire(pacer, url, n) {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const t0 = Date.now();
      try {
        const r = await pacer.fetch(`${url}/v1/messages`, anthropicInit());
        await r.text();
        return { status: /** @type {number | string} */ (r.status), ms: Date.now() - t0, end: Date.now() };
      } catch (e) {
        return { status: String(/** @type {any} */ (e)?.code ?? e), ms: Date.now() - t0, end: Date.now() };
      }
    }),
  );
}

/** @param {{ status: number | string, ms: number }[]} results */
function assertAllSettled(results) {
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200], "every call settled with a 200");
  const longest = Math.max(...results.map((r) => r.ms));
  assert.ok(longest <= TIMEOUT_MS, `no call waited beyond timeoutMs (longest ${longest} ms)`);
  return longest;
}

/**
 * The most the mock's requests bucket was exceeded by (0 if never): the deepest debt an
 * admission left it in.
 * @param {{ violations(): { need: number, level: number, dimension: string }[] }} mock
 */
function overLimit(mock) {
  const v = mock.violations().filter((x) => x.dimension === "requests");
  return v.length ? Math.max(...v.map((x) => x.need - x.level)) : 0;
}

/** @param {{ type: string, reason?: string }[]} events */
const warnings = (events) => events.filter((e) => e.type === "warning").map((e) => e.reason);

test("Redis slow (every chunk held 2 s): calls go on the local limiter, store_unavailable, then store_resumed", async (t) => {
  const rpm = 120;
  const mock = await startAnthropicMock({ limits: { rpm, itpm: null, otpm: null }, enforce: false });
  const proxy = await startDelayProxy(server.port);
  const [slowClient, fastClient] = [client(proxy.port), client(server.port)];
  slowClient.on("error", () => {});
  await Promise.all([ready(slowClient), ready(fastClient)]);
  try {
    const a = pacerOn(redisStore(slowClient, { prefix: "slow" }), rpm); // behind the proxy
    const b = pacerOn(redisStore(fastClient, { prefix: "slow" }), rpm);
    const results = [];
    results.push(...(await Promise.all([fire(a.pacer, mock.url, 20), fire(b.pacer, mock.url, 20)])).flat());
    assert.deepEqual(warnings(a.events), []);

    // A store call now takes over 4 s: beyond the driver's 1 s. Two waves of 20 and 30 each:
    // 140 with the first, 20 beyond the bucket of 120 (the refill, 2 a second, makes up for
    // them in 10 s, within timeoutMs).
    proxy.delayMs = 2_000;
    const slowFrom = Date.now();
    results.push(...(await Promise.all([fire(a.pacer, mock.url, 20), fire(b.pacer, mock.url, 20)])).flat());
    results.push(...(await Promise.all([fire(a.pacer, mock.url, 30), fire(b.pacer, mock.url, 30)])).flat());
    assert.deepEqual(warnings(a.events), ["store_unavailable"]);
    assert.deepEqual(warnings(b.events), [], "the pacer with a fast connection never lost the store");
    const local = a.events.filter((e) => e.type === "admitted" && e.t >= slowFrom).length;

    proxy.delayMs = 0;
    await sleep(4_500);
    await slowClient.ping(); // what the proxy still held has drained
    const fastFrom = Date.now();
    const last = (await Promise.all([fire(a.pacer, mock.url, 3), fire(b.pacer, mock.url, 3)])).flat();
    // Where the local copy refilled enough to admit those at once, the probe went beside the
    // first of them, and the next calls' reservations go through the store again.
    last.push(...(await Promise.all([fire(a.pacer, mock.url, 3), fire(b.pacer, mock.url, 3)])).flat());
    results.push(...last);
    const longest = assertAllSettled(results);
    assert.deepEqual(warnings(a.events), ["store_unavailable", "store_resumed"]);
    const resumed = /** @type {{ t: number }} */ (a.events.find((e) => e.reason === "store_resumed")).t - fastFrom;
    // Probed within STORE_PROBE_MS (1 s) of a call waiting on the local limiter, or beside
    // the first call sent: sharing resumes at once, not when the local limiter's conservative
    // share next admits a call.
    assert.ok(resumed <= 1_500, `store_resumed ${resumed} ms after calls waited again`);
    // Bound: while it cannot reach the store, the slow pacer sends on its local limiter, whose
    // level follows the server's headers but not the other pacer's store admissions since its
    // last response. So the server is exceeded by at most what it sent on its own (`local`);
    // here, where its local level was about 40 when the other took its 30, also by no more
    // than a quarter of the bucket (its blind share), about twice what is seen (15-16).
    const over = overLimit(mock);
    assert.ok(over <= Math.min(local, BLIND_SHARE * rpm), `over the limit by ${over} (sent locally: ${local})`);
    t.diagnostic(
      `slow: ${local} calls on the local limiter; over the limit by ${over.toFixed(1)} requests (bound ${BLIND_SHARE * rpm}); longest call ${longest} ms; after the store was fast again, store_resumed ${resumed} ms after the next calls, which took at most ${Math.max(...last.map((r) => r.ms))} ms`,
    );
  } finally {
    slowClient.disconnect();
    fastClient.disconnect();
    await proxy.close();
    await mock.close();
  }
});

/**
 * `INFO commandstats` of the server, as `{ eval: { calls, failed } , evalsha: ... }`.
 * @param {Redis} c
 */
async function commandStats(c) {
  const info = await c.info("commandstats");
  /** @type {Record<string, { calls: number, failed: number }>} */
  const out = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+),.*failed_calls=(\d+)/gm)) {
    out[m[1]] = { calls: Number(m[2]), failed: Number(m[3]) };
  }
  return out;
}

test("SCRIPT FLUSH mid-run and Redis restarted on the same port: the script is loaded again, no call lost", async (t) => {
  const rpm = 600;
  const mock = await startAnthropicMock({ limits: { rpm, itpm: null, otpm: null }, enforce: false });
  const c = client(server.port);
  c.on("error", () => {});
  await ready(c);
  const admin = client(server.port);
  admin.on("error", () => {});
  await ready(admin);
  try {
    const { pacer, events } = pacerOn(redisStore(c, { prefix: "flush" }), rpm);
    const results = [...(await fire(pacer, mock.url, 10))];
    await admin.config("RESETSTAT");
    await admin.script("FLUSH");
    results.push(...(await fire(pacer, mock.url, 10)));
    let s = await commandStats(admin);
    // The calls under way at the flush each met NOSCRIPT once and ran by EVAL, which cached
    // the script again; the later ones run by EVALSHA.
    assert.ok(s.eval?.calls >= 1, "EVAL reloaded the script");
    assert.equal(s.evalsha?.failed, s.eval.calls, "each NOSCRIPT was followed by one EVAL");
    const reloads = s.eval.calls;
    results.push(...(await fire(pacer, mock.url, 10)));
    s = await commandStats(admin);
    assert.equal(s.eval.calls, reloads, "no EVAL once the script is back");
    assert.equal(s.evalsha.failed, reloads);
    assert.ok(s.evalsha.calls - s.evalsha.failed >= 10, JSON.stringify(s));
    assert.deepEqual(warnings(events), [], "a flush is no outage");

    await server.stop();
    results.push(...(await fire(pacer, mock.url, 5))); // down: the local limiter
    server = await startRedis(server.port); // restarted: no script, no state
    for (let i = 0; i < 100 && (c.status !== "ready" || admin.status !== "ready"); i++) await sleep(50);
    await sleep(1_100); // down, the pacer asks the store once a second (not once a call)
    results.push(...(await fire(pacer, mock.url, 10)));
    s = await commandStats(admin); // the restarted server's
    assert.ok(s.eval?.calls >= 1, "the restarted server got the script by EVAL");
    assert.equal(s.evalsha?.failed, s.eval.calls, "after NOSCRIPT");
    const restartReloads = s.eval.calls;
    results.push(...(await fire(pacer, mock.url, 10)));
    s = await commandStats(admin);
    assert.equal(s.eval.calls, restartReloads, "then EVALSHA only");
    assert.ok(s.evalsha.calls - s.evalsha.failed >= 10, JSON.stringify(s));
    const longest = assertAllSettled(results);
    assert.deepEqual(warnings(events), ["store_unavailable", "store_resumed"]);
    // One pacer alone: its local limiter alone keeps within the limit.
    assert.equal(overLimit(mock), 0);
    assert.equal(mock.stats.admitted, 55);
    t.diagnostic(
      `flush/restart: 55 calls, EVAL reloads after the flush ${reloads}, after the restart ${restartReloads}; longest call ${longest} ms; over the limit by 0`,
    );
  } finally {
    c.disconnect();
    admin.disconnect();
    await mock.close();
  }
});

test("a process killed while holding reservations: the survivor's waits end as the bucket refills", async (t) => {
  const rpm = 120; // 2 a second
  const held = 100;
  const mock = await startAnthropicMock({ limits: { rpm, itpm: null, otpm: null }, enforce: false });
  const c = client(server.port);
  await ready(c);
  const child = fork(
    fileURLToPath(new URL("./lib/store-child.mjs", import.meta.url)),
    [String(server.port), mock.url, String(rpm), "dead", String(held)],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  try {
    await new Promise((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`the child exited (${code})`)));
    });
    for (let i = 0; i < 200 && mock.stats.inFlight < held; i++) await sleep(25);
    assert.equal(mock.stats.inFlight, held, "the child's calls are all in flight");
    const store = redisStore(c, { prefix: "dead" });
    const { pacer, events } = pacerOn(store, rpm);
    const key = /** @type {string} */ ((await c.keys("{dead:*"))[0]).slice(1, -1).replace(/^dead:/, "");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const level = /** @type {number} */ ((await store.levels(key)).levels.requests);
    assert.ok(level < rpm - held + 5, `the dead process's reservations are still taken (level ${level})`);

    // 30 calls: what is left goes at once, the rest as the dead reservations refill (2 a
    // second), never beyond the bucket's refill time.
    const n = 30;
    const start = Date.now();
    const results = await fire(pacer, mock.url, n);
    const longest = assertAllSettled(results);
    const ideal = ((n - level) / rpm) * 60_000;
    assert.ok(
      longest >= ideal - 1_500,
      `the survivor waited for the refill (${longest} ms, ideal ${ideal.toFixed(0)})`,
    );
    assert.ok(longest <= ideal + 3_000, `and no longer (${longest} ms, ideal ${ideal.toFixed(0)})`);
    const waits = events.filter((e) => e.type === "wait" && e.reason === "store").map((e) => e.delayMs);
    assert.ok(waits.length > 0, "the store made it wait");
    assert.ok(Math.max(...waits) <= 60_000, "a wait is at most the bucket's refill time");
    assert.deepEqual(warnings(events), []);
    assert.ok(overLimit(mock) <= 1, `over the limit by ${overLimit(mock)}`);
    t.diagnostic(
      `killed: level after the kill ${level.toFixed(1)}, ${waits.length} store waits (longest ${Math.max(...waits)} ms), ${n} calls done in ${Date.now() - start} ms (ideal ${ideal.toFixed(0)} ms), over the limit by ${overLimit(mock).toFixed(1)}`,
    );
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    c.disconnect();
    await mock.close();
  }
});

test("two pacers whose clocks differ by 5 s share the limit and neither waits extra", async (t) => {
  const rpm = 120;
  const mock = await startAnthropicMock({ limits: { rpm, itpm: null, otpm: null }, enforce: false });
  const [ca, cb] = [client(server.port), client(server.port)];
  await Promise.all([ready(ca), ready(cb)]);
  try {
    /** @type {import("llm-pacer").PacerClock} */
    const ahead = {
      now: () => Date.now() + 5_000,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
          const timer = setTimeout(resolve, ms);
          signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        }),
    };
    const a = pacerOn(redisStore(ca, { prefix: "skew" }), rpm);
    const b = pacerOn(redisStore(cb, { prefix: "skew" }), rpm, { clock: ahead });
    // 70 each: 140, 20 beyond the bucket, which go at the refill (2 a second): about 10 s.
    const n = 70;
    const [ra, rb] = await Promise.all([fire(a.pacer, mock.url, n), fire(b.pacer, mock.url, n)]);
    const longest = assertAllSettled([...ra, ...rb]);
    const ideal = ((2 * n - rpm) / rpm) * 60_000;
    assert.ok(longest <= ideal + 2_500, `done at the shared rate (${longest} ms, ideal ${ideal})`);
    // A store on either process's clock would make one of them wait about 5 s more than the
    // refill asks for (or let both through early: over the limit).
    const lastA = Math.max(...ra.map((r) => r.ms));
    const lastB = Math.max(...rb.map((r) => r.ms));
    const storeWaits = (/** @type {{ type: string, reason?: string, delayMs: number }[]} */ ev) =>
      Math.max(0, ...ev.filter((e) => e.type === "wait" && e.reason === "store").map((e) => e.delayMs));
    const [waitA, waitB] = [storeWaits(a.events), storeWaits(b.events)];
    assert.ok(waitA <= ideal + 1_000 && waitB <= ideal + 1_000, `longest store waits ${waitA} and ${waitB} ms`);
    assert.ok(waitA > 0 || waitB > 0, "the store made one of them wait");
    assert.ok(overLimit(mock) <= 1, `over the limit by ${overLimit(mock)}`);
    assert.deepEqual([...warnings(a.events), ...warnings(b.events)], []);
    t.diagnostic(
      `skew: last call ${lastA} ms (real clock) vs ${lastB} ms (+5 s), longest store wait ${waitA} vs ${waitB} ms; ideal ${ideal} ms; over the limit by ${overLimit(mock).toFixed(1)}`,
    );
  } finally {
    ca.disconnect();
    cb.disconnect();
    await mock.close();
  }
});
