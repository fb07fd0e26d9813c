// The lower-level exports, for callers with their own HTTP stack: `Backoff`, `Limiter`,
// `parseRateLimitHeaders` and `classify` (`simulate` is in simulate.test.mjs). Explicit time
// everywhere (virtual epoch ms), seeded randomness.
//
// - Backoff: the sequence equals the documented formula computed here from the same draws
//   (fastrand's wyrand, reimplemented with BigInt), for every jitter mode; and equals the
//   seeded Pacer's own retry delays.
// - Limiter: admits, waits, refunds, settles and observes in explicit time, with the core's
//   exact arithmetic (`latencyMs: 0`) and with the Pacer's assumed transit (the default).
// - parseRateLimitHeaders / classify: real Anthropic and OpenAI header sets and error bodies.
// - bad options throw TypeError / RangeError naming the option as the user spells it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  Backoff,
  KeyedLimiter,
  Limiter,
  Pacer,
  PacerError,
  RequestTooLargeError,
  classify,
  parseRateLimitHeaders,
} from "llm-pacer";
import { VirtualClock } from "./lib/harness.mjs";

/** A virtual "now": 2026-11-22T13:04:30Z, the time of the header sets below. */
const NOW = Date.parse("2026-11-22T13:04:30Z");

/** `fn()` throws an error of class `C` whose message names the option `name` (in backticks). */
function throwsNaming(fn, C, name) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof C, `${e?.constructor?.name}: ${e?.message}`);
    assert.match(e.message, new RegExp(`\`${name.replace(".", "\\.")}\``), e.message);
    return true;
  });
}

// --- Backoff -------------------------------------------------------------------------------

/** fastrand 2's generator (wyrand) and its `f64()`: uniform in [0, 1), as the core draws them. */
function wyrand(seed) {
  let s = BigInt.asUintN(64, BigInt(seed));
  return () => {
    for (;;) {
      s = BigInt.asUintN(64, s + 0x2d358dccaa6c78a5n);
      const t = s * (s ^ 0x8bb84b93962eacc9n);
      const r = BigInt.asUintN(64, t) ^ BigInt.asUintN(64, t >> 64n);
      const x = Number(r >> 1n) * 2 ** -63;
      if (x < 1) return x;
    }
  };
}

/** The documented delays (README, DESIGN.md): retry n has the base `min(max, initial * m^(n-1))`, then jitter. */
function expectedDelays({
  initialDelayMs = 1000,
  maxDelayMs = 60000,
  multiplier = 2,
  jitter = "full",
  maxRetries = 6,
  seed,
}) {
  const u = wyrand(seed);
  const uniform = (lo, hi, x) => (hi <= lo ? lo : lo + x * (hi - lo));
  const out = [];
  let prev = 0;
  for (let n = 1; n <= maxRetries; n++) {
    const base = Math.min(maxDelayMs, initialDelayMs * multiplier ** (n - 1));
    const x = u(); // one draw per retry, whatever the mode
    const d = {
      none: base,
      full: uniform(0, base, x),
      equal: uniform(base / 2, base, x),
      decorrelated: uniform(initialDelayMs, Math.min(3 * Math.max(prev, initialDelayMs), maxDelayMs), x),
      additive: uniform(base, base + 1000, x),
    }[jitter];
    out.push(d);
    prev = d;
  }
  return out;
}

