// The chaos soak (issue 6, item 2): N calls through ONE `Pacer` against the Anthropic mock,
// which answers at random with every fault it knows (429 with, without and with garbage hints,
// 529, 5xx, connection resets, stalls past `timeoutMs`, streams cut or errored mid-way, bad or
// missing usage, garbage or missing rate-limit headers), while callers abort some calls at
// random moments. Every random choice comes from a seeded PRNG: each call's plan (fault, body,
// stream or not, abort or not and when) from one stream in call order, so a seed replays the
// same calls exactly (`plan`); arrival jitter and burst lengths from another. The interleaving
// still depends on real scheduling, so the outcome counts vary a little between runs.
//
// `runSoak(options)` runs it and returns a plain summary; `violations(summary)` lists what broke
// the rules (empty = pass). Used by tests/js/soak.test.mjs (short) and scripts/soak.mjs (full).
//
// - Time: the pacer and the mock share a DILATED clock (the `clock` option / the mock's `now`):
//   one real ms is `scale` virtual ones (default 120: a virtual minute per half real second),
//   so per-minute limits bind within seconds. Real timers carry the waits.
// - The server runs in its own process (soak-mock.mjs), so its log neither takes the pacer's
//   CPU nor counts in the memory samples; it reports its stats over IPC at the end.
// - Arrivals are open-loop (a schedule, in bursts and lulls around `load` x the server's RPM),
//   not closed-loop, so fast rejections cannot eat the run and the limiter has to hold the line.
import { setTimeout as realDelay } from "node:timers/promises";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { T0, importWithWasmMemory } from "./harness.mjs";

/** mulberry32: a small seeded PRNG with uniform draws in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A dilated real clock: `now()` = T0 + real elapsed ms * scale; `sleep(ms)` waits ms / scale
 * real ms, rejects with the signal's reason on abort. Counts the sleeps still pending.
 */
export function dilatedClock(scale, epoch = performance.timeOrigin + performance.now()) {
  const c = {
    epoch,
    pending: 0,
    sleeps: 0,
    now: () => T0 + (performance.timeOrigin + performance.now() - epoch) * scale,
    sleep: (ms, signal) =>
      new Promise((resolve, reject) => {
        if (!(Number.isFinite(ms) && ms >= 0)) c.badSleeps = (c.badSleeps ?? 0) + 1;
        if (signal?.aborted) return reject(signal.reason);
        c.pending++;
        c.sleeps++;
        let timer;
        const onAbort = () => {
          clearTimeout(timer);
          c.pending--;
          reject(signal.reason);
        };
        timer = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          c.pending--;
          resolve();
        }, Math.max(0, ms) / scale);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
  };
  return c;
}

/**
 * The fault mix: [weight, fault header value or null (no header: the buckets decide)].
 * Hints are in seconds (`retry-after`) or ms (`retry-after-ms`), both virtual.
 */
export const FAULTS = [
  [70, null],
  [4, "429"],
  [1, "429; retry-after=1"],
  [1, "429; retry-after-ms=300"],
  [2, "429; retry-after=soon"],
  [1, "429; retry-after-ms=-5; retry-after=1e999"],
  [0.1, "429; retry-after=8"], // beyond maxRetryAfterMs (5 s): returned at once
  [3, "529"],
  [2, "500"],
  [2, "503; retry-after=NaN"],
  [1, "502"],
  [3, "reset"],
  [2, "stall"], // until the client gives up: the pacer's timeoutMs
  [1, "stall; ms=3"],
  [3, "stream-error; after=2"],
  [2, "sse-error; after=3"],
  [2, "bad-usage"],
  [2, "no-usage"],
  [2, "ok; usage=malformed"],
  [2, "bad-headers"],
  [1, "ok; ratelimit-headers=malformed"],
  [1, "no-headers"],
];

function pick(rand, table) {
  const total = table.reduce((s, [w]) => s + w, 0);
  let x = rand() * total;
  for (const [w, v] of table) {
    if ((x -= w) < 0) return v;
  }
  return table[table.length - 1][1];
}

/** The pacer's Wasm memory, caught as the package instantiates its module (first load only). */
let wasmMemory = () => /** @type {WebAssembly.Memory | null} */ (null);
async function loadPacer() {
  const { api, memory } = await importWithWasmMemory();
  wasmMemory = memory;
  return api;
}

const heap = () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, wasm: wasmMemory()?.buffer.byteLength ?? null };
};

