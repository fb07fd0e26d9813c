// Header families beyond Anthropic and OpenAI, and adaptive mode, through the package over
// loopback:
// - each provider's headers, sent by the mock, read by `parseRateLimitHeaders` from the real
//   `Response` (family, limits, windows);
// - the pacer paces by their windows: Together's per second, Groq's requests per day
//   (virtual time);
// - a 429's own word: Groq's `retry-after` over its figures' reset, Mistral's spent month;
// - `concurrency: "auto"` against a server with a hidden capacity and no headers: every call
//   succeeds, and far fewer attempts are refused than with no cap.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOpenAIMock } from "./mock/index.mjs";
import { startHiddenCapacityServer } from "./mock/hidden.mjs";
import { mockEnv, openaiInit, gap, drained } from "./lib/harness.mjs";

/** A fault that replaces the mock's rate-limit headers with `headers`. */
const only = (headers, extra = {}) => ({ rateLimitHeaders: "missing", headers, ...extra });

describe("header families, read from real responses", () => {
  const cases = [
    [
      "Groq: requests per day",
      {
        "x-groq-region": "us-west-1",
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-remaining-requests": "14399",
        "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "5990",
        "x-ratelimit-reset-tokens": "100ms",
      },
      {
        family: "groq",
        requests: { limit: 14400, remaining: 14399, windowMs: 86_400_000 },
        tokens: { limit: 6000, windowMs: 60_000 },
      },
    ],
    [
      "Azure OpenAI: remaining counts only",
      { "x-ratelimit-remaining-requests": "119", "x-ratelimit-remaining-tokens": "119850" },
      { family: "openai", requests: { remaining: 119, windowMs: 60_000 }, tokens: { remaining: 119850 } },
    ],
    [
      "Mistral: windows in the names",
      {
        "x-ratelimit-limit-req-minute": "720",
        "x-ratelimit-remaining-req-minute": "717",
        "x-ratelimit-limit-tokens-minute": "5000000",
        "x-ratelimit-remaining-tokens-minute": "4999911",
      },
      { family: "mistral", requests: { limit: 720, remaining: 717, windowMs: 60_000 }, tokens: { limit: 5_000_000 } },
    ],
    [
      "Mistral: ratelimitbysize-*",
      { "ratelimitbysize-limit": "500000", "ratelimitbysize-remaining": "499000", "ratelimitbysize-reset": "30" },
      { family: "mistral", tokens: { limit: 500_000, remaining: 499_000, windowMs: 60_000 } },
    ],
    [
      "Together: per second",
      {
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "9",
        "x-ratelimit-reset": "1",
        "x-tokenlimit-limit": "20000",
        "x-tokenlimit-remaining": "19000",
      },
      {
        family: "together",
        requests: { limit: 10, remaining: 9, windowMs: 1000 },
        tokens: { limit: 20000, windowMs: 1000 },
      },
    ],
    [
      "OpenRouter: epoch-ms reset",
      { "X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "19", "X-RateLimit-Reset": "EPOCH+10000" },
      { family: "x-ratelimit", requests: { limit: 20, remaining: 19, windowMs: 60_000, resetIn: 10_000 } },
    ],
  ];
  for (const [name, headers, want] of cases) {
    test(name, async (t) => {
      const { parseRateLimitHeaders } = await import("llm-pacer");
      const env = await mockEnv(t, startOpenAIMock);
      const h = Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v.replace("EPOCH+10000", String(env.clock.now() + 10_000))]),
      );
      env.mock.script([only(h)]);
      const res = await fetch(env.url, openaiInit());
      assert.equal(res.status, 200);
      const got = parseRateLimitHeaders(res.headers, env.clock.now());
      assert.equal(got.family, want.family, JSON.stringify(got));
      for (const dim of ["requests", "tokens"]) {
        for (const [k, v] of Object.entries(want[dim] ?? {})) {
          if (k === "resetIn") assert.equal(got[dim].resetAt - env.clock.now(), v, `${dim}.resetAt`);
          else assert.equal(got[dim]?.[k], v, `${dim}.${k}: ${JSON.stringify(got)}`);
        }
      }
    });
  }

  test("DeepSeek sends none: nothing to read", async (t) => {
    const { parseRateLimitHeaders } = await import("llm-pacer");
    const env = await mockEnv(t, startOpenAIMock);
    env.mock.script([only({})]);
    const got = parseRateLimitHeaders((await fetch(env.url, openaiInit())).headers);
    assert.equal(got.family, undefined);
    assert.equal(got.requests, undefined);
  });
});

describe("the pacer waits out what these families say", () => {
  test("Together: nothing remains, reset in 1 s: the next call goes 1 s later", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 1 });
    const h = {
      "x-ratelimit-limit": "1",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset": "1",
      "x-tokenlimit-limit": "100000",
      "x-tokenlimit-remaining": "99000",
    };
    env.mock.script([only(h), only(h)]);
    await (await pacer.fetch(env.url, openaiInit())).text();
    await (await pacer.fetch(env.url, openaiInit())).text();
    const wait = gap(env.mock, 0);
    assert.ok(wait >= 1_000 && wait < 1_500, `next call after ${wait} ms`);
  });

  test("Groq: the request limit is per day, not per minute", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 2, retry: { maxRetryAfterMs: 864e5 } });
    // 1440 a day refills one request a minute; read per minute, one every 42 ms.
    const h = only({
      "x-groq-region": "us-west-1",
      "x-ratelimit-limit-requests": "1440",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "23h59m",
    });
    env.mock.script([h, h]);
    await (await pacer.fetch(env.url, openaiInit())).text();
    await (await pacer.fetch(env.url, openaiInit())).text();
    const wait = gap(env.mock, 0);
    assert.ok(wait >= 59_000 && wait <= 61_000, `next call after ${wait} ms`);
  });
});