describe("Backoff", () => {
  test("defaults: 6 delays doubling from 1 s (jitter none shows the base), then undefined", () => {
    const b = new Backoff({ jitter: "none" });
    const seen = [];
    for (let d; (d = b.next()) !== undefined; ) seen.push(d);
    assert.deepEqual(seen, [1000, 2000, 4000, 8000, 16000, 32000]);
    assert.equal(b.next(), undefined, "stays exhausted");
    assert.deepEqual([...new Backoff({ jitter: "none", maxRetries: 8 })], [1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 60e3, 60e3]);
    assert.deepEqual([...new Backoff({ maxRetries: 0 })], []);
  });

  test("with a seed, every jitter mode gives exactly the documented formula over fastrand's draws", () => {
    for (const jitter of ["none", "full", "equal", "decorrelated", "additive"]) {
      for (const [seed, options] of [
        [1, {}],
        [42, { initialDelayMs: 250, maxDelayMs: 5000, multiplier: 1.5, maxRetries: 12 }],
        [-7, { initialDelayMs: 100, maxDelayMs: 100, maxRetries: 3 }],
        [2 ** 40 + 3, { initialDelayMs: 0, maxRetries: 4 }],
      ]) {
        const o = { ...options, jitter, seed };
        assert.deepEqual([...new Backoff(o)], expectedDelays(o), `${jitter}, seed ${seed}`);
      }
    }
  });

  test("the same seed repeats, another seed differs; reset() starts over while the draws go on", () => {
    const a = [...new Backoff({ seed: 9 })];
    assert.deepEqual([...new Backoff({ seed: 9 })], a);
    assert.notDeepEqual([...new Backoff({ seed: 10 })], a);
    const b = new Backoff({ seed: 9, maxRetries: 3 });
    assert.deepEqual([...b], a.slice(0, 3));
    assert.equal(b.next(), undefined);
    b.reset();
    const again = [...b];
    assert.equal(again.length, 3, "three more after reset");
    assert.notDeepEqual(again, a.slice(0, 3), "the random stream went on");
    const plain = new Backoff({ jitter: "none", maxRetries: 3 });
    plain.next();
    plain.next();
    plain.reset();
    assert.equal(plain.next(), 1000, "reset starts from the first retry");
    // Unseeded: random, but within the bounds of full jitter.
    for (const [i, d] of [...new Backoff()].entries()) assert.ok(d >= 0 && d < 1000 * 2 ** i, `${i}: ${d}`);
  });

  test("a server hint: never shorter, at most 10% (and 1 s) longer; too long says stop; under 1 ms, NaN or negative is no hint", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const b = new Backoff({ seed, maxRetries: 10 });
      const d = b.next(2000);
      assert.ok(d >= 2000 && d < 2200, `seed ${seed}: ${d}`);
      const long = b.next(30_000);
      assert.ok(long >= 30_000 && long < 31_000, `seed ${seed}: ${long}`);
    }
    const b = new Backoff({ jitter: "none", maxRetryAfterMs: 10_000, maxRetries: 4 });
    assert.equal(b.next(10_001), undefined, "a hint beyond maxRetryAfterMs: stop");
    // "Now" is no hint, as to the Pacer: retried at once, a server that keeps saying so
    // would get the retries back to back.
    assert.equal(b.next(0), 1000, "0 is no hint: the backoff of retry 1");
    assert.equal(b.next(0.5), 2000, "nor is a wait under 1 ms");
    assert.equal(b.next(NaN), 4000, "nor NaN");
    assert.equal(b.next(-5), 8000, "nor a negative hint");
    assert.equal(b.next(1), undefined, "four retries handed out");
    const ms = new Backoff({ jitter: "none" }).next(1);
    assert.ok(ms >= 1 && ms <= 1.1, `1 ms is a hint: ${ms}`);
  });

  test("equals the seeded Pacer's retry delays (one draw per response, the same arithmetic)", async () => {
    for (const jitter of ["full", "decorrelated", "equal"]) {
      const clock = new VirtualClock();
      const retries = [];
      const pacer = new Pacer({
        seed: 42,
        budget: false,
        retry: { maxRetries: 5, jitter },
        clock,
        fetch: async () => new Response("{}", { status: 503, headers: { "content-type": "application/json" } }),
        onEvent: (e) => e.type === "retry" && retries.push(e.delayMs),
      });
      const res = await pacer.fetch("http://127.0.0.1:9/v1/messages", { method: "POST", body: "{}" });
      assert.equal(res.status, 503);
      assert.equal(retries.length, 5);
      // Events carry whole milliseconds (a wait is never announced shorter than it is).
      assert.deepEqual(retries, [...new Backoff({ seed: 42, maxRetries: 5, jitter })].map(Math.ceil), jitter);
      pacer.close();
    }
  });

  test("bad options throw TypeError / RangeError naming the option as spelled here", () => {
    throwsNaming(() => new Backoff({ maxRetries: -1 }), RangeError, "maxRetries");
    throwsNaming(() => new Backoff({ maxRetries: 1.5 }), RangeError, "maxRetries");
    throwsNaming(() => new Backoff({ multiplier: "2" }), TypeError, "multiplier");
    throwsNaming(() => new Backoff({ multiplier: 0.5 }), RangeError, "multiplier");
    throwsNaming(() => new Backoff({ jitter: "wild" }), RangeError, "jitter");
    throwsNaming(() => new Backoff({ initialDelayMs: 5000, maxDelayMs: 1000 }), RangeError, "maxDelayMs");
    throwsNaming(() => new Backoff({ maxRetryAfterMs: Infinity }), RangeError, "maxRetryAfterMs");
    throwsNaming(() => new Backoff({ seed: 1.5 }), RangeError, "seed");
    for (const bad of [
      () => new Backoff({ maxRetries: -1 }),
      () => new Backoff({ initialDelayMs: 9, maxDelayMs: 1 }),
    ]) {
      assert.throws(bad, (e) => !e.message.includes("retry."), "no `retry.` prefix: these are top-level options here");
    }
    assert.throws(() => new Backoff(5), TypeError);
    assert.deepEqual([...new Backoff(null)].length, 6, "null is the defaults");
  });
});

// --- Limiter -------------------------------------------------------------------------------

