// Secrets never leak: recognisable API keys (`x-api-key`, `authorization: Bearer ...`, a key in
// the URL) go through every path of a call (success, JSON and SSE, 429, 529, network error,
// abort, timeout, too large, close, bad usage, a server that echoes the key in its error body,
// bad options) and must appear in no event, no error (message, stack, cause chain, any own
// property, however printed), and not in `stats()` or `limits()`. Nor does anything of the
// credential's fingerprint in the limit keys (the full SHA-256 of a key, plain or as the pacer
// computes it, or its first 16 bytes), nor a `limitKey` option's string. The test first
// checks that the keys really were sent, so it cannot pass by sending nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { createHash } from "node:crypto";
import { Pacer } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { anthropicInit, openaiInit, mockEnv, drained, outcome, until } from "./lib/harness.mjs";

const ANTHROPIC_KEY = "sk-ant-api03-SECRETKEY-7f3a9c2e";
const OPENAI_KEY = "sk-proj-SECRETKEY-b41d9e07";
const URL_KEY = "SECRETQUERY-55aa";
const WORKSPACE = "SECRETWORKSPACE-91c3";
/** SHA-256 (hex) of the parts, each prefixed by its length (u32 LE), as the pacer hashes. */
const framed = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) {
    const b = Buffer.from(p);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    h.update(n).update(b);
  }
  return h.digest("hex");
};
const hashes = (key) => {
  const plain = createHash("sha256").update(key).digest("hex");
  const fingerprint = framed("llm-pacer credential", key);
  return [plain, plain.slice(0, 32), fingerprint, fingerprint.slice(0, 32), fingerprint.slice(0, 12)];
};
const MARKERS = [
  "SECRETKEY",
  "SECRETQUERY",
  "SECRETWORKSPACE",
  "7f3a9c2e",
  "b41d9e07",
  ...[ANTHROPIC_KEY, `Bearer ${ANTHROPIC_KEY}`, OPENAI_KEY, `Bearer ${OPENAI_KEY}`].flatMap(hashes),
];

/** Every string a value could show: printed every way, own properties, the cause chain. */
function renderings(value, seen = new Set()) {
  if (value === null || value === undefined) return [String(value)];
  if (typeof value !== "object" && typeof value !== "function") return [String(value)];
  if (seen.has(value)) return [];
  seen.add(value);
  const out = [inspect(value, { depth: Infinity, showHidden: true, getters: true })];
  try {
    out.push(JSON.stringify(value));
  } catch {
    /* cyclic: inspect covered it */
  }
  try {
    out.push(String(value));
  } catch {
    /* no toString */
  }
  if (value instanceof Error || typeof value.stack === "string") out.push(String(value.stack), String(value.message));
  for (const key of Reflect.ownKeys(value)) {
    let v;
    try {
      v = value[key];
    } catch {
      continue;
    }
    out.push(...renderings(v, seen));
  }
  if (value.cause !== undefined) out.push(...renderings(value.cause, seen));
  if (Array.isArray(value.errors)) for (const e of value.errors) out.push(...renderings(e, seen));
  return out;
}

function assertClean(what, value) {
  for (const text of renderings(value).filter((x) => typeof x === "string")) {
    for (const marker of MARKERS) {
      assert.ok(!text.includes(marker), `${what} leaks ${marker}: ${text.slice(0, 400)}`);
    }
  }
}

