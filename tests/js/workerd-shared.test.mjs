// The README's Worker pattern in workerd (Miniflare): ONE pacer at module scope, shared by the
// requests of an isolate, each request an I/O context of its own.
// - Two overlapping requests whose calls queue behind each other: each call's attempt is sent
//   from its own request (a request left waiting on another's promise is cancelled as hung),
//   both answer 200, and the pacer ends with nothing in flight or queued, each call settled once;
//   and a request whose calls wait on the rpm after the request that armed the pacer's timer
//   ended (its own timer lets them in).
// - `return pacer.fetch(...)` straight from the handler (a JSON body the runtime streams out):
//   the call settles with its usage (read after the response, kept with waitUntil), so its
//   concurrency slot frees.
// - A stream returned so, with llm-pacer/cloudflare's store: the settlement at the body's end,
//   after the response, reaches the Durable Object.
// - Calls with a `signal` (`request.signal`) or a `timeoutMs`, let in by another request after
//   a 429's pause: each is sent, aborted and settled from its own request (workerd refuses
//   another request's `abort()` of a controller: the throw cut the step short, the call was
//   never settled and its request never answered). An abort while waiting, and a `timeoutMs`
//   that passes while waiting or with the attempt on the wire, reject at once, and every
//   request answers.
// - A 429's pause shared across requests (plain, with a `timeoutMs`, with llm-pacer/cloudflare's
//   store): no timer or promise of one request is touched by another's code (workerd warned of
//   a promise resolved from a different request context: the pacer's one timer, armed by one
//   request's step, was cancelled by another's after the first ended), every request answers,
//   and the pacer ends idle.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO, workerdEntry, workerdModules } from "../runtimes/harness.mjs";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit } from "./lib/harness.mjs";

const { Miniflare } = await import("miniflare");

const entry = workerdEntry;

const script = `
import { Pacer } from "${entry(".")}";
import { PacerLimits as Limits, durableObjectStore } from "${entry("./cloudflare")}";

// The class, counting the operations it is asked.
export class PacerLimits extends Limits {
  op(...a) {
    (this.seen ??= {})[a[0]] = (this.seen[a[0]] ?? 0) + 1;
    return super.op(...a);
  }
  ops() {
    return this.seen ?? {};
  }
}

// At module scope, shared by every request of the isolate (the README's pattern).
let pacer;
let paced;
let stored;
let signalled;
let timed;
let narrow;
// For the 429's pause shared across requests (one pacer each: plain, timed, with the store).
let paused;
let pausedTimed;
let pausedStored;
// Its call aborted while it reads an error body.
let reading;
// Its 429's hint is short (a fifth of a second).
let hinted;
// One call at a time, its streams returned straight from the handler.
let streaming;
const settled = { plain: [], stored: [] };
const keys = new Set();

export default {
  async fetch(request, env) {
    const u = new URL(request.url);
    const q = JSON.parse(u.searchParams.get("q") ?? "{}");
    pacer ??= new Pacer({ concurrency: 1, onEvent: (e) => e.type === "settled" && settled.plain.push(e.id) });
    paced ??= new Pacer({ limits: { rpm: 120 } });
    const namespace = {
      idFromName: (name) => (keys.add(String(name)), env.LIMITS.idFromName(name)),
      get: (id) => env.LIMITS.get(id),
    };
    stored ??= new Pacer({
      // A limit known from the start: the store meters every reservation (one it held no
      // bucket for is not settled there).
      limits: { rpm: 1_000 },
      store: durableObjectStore(namespace),
      onEvent: (e) => e.type === "settled" && settled.stored.push(e.id),
    });
    signalled ??= new Pacer({ limits: { rpm: 600 } });
    timed ??= new Pacer({ limits: { rpm: 600 }, timeoutMs: 1_500 });
    narrow ??= new Pacer({ concurrency: 1, timeoutMs: 800 });
    paused ??= new Pacer();
    pausedTimed ??= new Pacer({ timeoutMs: 5_000 });
    pausedStored ??= new Pacer({ limits: { rpm: 1_000 }, store: durableObjectStore(namespace) });
    reading ??= new Pacer();
    hinted ??= new Pacer();
    streaming ??= new Pacer({ concurrency: 1 });
    try {
      if (u.pathname === "/one") {
        // One call of a module-scope pacer with the request's signal, or a signal aborted
        // after abortMs: its status, or what it rejected with.
        const init = { ...q.init };
        if (q.signal) init.signal = request.signal;
        if (q.abortMs !== undefined) {
          const ac = new AbortController();
          init.signal = ac.signal;
          setTimeout(() => ac.abort(), q.abortMs);
        }
        try {
          const r = await { signalled, timed, narrow, paused, pausedTimed, pausedStored, reading, hinted, streaming }[q.pacer].fetch(q.url, init);
          await r.text();
          return Response.json({ status: r.status });
        } catch (e) {
          return Response.json({ error: e?.name, code: typeof e?.code == "string" ? e.code : undefined });
        }
      }
      if (u.pathname === "/calls") {
        const res = await Promise.all(
          Array.from({ length: q.n }, () =>
            (q.rpm ? paced : pacer).fetch(q.url, q.init).then(
              async (r) => (await r.text(), r.status),
              (e) => String(e?.code ?? e),
            ),
          ),
        );
        return Response.json(res);
      }
      if (u.pathname === "/direct") return (q.store ? stored : q.streaming ? streaming : pacer).fetch(q.url, q.init);
      if (u.pathname === "/mark") {
        // A line on the runtime's stderr after whatever it wrote before (see \`said\`).
        console.warn(q.mark);
        return new Response("ok");
      }
      if (u.pathname === "/stats") {
        const ops = {};
        for (const k of keys) ops[k] = await env.LIMITS.get(env.LIMITS.idFromName(k)).ops();
        return Response.json({
          plain: pacer.stats(),
          paced: paced.stats(),
          stored: stored.stats(),
          signalled: signalled.stats(),
          timed: timed.stats(),
          narrow: narrow.stats(),
          paused: paused.stats(),
          pausedTimed: pausedTimed.stats(),
          pausedStored: pausedStored.stats(),
          reading: reading.stats(),
          streaming: streaming.stats(),
          settled,
          ops,
        });
      }
      return new Response("not found", { status: 404 });
    } catch (e) {
      return new Response(String(e?.stack ?? e), { status: 500 });
    }
  },
};
`;