describe("Limiter", () => {
  test("admits up to the RPM burst, then says how long to wait; admits again at that time", () => {
    const lim = new Limiter({ limits: { rpm: 60 }, latencyMs: 0 });
    for (let i = 0; i < 60; i++) assert.equal(lim.acquire({}, NOW).ok, true, `request ${i + 1}`);
    const wait = lim.acquire({}, NOW);
    assert.equal(wait.ok, false);
    assert.equal(wait.reason, "requests");
    // One request refills in 1 s; the core wakes 1 ms after the exact instant.
    assert.ok(wait.waitMs >= 1000 && wait.waitMs <= 1002, `${wait.waitMs}`);
    assert.equal(lim.acquire({}, NOW + wait.waitMs).ok, true);
    assert.equal(lim.acquire({}, NOW + wait.waitMs).ok, false, "and only one");
  });

  test("explicit time needs no relation to the wall clock (virtual time from 0)", () => {
    const lim = new Limiter({ limits: { itpm: 6000 }, latencyMs: 0 });
    assert.equal(lim.acquire({ input: 6000 }, 0).ok, true);
    const w = lim.acquire({ input: 100 }, 0);
    assert.equal(w.reason, "inputTokens");
    assert.ok(w.waitMs >= 1000 && w.waitMs <= 1002, `100 tokens at 100/s: ${w.waitMs}`);
    assert.equal(lim.acquire({ input: 100 }, 1002).ok, true);
    assert.deepEqual(Object.keys(lim.limits(1002)), ["inputTokens"]);
    assert.equal(lim.limits(1002).inputTokens.resetAt, 1002 + 60_000 - lim.limits(1002).inputTokens.remaining * 10);
  });

  test("release gives the whole reservation back (the request too); settle replaces it by the usage", () => {
    const lim = new Limiter({ limits: { rpm: 2, itpm: 1000, otpm: 1000 }, latencyMs: 0 });
    const a = lim.acquire({ input: 600, output: 1000 }, NOW);
    assert.equal(a.ok, true);
    assert.deepEqual(lim.acquire({ input: 600 }, NOW).reason, "inputTokens");
    lim.release(a.ticket, NOW);
    const { requests, inputTokens, outputTokens } = lim.limits(NOW);
    assert.deepEqual([requests.remaining, inputTokens.remaining, outputTokens.remaining], [2, 1000, 1000]);

    const b = lim.acquire({ input: 600, output: 1000 }, NOW);
    assert.equal(b.ok, true);
    assert.equal(lim.acquire({ input: 100, output: 500 }, NOW).reason, "outputTokens", "max_tokens is reserved");
    // Anthropic usage: input + cache creation count against ITPM, cache reads do not.
    lim.settle(
      b.ticket,
      { input_tokens: 200, cache_creation_input_tokens: 100, cache_read_input_tokens: 5000, output_tokens: 100 },
      NOW,
    );
    const after = lim.limits(NOW);
    assert.equal(after.inputTokens.remaining, 700);
    assert.equal(after.outputTokens.remaining, 900);
    assert.equal(after.requests.remaining, 1);
    assert.equal(lim.acquire({ input: 100, output: 500 }, NOW).ok, true, "the unused reservation is back");
  });

  test("settle reads OpenAI's usage spelling, and keeps the reservation when no usage is known", () => {
    const lim = new Limiter({ limits: { tpm: 10_000 }, latencyMs: 0 });
    const a = lim.acquire({ input: 1000, output: 4000 }, 0);
    lim.settle(a.ticket, { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 }, 0);
    assert.equal(lim.limits(0).tokens.remaining, 8500);
    const b = lim.acquire({ input: 1000, output: 4000 }, 0);
    lim.settle(b.ticket, undefined, 0);
    assert.equal(lim.limits(0).tokens.remaining, 3500, "unknown usage: the reservation stands");
  });

  test("a ticket settles or releases once, and only on its own limiter", () => {
    const lim = new Limiter({ limits: { rpm: 10 } });
    const other = new Limiter({ limits: { rpm: 10 } });
    const { ticket } = lim.acquire({}, NOW);
    assert.ok(Object.isFrozen(ticket));
    assert.throws(() => other.release(ticket, NOW), TypeError);
    lim.settle(ticket, { input_tokens: 1 }, NOW);
    assert.throws(() => lim.settle(ticket, {}, NOW), TypeError);
    assert.throws(() => lim.release(ticket, NOW), TypeError);
    assert.throws(() => lim.release({}, NOW), TypeError);
  });

  test("a cost beyond a limit throws RequestTooLargeError (a PacerError) with the figures", () => {
    const lim = new Limiter({ limits: { itpm: 1000, otpm: 500 } });
    assert.throws(
      () => lim.acquire({ input: 5000 }, NOW),
      (e) =>
        e instanceof RequestTooLargeError &&
        e instanceof PacerError &&
        e.code === "REQUEST_TOO_LARGE" &&
        e.dimension === "inputTokens" &&
        e.cost === 5000 &&
        e.capacity === 1000,
    );
    // A max_tokens beyond OTPM: refused where a preset says the server reserves it up front;
    // else lowered to the limit and let go, as the pacer lets such a request go once (the
    // server decides).
    assert.throws(
      () => new Limiter({ preset: "anthropic:tier-1:sonnet" }).acquire({ output: 9000 }, NOW),
      RequestTooLargeError,
    );
    const lowered = lim.acquire({ output: 4096 }, NOW);
    assert.equal(lowered.ok, true);
    lim.release(lowered.ticket, NOW);
    // outputReservation decides what the output costs.
    assert.equal(
      new Limiter({ limits: { otpm: 500 }, outputReservation: "none" }).acquire({ output: 4096 }, NOW).ok,
      true,
    );
    const fixed = new Limiter({ limits: { otpm: 500 }, outputReservation: 100, latencyMs: 0 });
    fixed.acquire({ output: 4096 }, NOW);
    assert.equal(fixed.limits(NOW).outputTokens.remaining, 400);
  });

  test("observe learns the limits from Anthropic headers, then paces by them", () => {
    const lim = new Limiter({ latencyMs: 0 });
    assert.deepEqual(lim.limits(NOW), {});
    assert.equal(lim.acquire({ input: 1e6 }, NOW).ok, true, "nothing known: nothing held");
    assert.equal(lim.observe(new Headers(ANTHROPIC_OK), NOW), true, "limits learned");
    assert.equal(lim.observe(new Headers(ANTHROPIC_OK), NOW), false, "nothing new");
    const l = lim.limits(NOW);
    assert.deepEqual(
      Object.keys(l),
      ["requests", "inputTokens", "outputTokens"],
      "tokens-* only when the specific ones are absent",
    );
    assert.deepEqual([l.requests.limit, l.inputTokens.limit, l.outputTokens.limit], [50, 30000, 8000]);
    assert.equal(l.requests.source, "headers");
    assert.equal(l.requests.remaining, 49);
    assert.throws(() => lim.acquire({ input: 40_000 }, NOW), RequestTooLargeError, "beyond the learned ITPM");
    // 29,000 remaining, rounded to the thousand: no more than 29,500 can be taken now.
    assert.equal(lim.acquire({ input: 29_600 }, NOW).reason, "inputTokens");
    assert.equal(lim.acquire({ input: 28_000 }, NOW).ok, true);
  });

  test("observe takes a Headers, a Map, pairs or a plain object alike", () => {
    const forms = [
      new Headers(OPENAI_OK),
      new Map(Object.entries(OPENAI_OK)),
      Object.entries(OPENAI_OK),
      OPENAI_OK,
      Object.fromEntries(Object.entries(OPENAI_OK).map(([k, v]) => [k.toUpperCase(), [v]])), // Node: arrays
    ];
    const seen = forms.map((h) => {
      const lim = new Limiter();
      lim.observe(h, NOW);
      return lim.limits(NOW);
    });
    for (const s of seen) assert.deepEqual(s, seen[0]);
    assert.equal(seen[0].requests.limit, 500);
    assert.equal(seen[0].tokens.limit, 30000);
  });

  test("pauseUntil holds every request, then lets them go", () => {
    const lim = new Limiter({ limits: { rpm: 100 } });
    lim.pauseUntil(NOW + 5000);
    assert.deepEqual(lim.acquire({}, NOW), { ok: false, waitMs: 5000, reason: "paused" });
    assert.equal(lim.acquire({}, NOW + 5000).ok, true);
    lim.pauseUntil(NOW + 1000); // an earlier pause is ignored; time never runs backwards
    assert.equal(lim.acquire({}, NOW + 5000).ok, true);
    // A pause that is no time (a hint that was absent: `now + undefined`) throws, as `now` does,
    // rather than pausing nothing.
    for (const bad of [NaN, Infinity, undefined, "5000"]) {
      assert.throws(
        () => lim.pauseUntil(bad),
        (e) => e instanceof TypeError && /`until` must be a finite number/.test(e.message),
        String(bad),
      );
    }
  });

  test("limits() has the shape of pacer.limits()", () => {
    const options = { limits: { rpm: 50, itpm: 30_000 } };
    const lim = new Limiter(options);
    const pacer = new Pacer({ ...options, fetch: async () => new Response("{}") });
    pacer.fetch("https://api.example/v1/messages", { method: "POST", body: "{}" });
    const shape = (o) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Object.keys(v).map((f) => `${f}:${typeof v[f]}`)]));
    // One key of pacer.limits(): the same dimensions, with the key and its model class.
    const [{ key, model, ...dims }] = pacer.limits();
    assert.deepEqual([typeof key, model], ["string", ""]);
    assert.deepEqual(shape(lim.limits(NOW)), shape(dims));
    assert.deepEqual(lim.limits(NOW).requests, {
      limit: 50,
      windowMs: 60_000,
      remaining: 50,
      resetAt: NOW,
      source: "configured",
    });
    pacer.close();
  });

  test("by default it assumes the Pacer's 500 ms of transit: an admission from a full bucket also spends that refill", () => {
    const count = (lim) => {
      let admitted = 0;
      while (lim.acquire({}, NOW).ok) admitted++;
      return admitted;
    };
    // 600 a minute: 10 a second, 5 wasted in half a second.
    assert.equal(count(new Limiter({ limits: { rpm: 600 } })), 595);
    assert.equal(count(new Limiter({ limits: { rpm: 600 }, latencyMs: 250 })), 597);
    assert.equal(count(new Limiter({ limits: { rpm: 600 }, latencyMs: 0 })), 600);
  });

  test("presets, and bad options naming the option", () => {
    const p = new Limiter({ preset: "anthropic:tier-1:sonnet" }).limits(NOW);
    assert.equal(p.requests.limit, 50);
    assert.equal(new Limiter({ preset: "anthropic:tier-1:sonnet", limits: { rpm: 5 } }).limits(NOW).requests.limit, 5);
    throwsNaming(() => new Limiter({ limits: { rpm: -1 } }), RangeError, "limits.rpm");
    throwsNaming(() => new Limiter({ limits: { itpm: "many" } }), TypeError, "limits.itpm");
    throwsNaming(() => new Limiter({ limits: 5 }), TypeError, "limits");
    for (const latencyMs of ["5", true, [5]]) throwsNaming(() => new Limiter({ latencyMs }), TypeError, "latencyMs");
    throwsNaming(() => new Limiter({ preset: "anthropic:tier-9" }), RangeError, "preset");
    throwsNaming(() => new Limiter({ outputReservation: "all" }), RangeError, "outputReservation");
    throwsNaming(() => new Limiter({ latencyMs: -1 }), RangeError, "latencyMs");
    throwsNaming(() => new Limiter({ latencyMs: Number.NaN }), RangeError, "latencyMs");
    throwsNaming(() => new Limiter({ latencyMs: "fast" }), TypeError, "latencyMs");
    assert.throws(() => new Limiter("rpm=5"), TypeError);
    // Options of the Pacer that a limiter has no use for are unknown here: a TypeError naming them.
    assert.throws(
      () => new Limiter({ retry: { maxRetries: 1 } }),
      (e) => e instanceof TypeError && /unknown option "retry"/.test(e.message),
    );
  });
});