/**
 * Run the soak.
 * @param {{ requests?: number, seed?: number, callers?: number, concurrency?: number,
 *   scale?: number, abortRate?: number, boundMs?: number, load?: number, limits?: object,
 *   faults?: Array<[number, string | null]>, pacerLimitsFactor?: number, enforce?: boolean,
 *   log?: (s: string) => void }} [o]
 *   `callers`: most calls outstanding at once; `load`: mean arrival rate over the server's RPM;
 *   `faults`: the mix (default {@link FAULTS}); `pacerLimitsFactor`: the control (see below);
 *   `enforce` (default true): the server refuses requests over its limits with a 429, as the
 *   API does (false: it admits them and counts each as a violation).
 */
export async function runSoak(o = {}) {
  const requests = o.requests ?? 2000;
  const seed = o.seed ?? 1;
  const callers = o.callers ?? 256;
  const tickMs = 5;
  const load = o.load ?? 1.1;
  const scale = o.scale ?? 120;
  const abortRate = o.abortRate ?? 0.08;
  const boundMs = o.boundMs ?? 120_000;
  const log = o.log ?? (() => {});
  // Two streams: the calls' plan (fault, body, abort) is drawn in call order, so call i gets
  // the same plan on every run of a seed; the arrival times draw as real time passes.
  const rand = prng(seed);
  const arrivalRand = prng(seed ^ 0x5eed5eed);
  const faults = o.faults ?? FAULTS;
  const { Pacer, PacerError } = await loadPacer();

  // Tight enough that the pacer's limiter, not only the faults, decides when requests go.
  const limits = o.limits ?? { rpm: 150, itpm: 9_000, otpm: 15_000 };
  // The control (tests): the pacer believes limits `pacerLimitsFactor` times the server's.
  const factor = o.pacerLimitsFactor ?? 1;
  const pacerLimits = Object.fromEntries(Object.entries(limits).map(([k, x]) => [k, x * factor]));
  const clock = dilatedClock(scale);
  const enforce = o.enforce ?? true;
  const server = fork(
    fileURLToPath(new URL("./soak-mock.mjs", import.meta.url)),
    [JSON.stringify({ limits, scale, epoch: clock.epoch, enforce })],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [],
    },
  );
  let waiter = null;
  const serverExit = new Promise((resolve) => server.once("exit", resolve));
  server.on("message", (m) => waiter?.(m));
  const fromServer = () =>
    Promise.race([
      new Promise((resolve) => (waiter = resolve)),
      serverExit.then((code) => Promise.reject(new Error(`the soak server exited (${code})`))),
    ]);
  const url = `${(await fromServer()).url}/v1/messages`;

  // Attempts as the pacer sends them: calls of its `fetch`, and those that never reached the
  // server because they were aborted (the caller's abort or the pacer's deadline) or failed.
  const wire = { calls: 0, aborted: 0, failed: 0, pending: 0 };
  const events = {};
  const fetchImpl = async (input, init) => {
    wire.calls++;
    wire.pending++;
    try {
      return await globalThis.fetch(input, init);
    } catch (e) {
      if (init?.signal?.aborted || e?.name === "AbortError") wire.aborted++;
      else wire.failed++;
      throw e;
    } finally {
      wire.pending--;
    }
  };

  const pacer = new Pacer({
    limits: pacerLimits,
    concurrency: o.concurrency ?? 64,
    timeoutMs: 60_000, // virtual: 0.5 s real at scale 120
    retry: { maxRetries: 4, initialDelayMs: 1, maxDelayMs: 5 * scale, maxRetryAfterMs: 5_000 },
    clock,
    fetch: fetchImpl,
    seed,
    onEvent: (e) => {
      const k = `${e.type} ${e.reason}`;
      events[k] = (events[k] ?? 0) + 1;
    },
  });

  const outcomes = {};
  const bump = (k) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
  // The seeded plan (calls per fault, whatever the run's timing) and each fault's outcomes.
  const plan = {};
  const byFault = {};
  const calls = []; // per call: settlement count
  const problems = [];
  let settled = 0;
  let quarter = null;
  const before = heap();
  const t0 = performance.now();

  const oneCall = async (i) => {
    const fault = pick(rand, faults);
    const label = fault ?? "none";
    plan[label] = (plan[label] ?? 0) + 1;
    const stream = rand() < 0.4;
    const maxTokens = 16 + Math.floor(rand() * 200);
    const text = "x".repeat(4 + Math.floor(rand() * 400));
    const abortAt = rand() < abortRate ? rand() * 40 : null; // real ms
    const ac = new AbortController();
    const reason = new Error(`soak abort ${i}`);
    reason.soakAbort = true;
    const timer = abortAt === null ? null : setTimeout(() => ac.abort(reason), abortAt);
    const headers = {
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "x-api-key": "sk-ant-soak",
    };
    if (fault) headers["x-mock-fault"] = fault;
    const init = {
      method: "POST",
      headers,
      body: JSON.stringify({
        model: "claude-soak",
        max_tokens: maxTokens,
        stream,
        messages: [{ role: "user", content: text }],
      }),
      signal: ac.signal,
    };
    const rec = { i, settlements: 0 };
    calls.push(rec);
    const p = pacer.fetch(url, init);
    p.then(
      () => rec.settlements++,
      () => rec.settlements++,
    );
    let key;
    try {
      const res = await p;
      key = `status ${res.status}`;
      try {
        await res.text();
      } catch (e) {
        key += e === reason ? " body aborted" : " body error";
      }
    } catch (e) {
      if (e === reason) key = "aborted";
      else if (e instanceof PacerError && typeof e.code === "string") key = `PacerError ${e.code}`;
      else if (e instanceof TypeError && /fetch failed/.test(e.message)) key = "fetch error";
      else {
        key = `UNEXPECTED ${e?.name}: ${e?.message}`;
        problems.push(`call ${i}: unexpected rejection ${e?.stack ?? e}`);
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    bump(key);
    byFault[label] ??= {};
    byFault[label][key] = (byFault[label][key] ?? 0) + 1;
    settled++;
    if (settled === Math.floor(requests / 4)) quarter = heap();
  };

  // Open loop: calls arrive on a schedule (a seeded number every `tickMs` real ms, about
  // `load` times what the server's RPM allows), not when earlier ones end, so a burst of fast
  // rejections cannot eat the run; at most `callers` calls outstanding.
  const perMs = (limits.rpm / 60_000) * scale * load; // arrivals per real ms
  const running = new Set();
  const arrivals = (async () => {
    let i = 0;
    let due = 0; // arrivals owed so far: the schedule, with seeded jitter per tick
    let last = performance.now();
    // Bursts and lulls: 1.8x the load for a while (the limiter must hold the line), then 0.4x
    // (the queue drains), each phase lasting a random 0.3-1.3 s real.
    let burst = true;
    let phaseEnd = last + 300 + 1000 * arrivalRand();
    while (i < requests) {
      const t = performance.now();
      if (t >= phaseEnd) {
        burst = !burst;
        phaseEnd = t + 300 + 1000 * arrivalRand();
      }
      due += (t - last) * perMs * (burst ? 1.8 : 0.4) * 2 * arrivalRand();
      last = t;
      while (due >= 1 && i < requests) {
        due -= 1;
        while (running.size >= callers) await Promise.race(running);
        const p = oneCall(i++).finally(() => running.delete(p));
        running.add(p);
      }
      await realDelay(tickMs);
    }
    while (running.size) await Promise.race(running);
  })();
  let boundTimer;
  const bound = new Promise((resolve) => {
    boundTimer = setTimeout(() => resolve("bound"), boundMs);
  });
  const done = arrivals.then(() => "done");
  const how = await Promise.race([done, bound]);
  clearTimeout(boundTimer);
  if (how !== "done") problems.push(`the run did not end within ${boundMs} ms: ${settled} of ${requests} settled`);
  const durationMs = performance.now() - t0;

  // Let usage settle and stalled requests on the server end.
  let report;
  for (let k = 0; k < 2000; k++) {
    server.send("report");
    report = await fromServer();
    if (pacer.stats().inFlight === 0 && pacer.stats().queued === 0 && report.stats.inFlight === 0) break;
    await realDelay(2);
  }
  const statsBeforeClose = pacer.stats();
  const after = heap();
  const mockStats = report.stats;
  pacer.close();
  const statsAfterClose = pacer.stats();
  let closedRejects = null;
  try {
    await pacer.fetch(url, { method: "POST", body: "{}" });
  } catch (e) {
    closedRejects = e?.code ?? String(e);
  }
  server.send("close");
  await serverExit;

  const lost = calls.filter((c) => c.settlements === 0).length;
  const twice = calls.filter((c) => c.settlements > 1).length;
  log(`soak: seed ${seed}, ${requests} requests, ${durationMs.toFixed(0)} ms`);
  return {
    seed,
    requests,
    made: calls.length,
    settled,
    lost,
    settledTwice: twice,
    outcomes,
    plan,
    byFault,
    events,
    problems,
    durationMs,
    wire,
    clock: { pendingSleeps: clock.pending, sleeps: clock.sleeps, badSleeps: clock.badSleeps ?? 0 },
    stats: statsBeforeClose,
    statsAfterClose,
    closedRejects,
    mock: {
      requests: mockStats.requests,
      admitted: mockStats.admitted,
      limited: mockStats.limited,
      faults: mockStats.faults,
      resets: mockStats.resets,
      aborted: mockStats.aborted,
      inFlight: mockStats.inFlight,
      maxInFlight: mockStats.maxInFlight,
      violations: report.violations,
      firstViolations: report.firstViolations,
    },
    memory: { before, quarter, after },
  };
}

/**
 * What must hold after a run; returns the broken rules (empty = pass).
 * @param {ReturnType<typeof runSoak> extends Promise<infer S> ? S : never} s
 * @param {{ heapGrowthBytes?: number, rssGrowthBytes?: number, wasmGrowthBytes?: number }} [bounds]
 */
export function violations(
  s,
  { heapGrowthBytes = 8 << 20, rssGrowthBytes = 64 << 20, wasmGrowthBytes = 1 << 20 } = {},
) {
  const v = [...s.problems];
  const st = s.stats;
  // Every call settles exactly once.
  if (s.made !== s.requests) v.push(`${s.made} calls made, ${s.requests} wanted`);
  if (s.settled !== s.requests) v.push(`${s.settled} of ${s.requests} calls settled`);
  if (s.lost !== 0) v.push(`${s.lost} calls never settled`);
  if (s.settledTwice !== 0) v.push(`${s.settledTwice} calls settled more than once`);
  const tally = Object.values(s.outcomes).reduce((a, b) => a + b, 0);
  if (tally !== s.requests) v.push(`outcomes add up to ${tally}, not ${s.requests}`);
  // stats() adds up.
  for (const [k, x] of Object.entries(st)) {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0) v.push(`stats().${k} = ${x}`);
  }
  if (st.requests !== s.requests) v.push(`stats().requests = ${st.requests}, calls made ${s.requests}`);
  // attempts = the pacer's fetch calls, exactly; the server saw each of them, except those
  // aborted or failed before reaching it.
  if (st.attempts !== s.wire.calls) v.push(`stats().attempts = ${st.attempts}, fetch called ${s.wire.calls} times`);
  if (s.mock.requests > st.attempts)
    v.push(`the server saw ${s.mock.requests} requests, more than ${st.attempts} attempts`);
  const unseen = st.attempts - s.mock.requests;
  if (unseen > s.wire.aborted + s.wire.failed) {
    v.push(
      `${unseen} attempts never reached the server, only ${s.wire.aborted} aborted + ${s.wire.failed} failed in transit`,
    );
  }
  if (st.retries > st.attempts) v.push(`stats().retries = ${st.retries} > attempts ${st.attempts}`);
  if (st.attempts < st.requests - countNotSent(s)) v.push(`attempts ${st.attempts} < calls that were sent`);
  if (st.queued !== 0 || st.inFlight !== 0) v.push(`at the end queued = ${st.queued}, inFlight = ${st.inFlight}`);
  if (s.statsAfterClose.queued !== 0 || s.statsAfterClose.inFlight !== 0) v.push(`after close queued/inFlight not 0`);
  if (s.closedRejects !== "CLOSED") v.push(`a call after close() gave ${s.closedRejects}, not CLOSED`);
  if (s.wire.pending !== 0) v.push(`${s.wire.pending} fetches still pending`);
  if (s.clock.pendingSleeps !== 0) v.push(`${s.clock.pendingSleeps} pacer sleeps still pending after close`);
  if (s.clock.badSleeps !== 0) v.push(`${s.clock.badSleeps} sleeps with a non-finite or negative duration`);
  if (s.mock.inFlight !== 0) v.push(`${s.mock.inFlight} requests still in progress on the server`);
  // The server's limits: no request over them. An enforcing server (the default) refuses
  // such a request with a bucket 429 (`limited`; the faults' own 429s are not counted there);
  // one that does not enforce admits it and records a violation.
  if (s.mock.limited !== 0) v.push(`${s.mock.limited} bucket 429s: requests sent over the server's limits`);
  if (s.mock.violations !== 0)
    v.push(`${s.mock.violations} admissions over the server's limits: ${JSON.stringify(s.mock.firstViolations)}`);
  // Flat memory from 1/4 to the end.
  const m = s.memory;
  if (m.quarter) {
    const dh = m.after.heapUsed - m.quarter.heapUsed;
    const dr = m.after.rss - m.quarter.rss;
    if (dh > heapGrowthBytes) v.push(`heap grew ${dh} bytes from 1/4 to the end (bound ${heapGrowthBytes})`);
    if (dr > rssGrowthBytes) v.push(`rss grew ${dr} bytes from 1/4 to the end (bound ${rssGrowthBytes})`);
    if (m.quarter.wasm !== null && m.after.wasm - m.quarter.wasm > wasmGrowthBytes) {
      v.push(`Wasm memory grew ${m.after.wasm - m.quarter.wasm} bytes from 1/4 to the end (bound ${wasmGrowthBytes})`);
    }
  } else v.push("no memory sample at 1/4");
  return v;
}

/** Calls that may legitimately have made no attempt: aborted, closed, or refused before sending. */
function countNotSent(s) {
  let n = 0;
  for (const [k, c] of Object.entries(s.outcomes)) {
    if (k === "aborted" || k.startsWith("PacerError")) n += c;
  }
  return n;
}