const modules = workerdModules(join(REPO, "tests", "js", "workerd-shared.worker.mjs"), script);

let mf;
let mock;
/** What the runtime wrote on its stderr (its warnings, `console.warn`), as it came. */
let stderr = "";
before(async () => {
  mock = await startAnthropicMock({ limits: { rpm: 1000, itpm: null, otpm: null }, enforce: false, outputTokens: 7 });
  mf = new Miniflare({
    modulesRoot: REPO,
    modules,
    compatibilityDate: "2025-09-01",
    durableObjects: { LIMITS: "PacerLimits" },
    // Shown as Miniflare shows them by default, and kept for the tests to read.
    handleRuntimeStdio(out, err) {
      out.pipe(process.stdout);
      err.on("data", (d) => {
        stderr += d;
        process.stderr.write(d);
      });
    },
  });
  await mf.ready;
});
after(async () => {
  await mf?.dispose();
  await mock?.close();
});

/** One request to the Worker, with `q` as its query; its status and text (never hangs the test). */
async function get(path, q = {}) {
  const res = await mf.dispatchFetch(`http://localhost${path}?q=${encodeURIComponent(JSON.stringify(q))}`, {
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, text: await res.text() };
}

const stats = async () => JSON.parse((await get("/stats")).text);

/** The stats once `done(stats)` holds (or the last seen after 3 s). */
async function statsWhen(done) {
  let s;
  for (let i = 0; i < 30; i++) {
    s = await stats();
    if (done(s)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return s;
}

/** A call's init: the mock answers after `latencyMs`. */
const init = (latencyMs) => anthropicInit({ headers: { "x-mock-latency-ms": String(latencyMs) } });

test("two overlapping requests share the module-scope pacer: both answer, each call settles once", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  // A's call holds the one slot for 800 ms; B's, 100 ms later, queues behind it and is let in
  // by A's answer (A's request's code steps the pacer).
  const a = get("/calls", { n: 1, url, init: init(800) });
  await new Promise((r) => setTimeout(r, 100));
  const b = get("/calls", { n: 2, url, init: init(50) });
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.status, 200, ra.text);
  assert.equal(rb.status, 200, rb.text);
  assert.deepEqual(JSON.parse(ra.text), [200]);
  assert.deepEqual(JSON.parse(rb.text), [200, 200]);
  const s = await statsWhen((s) => s.settled.plain.length >= 3);
  assert.equal(s.plain.inFlight, 0);
  assert.equal(s.plain.queued, 0);
  assert.equal(s.plain.attempts, 3, "each call sent once");
  assert.deepEqual([...s.settled.plain].sort(), [1, 2, 3], "each call settled once");
});

test("a request's calls that wait on the rpm after the request that filled it ended: its own timer lets them in", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  // A takes the whole minute's 120 requests and ends; B's two calls, 50 ms later, wait for the
  // refill (one every 0.5 s): the pacer's timer was armed by A, whose timers end with it.
  const a = get("/calls", { rpm: true, n: 120, url, init: init(1) });
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  const b = get("/calls", { rpm: true, n: 2, url, init: init(1) });
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.status, 200, ra.text);
  assert.equal(rb.status, 200, rb.text);
  assert.deepEqual(JSON.parse(rb.text), [200, 200]);
  assert.ok(Date.now() - t0 >= 700, "B's calls waited for the refill");
  const s = await statsWhen((s) => s.paced.inFlight === 0);
  assert.equal(s.paced.inFlight, 0);
  assert.equal(s.paced.queued, 0);
  assert.equal(s.paced.attempts, 122);
});