// --- parseRateLimitHeaders and classify on real header sets --------------------------------

/** A 200 from the Messages API (the headers as Anthropic sends them; ids made up). */
const ANTHROPIC_OK = {
  date: "Sun, 22 Nov 2026 13:04:30 GMT",
  "content-type": "application/json",
  "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
  "anthropic-organization-id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
  "anthropic-ratelimit-requests-limit": "50",
  "anthropic-ratelimit-requests-remaining": "49",
  "anthropic-ratelimit-requests-reset": "2026-11-22T13:04:31Z",
  "anthropic-ratelimit-input-tokens-limit": "30000",
  "anthropic-ratelimit-input-tokens-remaining": "29000",
  "anthropic-ratelimit-input-tokens-reset": "2026-11-22T13:04:32Z",
  "anthropic-ratelimit-output-tokens-limit": "8000",
  "anthropic-ratelimit-output-tokens-remaining": "8000",
  "anthropic-ratelimit-output-tokens-reset": "2026-11-22T13:04:30Z",
  "anthropic-ratelimit-tokens-limit": "38000",
  "anthropic-ratelimit-tokens-remaining": "37000",
  "anthropic-ratelimit-tokens-reset": "2026-11-22T13:04:32Z",
  via: "1.1 google",
  "cf-cache-status": "DYNAMIC",
  "x-robots-tag": "none",
  server: "cloudflare",
};

/** A 200 from OpenAI's Chat Completions (Go-style durations for the resets). */
const OPENAI_OK = {
  date: "Sun, 22 Nov 2026 13:04:30 GMT",
  "content-type": "application/json",
  "openai-organization": "user-abc123",
  "openai-processing-ms": "412",
  "openai-version": "2020-10-01",
  "x-ratelimit-limit-requests": "500",
  "x-ratelimit-limit-tokens": "30000",
  "x-ratelimit-remaining-requests": "499",
  "x-ratelimit-remaining-tokens": "29900",
  "x-ratelimit-reset-requests": "120ms",
  "x-ratelimit-reset-tokens": "6m0s",
  "x-request-id": "req_7f5c2d9a1b3e4f60",
};