test("API keys appear in no event, error, stats or limits, on any path", async (t) => {
  const anthropic = await mockEnv(t, startAnthropicMock, { limits: { rpm: 1000, itpm: 1e6, otpm: 1e6 } });
  const openai = await mockEnv(t, startOpenAIMock, { limits: { rpm: 1000, tpm: 1e6 } });
  const errors = [];
  const pacers = [];
  const make = (env, options = {}) => {
    const p = env.make({ seed: 1, retry: { initialDelayMs: 10, maxRetries: 2 }, ...options });
    pacers.push(p);
    return p;
  };
  const aUrl = `${anthropic.url}?key=${URL_KEY}`;
  const oUrl = `${openai.url}?key=${URL_KEY}`;
  const aInit = (o = {}) =>
    anthropicInit({ apiKey: ANTHROPIC_KEY, ...o, headers: { authorization: `Bearer ${ANTHROPIC_KEY}`, ...o.headers } });
  const oInit = (o = {}) => openaiInit({ apiKey: OPENAI_KEY, ...o });
  const settle = async (p) => {
    const r = await outcome(p);
    if (r.ok) await r.value.text();
    else errors.push(r.error);
    return r;
  };

  // Success, JSON and SSE; a Headers object and a Request input as the SDKs and users pass them.
  const pa = make(anthropic);
  const po = make(openai);
  assert.equal((await settle(pa.fetch(aUrl, aInit()))).value.status, 200);
  assert.equal((await settle(pa.fetch(aUrl, aInit({ body: { stream: true } })))).value.status, 200);
  const withHeaders = aInit();
  withHeaders.headers = new Headers(withHeaders.headers);
  assert.equal((await settle(pa.fetch(aUrl, withHeaders))).value.status, 200);
  assert.equal((await settle(pa.fetch(new Request(aUrl, aInit())))).value.status, 200);
  assert.equal((await settle(po.fetch(oUrl, oInit()))).value.status, 200);
  assert.equal(
    (await settle(po.fetch(oUrl, oInit({ body: { stream: true, stream_options: { include_usage: true } } })))).value
      .status,
    200,
  );

  // 429 (retried, then success), 529, a 429 whose body echoes the key, spend limit, quota.
  anthropic.mock.script([
    { status: 429, retryAfter: 1, message: `rate limited for key ${ANTHROPIC_KEY}` },
    "ok",
    529,
    "ok",
    { status: 401, message: `invalid x-api-key ${ANTHROPIC_KEY}` },
    "spend-limit",
  ]);
  for (let i = 0; i < 4; i++) await settle(pa.fetch(aUrl, aInit()));
  openai.mock.script([
    { status: 429, retryAfterMs: 20, message: `Incorrect API key provided: ${OPENAI_KEY}` },
    "ok",
    "insufficient-quota",
  ]);
  await settle(po.fetch(oUrl, oInit()));
  await settle(po.fetch(oUrl, oInit()));

  // Network errors until the retries run out: the fetch error rejects.
  anthropic.mock.script(["reset", "reset", "reset"]);
  assert.equal((await settle(pa.fetch(aUrl, aInit()))).ok, false);

  // Abort: before, while queued, in flight.
  await settle(pa.fetch(aUrl, aInit({ signal: AbortSignal.abort() })));
  const slow = make(anthropic, { limits: { rpm: 1 } });
  await settle(slow.fetch(aUrl, aInit()));
  const c1 = new AbortController();
  const queued = settle(slow.fetch(aUrl, aInit({ signal: c1.signal })));
  await until(() => slow.stats().queued === 1);
  c1.abort();
  await queued;
  const c2 = new AbortController();
  const inFlight = settle(pa.fetch(aUrl, aInit({ signal: c2.signal, headers: { "x-mock-fault": "stall" } })));
  await until(() => pa.stats().inFlight === 1);
  c2.abort(new Error("user abort"));
  await inFlight;

  // Timeout (queued and on the wire), too large, retry-after too long, close.
  const timed = make(anthropic, { limits: { rpm: 1 }, timeoutMs: 1000 });
  await settle(timed.fetch(aUrl, aInit()));
  assert.equal((await settle(timed.fetch(aUrl, aInit()))).error.code, "TIMEOUT");
  await settle(
    make(anthropic, { limits: { itpm: 10 }, estimate: () => ({ input: 100, output: 0 }) }).fetch(aUrl, aInit()),
  );
  assert.equal(errors.at(-1).code, "REQUEST_TOO_LARGE");
  const pausing = make(anthropic, { concurrency: 1, retry: { maxRetryAfterMs: 1000 } });
  anthropic.mock.script([{ status: 429, retryAfter: 60 }]);
  const [, tooLong] = await Promise.all([settle(pausing.fetch(aUrl, aInit())), settle(pausing.fetch(aUrl, aInit()))]);
  assert.equal(tooLong.error.code, "RETRY_AFTER_TOO_LONG");
  const closing = make(anthropic, { limits: { rpm: 1 } });
  await settle(closing.fetch(aUrl, aInit()));
  const closed = settle(closing.fetch(aUrl, aInit()));
  await until(() => closing.stats().queued === 1);
  closing.close();
  assert.equal((await closed).error.code, "CLOSED");
  await settle(closing.fetch(aUrl, aInit()));

  // A `limitKey` option's string is hashed, never shown.
  const keyed = make(anthropic, { limitKey: ({ headers }) => `${WORKSPACE}:${headers.get("x-api-key")}` });
  assert.equal((await settle(keyed.fetch(aUrl, aInit()))).value.status, 200);

  // Bad usage, bad headers.
  await settle(pa.fetch(aUrl, aInit({ headers: { "x-mock-fault": "bad-usage" } })));
  await settle(po.fetch(oUrl, oInit({ headers: { "x-mock-fault": "bad-headers" } })));

  // Option errors never echo the value.
  for (const options of [
    { preset: ANTHROPIC_KEY },
    { retry: { jitter: ANTHROPIC_KEY } },
    { limits: { rpm: ANTHROPIC_KEY } },
    { outputReservation: OPENAI_KEY },
    { fetch: OPENAI_KEY },
    { budget: OPENAI_KEY },
  ]) {
    try {
      new Pacer(options);
      assert.fail(`accepted ${JSON.stringify(options)}`);
    } catch (e) {
      errors.push(e);
    }
  }

  for (const p of pacers) await drained(p);

  // The keys really went out.
  const sent = [...anthropic.mock.log, ...openai.mock.log].map((e) => JSON.stringify(e.headers));
  assert.ok(sent.some((h) => h.includes(ANTHROPIC_KEY)));
  assert.ok(sent.some((h) => h.includes(OPENAI_KEY)));
  // Every path ran.
  assert.ok(errors.length >= 14, `${errors.length} errors`);
  const codes = new Set(errors.map((e) => (typeof e.code === "string" ? e.code : e.name)));
  for (const c of [
    "TIMEOUT",
    "REQUEST_TOO_LARGE",
    "RETRY_AFTER_TOO_LONG",
    "CLOSED",
    "AbortError",
    "TypeError",
    "RangeError",
  ]) {
    assert.ok(codes.has(c), `no ${c} among ${[...codes]}`);
  }
  const events = [...anthropic.events, ...openai.events];
  const types = new Set(events.map((e) => e.type));
  for (const type of ["queued", "admitted", "wait", "retry", "giveup", "limits", "settled"])
    assert.ok(types.has(type), `no ${type} event`);

  for (const e of events) assertClean(`event ${JSON.stringify(e)}`, e);
  for (const e of errors) assertClean(`error ${e?.name}`, e);
  // The limit keys are there, and opaque.
  for (const p of [pa, po, keyed]) {
    const keys = p.limits();
    assert.ok(keys.length >= 1, "limits() lists the keys");
    for (const k of keys) assert.match(k.key, /^[0-9a-f]{12}$/);
  }
  for (const p of pacers) {
    assertClean("stats()", p.stats());
    assertClean("limits()", p.limits());
    assertClean("the pacer itself", p);
  }
});

test("the key a pacer shows is salted: a weak credential cannot be found by hashing guesses", async () => {
  // The same weak token, two pacers: each shows its own digits (a probe found `sk-3318` from
  // an unsalted id in 3,319 guesses), and within a pacer events and limits() agree.
  const shown = async () => {
    const events = [];
    const pacer = new Pacer({
      fetch: async () => new Response("{}", { status: 200 }),
      onEvent: (e) => events.push(e),
    });
    const res = await pacer.fetch("http://127.0.0.1:9/v1/chat/completions", {
      method: "POST",
      headers: { authorization: "Bearer sk-3318", "content-type": "application/json" },
      body: JSON.stringify({ model: "llama3", messages: [] }),
    });
    await res.text();
    await drained(pacer);
    const [key] = pacer.limits().map((k) => k.key);
    assert.match(key, /^[0-9a-f]{12}$/);
    for (const e of events.filter((e) => e.key !== undefined)) assert.equal(e.key, key, e.type);
    return key;
  };
  const a = await shown();
  const b = await shown();
  assert.notEqual(a, b);
});