test("`return pacer.fetch(...)` of a JSON response: each call settles with its usage and frees its slot", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  const before = await stats();
  for (let i = 1; i <= 3; i++) {
    const r = await get("/direct", { url, init: init(1) });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).usage.output_tokens, 7);
    const s = await statsWhen(
      (s) => s.plain.inFlight === 0 && s.settled.plain.length === before.settled.plain.length + i,
    );
    assert.equal(s.plain.inFlight, 0, `call ${i}: its slot is free`);
    assert.equal(s.settled.plain.length, before.settled.plain.length + i, `call ${i} settled`);
    assert.equal(s.plain.outputTokensUsed, before.plain.outputTokensUsed + 7 * i, `call ${i}: its usage read`);
  }
});

test("`return pacer.fetch(...)` of a stream with the Durable Object store: each settlement reaches the object", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  for (let i = 1; i <= 3; i++) {
    // A stream's usage is read as the runtime streams it out: it settles at its end, after the
    // response, and so does the store operation.
    const r = await get("/direct", { store: true, url, init: anthropicInit({ body: { stream: true } }) });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /message_stop/);
  }
  const s = await statsWhen((s) => Object.values(s.ops).some((o) => o.settle >= 3));
  assert.equal(s.stored.inFlight, 0);
  assert.equal(s.settled.stored.length, 3);
  const ops = Object.values(s.ops);
  assert.equal(ops.length, 1, "one limit key");
  assert.equal(ops[0].reserve, 3);
  assert.equal(ops[0].settle, 3, "every call's settlement reached the object");
});

/** `/one` for each of `qs`, the next sent `gapMs` after the previous; their answers, in order. */
async function ones(qs, gapMs = 50) {
  return Promise.all(
    qs.map(async (q, i) => {
      await new Promise((r) => setTimeout(r, i * gapMs));
      const r = await get("/one", q);
      assert.equal(r.status, 200, `request ${i} answered: ${r.text}`);
      return JSON.parse(r.text);
    }),
  );
}

test("calls with the request's signal, let in by another request after a 429's pause: each answers; an abort while waiting rejects at once", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  // The first call's 429 pauses the key for 1 s; the calls after it wait, with
  // `request.signal`, and are let in by whichever request steps the pacer first. One more,
  // with a signal of its own aborted while it waits, never goes out.
  mock.script([{ status: 429, retryAfter: 1 }]);
  const first = get("/one", { pacer: "signalled", url, init: init(1), signal: true });
  await new Promise((r) => setTimeout(r, 100));
  const rest = ones([
    { pacer: "signalled", url, init: init(1), signal: true },
    { pacer: "signalled", url, init: init(1), signal: true },
    { pacer: "signalled", url, init: init(1), abortMs: 100 },
    { pacer: "signalled", url, init: init(1), signal: true },
  ]);
  const a = await first;
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(JSON.parse(a.text), { status: 200 }, "the first call, retried after the pause");
  assert.deepEqual(await rest, [{ status: 200 }, { status: 200 }, { error: "AbortError" }, { status: 200 }]);
  const s = await statsWhen((s) => s.signalled.inFlight === 0);
  assert.equal(s.signalled.queued, 0);
  assert.equal(s.signalled.inFlight, 0);
  assert.equal(s.signalled.attempts, 5, "the 429, its retry, three calls; the aborted one never sent");
});