describe("KeyedLimiter", () => {
  test("one Limiter per key: a pause or a learned limit of one key leaves the others alone", () => {
    const keyed = new KeyedLimiter((key) => ({ limits: { rpm: key.endsWith(":haiku") ? 2 : 1 }, latencyMs: 0 }));
    const sonnet = keyed.get("org-1:sonnet");
    assert.equal(keyed.get("org-1:sonnet"), sonnet, "the same limiter for the same key");
    sonnet.pauseUntil(NOW + 30_000);
    assert.deepEqual(sonnet.acquire({}, NOW), { ok: false, waitMs: 30_000, reason: "paused" });
    const haiku = keyed.get("org-1:haiku");
    assert.equal(haiku.acquire({}, NOW).ok, true);
    assert.equal(haiku.acquire({}, NOW).ok, true, "its own limit: 2 per minute");
    assert.equal(keyed.get("org-2:sonnet").acquire({}, NOW).ok, true, "another organisation is not paused");
    haiku.observe(
      { "anthropic-ratelimit-input-tokens-limit": "50000", "anthropic-ratelimit-input-tokens-remaining": "50000" },
      NOW,
    );
    assert.equal(sonnet.limits(NOW).inputTokens, undefined);
    assert.deepEqual(
      keyed.limits(NOW).map((k) => [k.key, k.requests.limit, k.inputTokens?.limit]),
      [
        ["org-1:sonnet", 1, undefined],
        ["org-1:haiku", 2, 50_000],
        ["org-2:sonnet", 1, undefined],
      ],
    );
    assert.equal(keyed.delete("org-1:haiku"), true);
    assert.equal(keyed.delete("org-1:haiku"), false);
    assert.equal(keyed.limits(NOW).length, 2);
  });

  test("a Limiter is one key's: a whole-tier preset is refused, a class's row taken", () => {
    assert.throws(
      () => new Limiter({ preset: "anthropic:tier-1" }),
      (e) => e instanceof RangeError && /`preset`/.test(e.message),
    );
    const keyed = new KeyedLimiter((key) => ({ preset: `anthropic:tier-1:${key.split(":")[1]}` }));
    assert.equal(keyed.get("org:haiku").limits(NOW).inputTokens.limit, 50_000);
    assert.equal(keyed.get("org:sonnet").limits(NOW).inputTokens.limit, 30_000);
  });

  test("bad options throw at construction (an object) or at first use (a function)", () => {
    assert.throws(
      () => new KeyedLimiter({ limits: { rpm: -1 } }),
      (e) => e instanceof RangeError && /`limits\.rpm`/.test(e.message),
    );
    const lazy = new KeyedLimiter(() => ({ limits: { rpm: "x" } }));
    assert.throws(
      () => lazy.get("k"),
      (e) => e instanceof TypeError && /`limits\.rpm`/.test(e.message),
    );
  });
});