describe("a 429's own word", () => {
  test("Groq: retry-after 2 beside spent tokens full again in 7.66s: the retry goes at the hint, not the reset", async (t) => {
    // Groq's token buckets refill continuously; figures no continuous refill shows (none left
    // of 6,000 a minute, full in 7.66 s) held the retry to that reset: 7.7 s for a hint of 2.
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 4 });
    const h = {
      "x-groq-region": "us-east-1",
      "x-ratelimit-limit-requests": "14400",
      "x-ratelimit-remaining-requests": "14370",
      "x-ratelimit-reset-requests": "2m59.56s",
      "x-ratelimit-limit-tokens": "6000",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "7.66s",
    };
    // And a server of the OpenAI family with the same figures: read as windows, its hint
    // still ends the hold.
    const { "x-groq-region": _, ...openai } = h;
    for (const headers of [h, openai]) {
      env.mock.script([
        only(headers, { status: 429, retryAfter: "2" }),
        only({ ...headers, "x-ratelimit-remaining-tokens": "5940", "x-ratelimit-reset-tokens": "600ms" }),
      ]);
      const from = env.mock.log.length;
      const res = await pacer.fetch(env.url, openaiInit());
      assert.equal(res.status, 200);
      await res.text();
      const wait = gap(env.mock, from);
      assert.ok(wait >= 2_000 && wait <= 2_200, `retried ${wait} ms after retry-after: 2`);
    }
  });

  test("Mistral: a 429 with the month's tokens spent, the minute's figures full, is handed back at once", async (t) => {
    const { classify } = await import("llm-pacer");
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 5 });
    const month = {
      "x-ratelimit-limit-tokens-month": "1000000000",
      "x-ratelimit-remaining-tokens-month": "0",
      "x-ratelimit-limit-tokens-minute": "500000",
      "x-ratelimit-remaining-tokens-minute": "500000",
      "x-ratelimit-limit-req-minute": "60",
      "x-ratelimit-remaining-req-minute": "60",
    };
    const body =
      '{"object":"error","message":"Requests rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}';
    env.mock.script([only(month, { status: 429, body }), "ok"]);
    const res = await pacer.fetch(env.url, openaiInit());
    assert.equal(res.status, 429);
    await res.text();
    assert.equal(env.mock.log.length, 1, "not retried");
    const giveup = env.events.find((e) => e.type === "giveup");
    assert.equal(giveup?.reason, "insufficient_quota");
    assert.deepEqual(classify(429, month, body), { action: "fail", reason: "insufficient_quota" });
    // The minute's figures spent too: the 429 may be the minute's, retried as ever.
    const minute = { ...month, "x-ratelimit-remaining-req-minute": "0" };
    assert.equal(classify(429, minute, body).action, "retry");
  });
});

describe('concurrency: "auto" against a hidden capacity', () => {
  async function burst(t, options) {
    const { Pacer } = await import("llm-pacer");
    const server = await startHiddenCapacityServer({ maxConcurrent: 3, latencyMs: 15 });
    t.after(() => server.close());
    const pacer = new Pacer({
      seed: 3,
      retry: { initialDelayMs: 5, maxDelayMs: 40, maxRetries: 100 },
      budget: false,
      ...options,
    });
    const calls = Array.from({ length: 40 }, () => pacer.fetch(server.url, openaiInit()).then((r) => r.status));
    const statuses = await Promise.all(calls);
    await drained(pacer);
    pacer.close();
    return { statuses, stats: { ...server.stats }, pacer: pacer.stats() };
  }

  test("every call succeeds, few attempts are refused, and none when told a cap", async (t) => {
    const auto = await burst(t, { concurrency: "auto" });
    assert.deepEqual(auto.statuses, Array(40).fill(200));
    const refusedPct = (100 * auto.stats.refused) / auto.stats.requests;
    assert.ok(refusedPct <= 25, `auto: ${auto.stats.refused} of ${auto.stats.requests} refused`);
    const none = await burst(t, {});
    assert.deepEqual(none.statuses, Array(40).fill(200));
    assert.ok(
      none.stats.refused >= 3 * auto.stats.refused,
      `no cap: ${none.stats.refused} refused, auto: ${auto.stats.refused}`,
    );
  });

  test('"auto" is the only string; other values are still range-checked', async () => {
    const { Pacer } = await import("llm-pacer");
    assert.throws(
      () => new Pacer({ concurrency: "fast" }),
      (e) => e instanceof TypeError && /concurrency/.test(e.message) && /"auto"/.test(e.message),
    );
    assert.throws(
      () => new Pacer({ concurrency: -1 }),
      (e) => e instanceof RangeError && /concurrency/.test(e.message),
    );
    new Pacer({ concurrency: "auto" }).close();
  });
});