test("calls with a timeoutMs, let in by another request after a 429's pause: they answer, or time out on the wire, each request answered", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  // timeoutMs 1.5 s: the first call's 429 pauses the key for 1 s; of the calls that wait, two
  // answer at once once let in, three are still on the wire (5 s) at their deadlines, which
  // another request's timer may find first: each attempt is aborted from its own request.
  mock.script([{ status: 429, retryAfter: 1 }]);
  const first = get("/one", { pacer: "timed", url, init: init(1) });
  await new Promise((r) => setTimeout(r, 100));
  const rest = ones([
    { pacer: "timed", url, init: init(1) },
    { pacer: "timed", url, init: init(5_000) },
    { pacer: "timed", url, init: init(5_000) },
    { pacer: "timed", url, init: init(1) },
    { pacer: "timed", url, init: init(5_000) },
  ]);
  const a = await first;
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(JSON.parse(a.text), { status: 200 });
  const timeout = { error: "PacerTimeoutError", code: "TIMEOUT" };
  assert.deepEqual(await rest, [{ status: 200 }, timeout, timeout, { status: 200 }, timeout]);
  const s = await statsWhen((s) => s.timed.inFlight === 0);
  assert.equal(s.timed.queued, 0);
  assert.equal(s.timed.inFlight, 0);
  assert.equal(s.timed.attempts, 7);
});

test("a timeoutMs that passes while the call waits (the one slot held by another request): TIMEOUT, each request answered", {
  timeout: 60_000,
}, async () => {
  // concurrency 1, timeoutMs 0.8 s: the first call's stream (an event every 0.4 s) holds the
  // slot until its end, some 2 s on; the two calls after it, in requests of their own, time
  // out waiting.
  const slow = await startAnthropicMock({ limits: {}, eventDelayMs: 400, streamChunks: 4 });
  const url = `${slow.url}/v1/messages`;
  const [a, b, c] = await ones(
    [
      { pacer: "narrow", url, init: anthropicInit({ body: { stream: true } }) },
      { pacer: "narrow", url, init: init(1) },
      { pacer: "narrow", url, init: init(1) },
    ],
    100,
  ).finally(() => slow.close());
  assert.deepEqual(a, { status: 200 });
  const timeout = { error: "PacerTimeoutError", code: "TIMEOUT" };
  assert.deepEqual([b, c], [timeout, timeout]);
  const s = await statsWhen((s) => s.narrow.inFlight === 0);
  assert.equal(s.narrow.queued, 0);
  assert.equal(s.narrow.inFlight, 0);
  assert.equal(s.narrow.attempts, 1, "the calls that timed out waiting were never sent");
});

let marks = 0;
/**
 * What the runtime wrote on its stderr from `from` (an offset in it) until now: a line the
 * Worker writes there last, waited for, follows all of it.
 */