describe("parseRateLimitHeaders", () => {
  test("Anthropic: every dimension, resets on our clock, token counts marked rounded", () => {
    assert.deepEqual(parseRateLimitHeaders(new Headers(ANTHROPIC_OK), NOW), {
      serverDate: NOW,
      family: "anthropic",
      requests: { limit: 50, remaining: 49, resetAt: NOW + 1000, windowMs: 60000 },
      inputTokens: { limit: 30000, remaining: 29000, resetAt: NOW + 2000, windowMs: 60000, rounded: true },
      outputTokens: { limit: 8000, remaining: 8000, resetAt: NOW, windowMs: 60000, rounded: true },
      tokens: { limit: 38000, remaining: 37000, resetAt: NOW + 2000, windowMs: 60000, rounded: true },
    });
    // The server's clock 3 s ahead of ours: resets move onto our clock through `date`.
    const skewed = parseRateLimitHeaders({ ...ANTHROPIC_OK, date: "Sun, 22 Nov 2026 13:04:33 GMT" }, NOW);
    assert.equal(skewed.requests.resetAt, NOW, "2 s in the past on our clock: full now");
    assert.equal(skewed.inputTokens.resetAt, NOW, "1 s in the past on our clock");
    assert.equal(
      parseRateLimitHeaders({ ...ANTHROPIC_OK, date: "Sun, 22 Nov 2026 13:04:28 GMT" }, NOW).inputTokens.resetAt,
      NOW + 4000,
    );
  });

  test("Anthropic 429 and Priority Tier headers", () => {
    const h = {
      ...ANTHROPIC_OK,
      "retry-after": "17",
      "anthropic-ratelimit-input-tokens-remaining": "0",
      "anthropic-priority-input-tokens-limit": "10000",
      "anthropic-priority-input-tokens-remaining": "9000",
      "anthropic-priority-input-tokens-reset": "2026-11-22T13:04:40Z",
      "x-should-retry": "true",
    };
    const info = parseRateLimitHeaders(h, NOW);
    assert.equal(info.retryAfterMs, 17000);
    assert.equal(info.shouldRetry, true);
    assert.equal(info.inputTokens.remaining, 0);
    assert.deepEqual(info.priorityInputTokens, {
      limit: 10000,
      remaining: 9000,
      resetAt: NOW + 10_000,
      windowMs: 60000,
      rounded: true,
    });
    assert.equal(info.priorityOutputTokens, undefined);
  });

  test("OpenAI: Go durations from now, the combined tokens limit", () => {
    assert.deepEqual(parseRateLimitHeaders(OPENAI_OK, NOW), {
      serverDate: NOW,
      family: "openai",
      requests: { limit: 500, remaining: 499, resetAt: NOW + 120, windowMs: 60000 },
      tokens: { limit: 30000, remaining: 29900, resetAt: NOW + 360_000, windowMs: 60000 },
    });
  });

  test("Mistral's month spent, the minute's figures full: `quotaSpent`, and classify() fails its 429 as a spent quota", () => {
    const month = {
      "x-ratelimit-limit-tokens-month": "1000000000",
      "x-ratelimit-remaining-tokens-month": "0",
      "x-ratelimit-limit-tokens-minute": "500000",
      "x-ratelimit-remaining-tokens-minute": "500000",
      "x-ratelimit-limit-req-minute": "60",
      "x-ratelimit-remaining-req-minute": "60",
    };
    const info = parseRateLimitHeaders(month, NOW);
    assert.equal(info.quotaSpent, true);
    assert.equal(info.family, "mistral");
    assert.deepEqual(classify(429, month, { message: "Requests rate limit exceeded" }, NOW), {
      action: "fail",
      reason: "insufficient_quota",
    });
    // Some of the month left, or a paced figure spent too: no spent quota, the field left out.
    for (const [k, v] of [
      ["x-ratelimit-remaining-tokens-month", "12"],
      ["x-ratelimit-remaining-req-minute", "0"],
    ]) {
      const other = parseRateLimitHeaders({ ...month, [k]: v }, NOW);
      assert.equal("quotaSpent" in other, false, k);
    }
    assert.equal("quotaSpent" in parseRateLimitHeaders(OPENAI_OK, NOW), false);
  });

  test("a usage that gives one side only settles that side: the other stays as reserved", () => {
    const lim = new Limiter({ limits: { itpm: 10_000, otpm: 10_000 }, latencyMs: 0 });
    const level = (d) => lim.limits(NOW)[d].remaining;
    const t = lim.acquire({ input: 1000, output: 2000 }, NOW).ticket;
    lim.settle(t, { input_tokens: 400 }, NOW); // a stream cut before its output's count
    assert.deepEqual([level("inputTokens"), level("outputTokens")], [9600, 8000]);
    const u = lim.acquire({ input: 1000, output: 2000 }, NOW).ticket;
    lim.settle(u, { completion_tokens: 50 }, NOW);
    assert.deepEqual([level("inputTokens"), level("outputTokens")], [8600, 7950]);
  });

  test("classify() of a status that is no HTTP status is an error naming it, not a reason `status_NaN`", () => {
    for (const status of [Number.NaN, 200.5, -1, 99, 600]) assert.throws(() => classify(status, {}), RangeError);
    assert.throws(
      () => classify("429", {}),
      (e) => e instanceof TypeError && /`status`/.test(e.message),
    );
    assert.equal(classify(429, {}).action, "retry");
  });

  test("a `now` that is no finite number is a TypeError, not a wait of 0 ms", () => {
    const lim = new Limiter({ limits: { rpm: 1 } });
    lim.acquire({}, NOW);
    for (const now of [Number.NaN, "x", Number.POSITIVE_INFINITY, null]) {
      assert.throws(
        () => lim.acquire({}, now),
        (e) => e instanceof TypeError && /`now`/.test(e.message),
        String(now),
      );
      assert.throws(() => lim.observe({}, now), TypeError);
      assert.throws(() => parseRateLimitHeaders({}, now), TypeError);
    }
    assert.equal(lim.acquire({}, NOW).ok, false, "the bucket as it was");
  });

  test("a field sent twice gives its longest wait in every form headers can take", () => {
    // As `Headers` joins them (", "): pairs and array values read alike (the first value won
    // for those before session 22).
    const forms = [
      new Headers([
        ["retry-after", "5"],
        ["retry-after", "17"],
      ]),
      [
        ["retry-after", "5"],
        ["Retry-After", "17"],
      ],
      { "retry-after": ["5", "17"] },
      new Map([["retry-after", ["5", "17"]]]),
    ];
    for (const h of forms) {
      assert.equal(parseRateLimitHeaders(h, NOW).retryAfterMs, 17_000);
      assert.equal(classify(429, h).retryAfterMs, 17_000);
    }
    assert.equal(parseRateLimitHeaders({ "retry-after-ms": ["1500", "3000"] }, NOW).retryAfterMs, 3000);
  });

  test("x-ratelimit-reset-* as a bare number or a time: seconds, an epoch (s or ms) or RFC 3339; never beyond 30 days", () => {
    // Servers beside OpenAI write its names so; the epochs and times against the server's
    // `Date` (NOW here). `12` was absent before.
    const reset = (v) =>
      parseRateLimitHeaders(
        {
          date: new Date(NOW).toUTCString(),
          "x-ratelimit-limit-requests": "100",
          "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": v,
        },
        NOW,
      ).requests?.resetAt;
    const s = Math.floor(NOW / 1000);
    for (const [v, ms] of [
      ["12", 12_000],
      ["0.5", 500],
      ["1s", 1_000],
      [String(s + 30), 30_000],
      [String((s + 30) * 1000), 30_000],
      [new Date(NOW + 30_000).toISOString(), 30_000],
      [String(s - 30), 0], // past: now, no wait below zero
    ])
      assert.equal(reset(v), NOW + ms, v);
    for (const v of ["-1", "1d", "2592001", String(s + 31 * 86_400), "soon"]) assert.equal(reset(v), undefined, v);
  });

  test("classify() and parseRateLimitHeaders() give whole milliseconds, rounded up: never shorter than said", () => {
    const gemini = (delay) => ({
      error: { code: 429, details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: delay }] },
    });
    const openai = (wait) => ({
      error: { message: `Rate limit reached. Please try again in ${wait}.`, code: "rate_limit_exceeded" },
    });
    for (const [h, body, ms] of [
      [{ "retry-after-ms": "1.5" }, undefined, 2],
      [{ "retry-after": "2.007" }, undefined, 2007],
      [{ "retry-after": "16.1" }, undefined, 16_100],
      [{ "retry-after": "0.0015" }, undefined, 2],
      [{}, openai("1.5ms"), 2],
      [{}, openai("7.66s"), 7660],
      [{}, gemini("2.007s"), 2007],
      [{ "ratelimit-remaining": "0", "ratelimit-reset": "30" }, undefined, 30_000],
    ]) {
      const said = classify(429, h, body, NOW + 0.25).retryAfterMs;
      assert.ok(Number.isInteger(said), `${JSON.stringify(h)} ${JSON.stringify(body)}: ${said}`);
      assert.equal(said, ms, `${JSON.stringify(h)} ${JSON.stringify(body)}`);
      if (Object.keys(h).length && !h["ratelimit-remaining"])
        assert.equal(parseRateLimitHeaders(h, NOW).retryAfterMs, ms);
    }
  });

  test("classify() of a 429 whose only word is a spent dimension's reset gives that wait, as the pacer waits it", () => {
    // IETF `RateLimit-Remaining: 0` and `RateLimit-Reset: 30` alone: no limit, no bucket; the
    // pacer waits for the reset, and `classify()` gave no hint (a Backoff loop retried at once).
    const h = { "ratelimit-remaining": "0", "ratelimit-reset": "30" };
    assert.equal(classify(429, h, undefined, NOW).retryAfterMs, 30_000);
    assert.equal(classify(503, h, undefined, NOW).retryAfterMs, undefined, "a 429's rule only");
  });

  test("IETF RateLimit fields, retry hints, and what is malformed is left out", () => {
    const ietf = parseRateLimitHeaders(
      { "RateLimit-Policy": '"burst";q=100;w=60', RateLimit: '"burst";r=50;t=30' },
      NOW,
    );
    assert.deepEqual(ietf, {
      family: "ietf",
      requests: { limit: 100, remaining: 50, resetAt: NOW + 30_000, windowMs: 60_000 },
    });
    assert.deepEqual(parseRateLimitHeaders({ "retry-after": "2", "retry-after-ms": "1500.5" }, NOW), {
      retryAfterMs: 1501,
    });
    assert.deepEqual(parseRateLimitHeaders({ "retry-after": "Sun, 22 Nov 2026 13:04:40 GMT" }, NOW), {
      retryAfterMs: 10_000,
    });
    assert.deepEqual(
      parseRateLimitHeaders(
        {
          "retry-after": "soon",
          "retry-after-ms": "NaN",
          "x-should-retry": "maybe",
          "anthropic-ratelimit-requests-limit": "lots",
          "anthropic-ratelimit-requests-remaining": "-4",
          "x-ratelimit-reset-requests": "10 s", // neither a Go duration nor a number: absent
          RateLimit: '"burst";r=50;t=', // a syntax error: the whole field is ignored
          date: "yesterday",
        },
        NOW,
      ),
      {},
    );
    assert.deepEqual(parseRateLimitHeaders({}, NOW), {});
    assert.deepEqual(parseRateLimitHeaders(undefined, NOW), {});
  });

  test("the earlier IETF drafts: draft-07's RateLimit Dictionary, draft-06's three fields", () => {
    // A gateway with a fixed window of 20 requests per 10 s, spent, 7 s from its reset.
    const spent = { limit: 20, remaining: 0, resetAt: NOW + 7000, windowMs: 10_000 };
    const draft07 = { RateLimit: "limit=20, remaining=0, reset=7", "RateLimit-Policy": "20;w=10" };
    assert.deepEqual(parseRateLimitHeaders(draft07, NOW), { family: "ietf", requests: spent });
    const draft06 = new Headers({
      "RateLimit-Limit": "20",
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": "7",
      "RateLimit-Policy": "20;w=10",
    });
    assert.deepEqual(parseRateLimitHeaders(draft06, NOW), { family: "ietf", requests: spent });
    // Without a policy, the window is inferred (a minute here); a field sent twice (joined
    // by Headers) gives its first value.
    const twice = new Headers([
      ["RateLimit-Limit", "20"],
      ["RateLimit-Remaining", "3"],
      ["RateLimit-Remaining", "5"],
    ]);
    assert.deepEqual(parseRateLimitHeaders(twice, NOW).requests, { limit: 20, remaining: 3, windowMs: 60_000 });
    // Precedence: draft-10, then draft-07, then draft-06.
    assert.equal(
      parseRateLimitHeaders(
        { RateLimit: '"p";r=1;t=2', "RateLimit-Policy": '"p";q=5;w=9', "RateLimit-Limit": "7" },
        NOW,
      ).requests.limit,
      5,
    );
    assert.equal(parseRateLimitHeaders({ ...draft07, "RateLimit-Limit": "7" }, NOW).requests.limit, 20);
    // Malformed values are left out: no limit of 0, no negative or decimal counts, no reset
    // beyond 30 days; a syntax error drops the whole Dictionary.
    assert.deepEqual(
      parseRateLimitHeaders(
        { "RateLimit-Limit": "0", "RateLimit-Remaining": "1.5", "RateLimit-Reset": "99999999", date: "yesterday" },
        NOW,
      ),
      {},
    );
    assert.deepEqual(parseRateLimitHeaders({ RateLimit: "limit=20 remaining=0" }, NOW), {});
    assert.deepEqual(parseRateLimitHeaders({ RateLimit: "limit=-1, remaining=2, reset=x" }, NOW), {
      family: "ietf",
      requests: { remaining: 2 },
    });
  });

  test("a value with a line break cannot smuggle in another header", () => {
    assert.deepEqual(parseRateLimitHeaders({ "x-note": "a\nretry-after\n5" }, NOW), {});
    assert.deepEqual(parseRateLimitHeaders({ "retry-after\nx": "5" }, NOW), {});
  });
});

describe("classify", () => {
  const rateLimitBody = {
    type: "error",
    error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" },
  };

  test("Anthropic: 429 retried with its hint, 529 overloaded, spend limit never", () => {
    const h429 = { ...ANTHROPIC_OK, "retry-after": "17", "x-should-retry": "true" };
    assert.deepEqual(classify(429, new Headers(h429), rateLimitBody, NOW), {
      action: "retry",
      reason: "rate_limited",
      retryAfterMs: 17000,
    });
    assert.deepEqual(classify(429, h429, JSON.stringify(rateLimitBody), NOW), {
      action: "retry",
      reason: "rate_limited",
      retryAfterMs: 17000,
    });
    assert.deepEqual(
      classify(529, {}, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, NOW),
      {
        action: "retry",
        reason: "overloaded",
      },
    );
    const spend = {
      type: "error",
      error: {
        type: "rate_limit_error",
        message: "spend limit",
        details: { error_code: "enforced_spend_limit_reached" },
      },
    };
    assert.deepEqual(classify(429, { "x-should-retry": "true" }, spend, NOW), {
      action: "fail",
      reason: "spend_limit",
    });
  });

  test("OpenAI: rate_limit_exceeded retried, insufficient_quota never", () => {
    const limited = {
      error: { message: "Rate limit reached for requests", type: "requests", param: null, code: "rate_limit_exceeded" },
    };
    assert.deepEqual(classify(429, { ...OPENAI_OK, "retry-after-ms": "250" }, limited, NOW), {
      action: "retry",
      reason: "rate_limited",
      retryAfterMs: 250,
    });
    const quota = {
      error: {
        message: "You exceeded your current quota",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota",
      },
    };
    assert.deepEqual(classify(429, OPENAI_OK, quota, NOW), { action: "fail", reason: "insufficient_quota" });
  });

  test("credits used up and per-day quotas in other providers' shapes fail; their per-minute limits wait", () => {
    const c = (status, body) => classify(status, {}, body, NOW);
    const fail = (reason) => ({ action: "fail", reason });
    const wait = { action: "retry", reason: "rate_limited" };
    // Together: `credit_limit` under `error`.
    const together = {
      error: {
        message:
          "Credit limit exceeded. Please navigate to https://api.together.xyz/settings/billing to add credit or upgrade your plan.",
        type: "credit_limit",
        code: "credit_limit",
      },
    };
    assert.deepEqual(c(429, together), fail("insufficient_quota"));
    // Cerebras: the error at the top level, one code for every window: the message tells the day.
    const cerebras = (window, code = "token_quota_exceeded") => ({
      message: `Tokens per ${window} limit exceeded - too many tokens processed.`,
      type: "too_many_tokens_error",
      param: "quota",
      code,
    });
    assert.deepEqual(c(429, cerebras("day")), fail("insufficient_quota"));
    assert.deepEqual(c(429, JSON.stringify(cerebras("day", "request_quota_exceeded"))), fail("insufficient_quota"));
    assert.deepEqual(c(429, cerebras("minute")), wait);
    assert.deepEqual(c(429, cerebras("hour")), wait);
    // xAI: `error` is the message; its code is the same for a passing overload.
    const xai = (error) => ({ code: "Some resource has been exhausted", error });
    assert.deepEqual(
      c(
        429,
        xai(
          "Your team has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit.",
        ),
      ),
      fail("spend_limit"),
    );
    assert.deepEqual(c(429, xai("The service is temporarily at capacity. Please retry your request shortly.")), wait);
    // Mistral's top-level error, TGI's string one: ordinary limits, retried (with a stated wait).
    assert.deepEqual(
      c(429, {
        object: "error",
        message: "Service tier capacity exceeded for this model.",
        type: "service_tier_capacity_exceeded",
        param: null,
        code: "3505",
      }),
      wait,
    );
    assert.deepEqual(c(429, { error: "Model is overloaded. Please try again in 2s.", error_type: "overloaded" }), {
      ...wait,
      retryAfterMs: 2000,
    });
    // 402s are never retried, whatever they say.
    assert.deepEqual(
      c(402, { error: { code: 402, message: "Insufficient credits. Add more using https://openrouter.ai/credits" } }),
      fail("status_402"),
    );
    assert.deepEqual(
      c(402, { error: { message: "Insufficient Balance", type: "unknown_error", code: "invalid_request_error" } }),
      fail("status_402"),
    );
  });

  test("statuses and x-should-retry", () => {
    const c = (status, headers, body) => classify(status, headers, body, NOW);
    assert.deepEqual(c(200, ANTHROPIC_OK), { action: "success", reason: "status_200" });
    assert.deepEqual(c(304), { action: "success", reason: "status_304" });
    assert.deepEqual(c(404), { action: "fail", reason: "status_404" });
    assert.deepEqual(c(400, {}, '{"type":"error","error":{"type":"invalid_request_error"}}'), {
      action: "fail",
      reason: "status_400",
    });
    assert.deepEqual(c(503, { "retry-after": "3" }), { action: "retry", reason: "status_503", retryAfterMs: 3000 });
    assert.deepEqual(c(500, { "x-should-retry": "false", "retry-after": "3" }), {
      action: "fail",
      reason: "should_retry_false",
    });
    assert.deepEqual(c(400, { "x-should-retry": "true" }), { action: "retry", reason: "status_400" });
    assert.deepEqual(
      c(429, {}, "not json"),
      { action: "retry", reason: "rate_limited" },
      "a body that is not JSON is no body",
    );
    assert.deepEqual(c(418), { action: "fail", reason: "status_418" });
  });
});

test("llm-pacer/slim: the lower-level exports, too, ask for init first", async () => {
  const slim = await import("llm-pacer/slim");
  for (const use of [
    () => new slim.Backoff(),
    () => new slim.Limiter(),
    () => slim.parseRateLimitHeaders({}),
    () => slim.classify(200),
  ]) {
    assert.throws(use, /llm-pacer\/slim: call `await init\(\)`/);
  }
  // Node's fetch reads no file: URL; the error says what to pass instead.
  await assert.rejects(slim.init(), (e) => e instanceof TypeError && /pass its bytes/.test(e.message));
  await slim.init(readFileSync(fileURLToPath(import.meta.resolve("llm-pacer/llm_pacer_bg.wasm"))));
  assert.deepEqual([...new slim.Backoff({ jitter: "none", maxRetries: 2 })], [1000, 2000]);
  assert.deepEqual(slim.classify(429, { "retry-after": "1" }), {
    action: "retry",
    reason: "rate_limited",
    retryAfterMs: 1000,
  });
});