async function said(from) {
  const mark = `llm-pacer-test-mark-${++marks}`;
  assert.equal((await get("/mark", { mark })).status, 200);
  for (let i = 0; i < 100 && !stderr.includes(mark, from); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(stderr.includes(mark, from), "the runtime's stderr is read");
  return stderr.slice(from, stderr.indexOf(mark, from));
}

/**
 * The README's Worker pattern after a 429: the first call's 429 (`retry-after: 1`) pauses the
 * key of module-scope pacer `pacer`, and the calls of `n` requests after it wait on that pause
 * and are let in by whichever request steps the pacer then (with 8, the pacer's shared timer of
 * the builds before was cancelled by another request than its own in every run seen). Each
 * request answers 200, the pacer ends with nothing queued or in flight, and workerd saw no
 * timer or promise of one request touched by another: no "different request context" warning,
 * no "Cannot perform I/O on behalf of a different request" error.
 */
async function pauseAcrossRequests(pacer, n = 8) {
  const url = `${mock.url}/v1/messages`;
  const from = stderr.length;
  mock.script([{ status: 429, retryAfter: 1 }]);
  const first = get("/one", { pacer, url, init: init(1) });
  await new Promise((r) => setTimeout(r, 100));
  const rest = ones(
    Array.from({ length: n }, () => ({ pacer, url, init: init(1) })),
    0,
  );
  const a = await first;
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(JSON.parse(a.text), { status: 200 }, "the first call, retried after the pause");
  assert.deepEqual(await rest, Array(n).fill({ status: 200 }));
  const s = await statsWhen((s) => s[pacer].inFlight === 0 && s[pacer].queued === 0);
  assert.equal(s[pacer].queued, 0);
  assert.equal(s[pacer].inFlight, 0);
  assert.equal(s[pacer].rateLimited, 1);
  assert.equal(s[pacer].attempts, n + 2, "the 429, its retry, one attempt per later call");
  const out = await said(from);
  assert.doesNotMatch(out, /different request context/, "no promise resolved from another request's context");
  assert.doesNotMatch(out, /Cannot perform I\/O on behalf of a different request/);
  return s;
}

test("a 429's pause shared across requests: no request's timer or promise touched by another, each answers", {
  timeout: 60_000,
}, async () => {
  await pauseAcrossRequests("paused");
});

test("a 429's pause shared across requests, calls with a timeoutMs: no request's timer or promise touched by another, each answers", {
  timeout: 60_000,
}, async () => {
  await pauseAcrossRequests("pausedTimed");
});

test("a 429's pause shared across requests, with the Durable Object store: no request's timer or promise touched by another, each answers", {
  timeout: 60_000,
}, async () => {
  const s = await pauseAcrossRequests("pausedStored");
  assert.ok(
    Object.values(s.ops).some((o) => o.pause >= 1),
    "the pause reached the object",
  );
});

test("a 429's short hint is waited as it says: the call's own timer follows the retry", {
  timeout: 60_000,
}, async () => {
  // The call's own timer (own-context.js) was armed, as the call started, for the pacer's
  // next wake then, at most a second: the retry of a 200 ms hint went a whole second later.
  const url = `${mock.url}/v1/messages`;
  const from = mock.log.length;
  mock.script([{ status: 429, retryAfter: "0.2" }]);
  const r = await get("/one", { pacer: "hinted", url, init: init(1) });
  assert.deepEqual(JSON.parse(r.text), { status: 200 });
  const [refused, retried] = mock.log.slice(from);
  assert.equal(refused.status, 429);
  // Real time: the hint and at most a tenth more, with room for a slow machine, well under the
  // second of before.
  const gap = retried.at - refused.at;
  assert.ok(gap >= 200 && gap < 700, `the retry went ${gap} ms after the 429`);
});

test("a stream returned straight from the handler whose client goes away: the next call ends it, its slot freed", {
  timeout: 90_000,
}, async () => {
  // workerd runs none of the stream's code once its client is gone (neither its cancel nor
  // the end of its pending read): the call stayed in flight for good, and with `concurrency:
  // 1` every later call queued for ever. The stream's request shows it is alive on a timer;
  // once it has been silent for 10 s, the next call ends it.
  const slow = await startAnthropicMock({
    limits: { rpm: 1000, itpm: null, otpm: null },
    enforce: false,
    eventDelayMs: 300,
    streamChunks: 60,
    outputTokens: 120,
  });
  try {
    const q = { streaming: true, url: `${slow.url}/v1/messages`, init: anthropicInit({ body: { stream: true } }) };
    const res = await mf.dispatchFetch(`http://localhost/direct?q=${encodeURIComponent(JSON.stringify(q))}`);
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    assert.ok((await reader.read()).value.length > 0);
    await reader.cancel();
    assert.equal((await stats()).streaming.inFlight, 1, "the stream's call is in flight");
    await new Promise((r) => setTimeout(r, 11_500));
    const next = await get("/one", { pacer: "streaming", url: `${mock.url}/v1/messages`, init: init(1) });
    assert.deepEqual(JSON.parse(next.text), { status: 200 }, "the next call went: the slot was freed");
    const s = await statsWhen((s) => s.streaming.inFlight === 0 && s.streaming.queued === 0);
    assert.equal(s.streaming.inFlight, 0);
    assert.equal(s.streaming.queued, 0);
  } finally {
    await slow.close();
  }
});

test("a call aborted while it reads an error body: the read's timer is stopped from the call's own request", {
  timeout: 60_000,
}, async () => {
  const url = `${mock.url}/v1/messages`;
  const from = stderr.length;
  // The 500's error body never ends: the call reads it (a timer of its request bounds the
  // read) until its signal aborts, which ends the call, its attempt and that read (the timer
  // stopped through the call's dispatcher, from its own request, whichever request's code
  // ended the call).
  mock.script([{ status: 500, bodyStall: true }]);
  const r = await get("/one", { pacer: "reading", url, init: init(1), abortMs: 300 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { error: "AbortError" });
  const s = await statsWhen((s) => s.reading.inFlight === 0);
  assert.equal(s.reading.queued, 0);
  assert.equal(s.reading.inFlight, 0);
  assert.equal(s.reading.attempts, 1);
  assert.equal(s.reading.serverErrors, 0, "no answer decided: the read never ended");
  const out = await said(from);
  assert.doesNotMatch(out, /different request context/);
  assert.doesNotMatch(out, /Cannot perform I\/O on behalf of a different request/);
});

test("no request of this file's made workerd warn of another request's promise or I/O", async () => {
  const out = await said(0);
  assert.doesNotMatch(out, /different request context/);
  assert.doesNotMatch(out, /Cannot perform I\/O on behalf of a different request/);
});
