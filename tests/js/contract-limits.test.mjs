// Pacing and accounting against the contract (DESIGN.md section 3): the concurrency cap under
// load, limits learned from Anthropic and OpenAI headers (and the pacing that follows), usage
// reconciled from JSON and SSE bodies, REQUEST_TOO_LARGE, option errors, `stats()` that add
// up, and the `onEvent` sequence of a retried call. Virtual time shared with the mocks.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Pacer, PacerError, RequestTooLargeError } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import {
  anthropicInit,
  openaiInit,
  mockEnv,
  drained,
  outcome,
  until,
  oneKey,
  gap,
  VirtualClock,
} from "./lib/harness.mjs";

const STAT_KEYS = [
  "attempts",
  "inFlight",
  "inputTokensReserved",
  "inputTokensUsed",
  "networkErrors",
  "outputTokensReserved",
  "outputTokensUsed",
  "overloaded",
  "queued",
  "rateLimited",
  "requests",
  "retries",
  "serverErrors",
  "waitMs",
];

function assertPlainStats(s) {
  assert.equal(Object.getPrototypeOf(s), Object.prototype, "a plain object");
  assert.deepEqual(Object.keys(s).sort(), STAT_KEYS);
  for (const [k, v] of Object.entries(s)) {
    assert.equal(typeof v, "number", k);
    assert.ok(Number.isFinite(v) && v >= 0, `${k} = ${v}`);
  }
}

/** Parse a Go duration as OpenAI sends it (`1m30s`, `8.64s`, `120ms`) into ms. */
function goDurationMs(s) {
  const units = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, µs: 1e-3, us: 1e-3, ns: 1e-6 };
  let total = 0;
  for (const [, n, u] of s.matchAll(/([\d.]+)(h|ms|m|s|µs|us|ns)/g)) total += Number(n) * units[u];
  return total;
}

describe("the concurrency cap", () => {
  test("never more than `concurrency` requests at the server under a burst", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { latencyMs: 25 });
    const pacer = env.make({ concurrency: 3 });
    let maxSeen = 0;
    const calls = Array.from({ length: 30 }, () =>
      pacer.fetch(env.url, anthropicInit()).then(async (r) => {
        maxSeen = Math.max(maxSeen, pacer.stats().inFlight);
        await r.text();
        return r.status;
      }),
    );
    assert.deepEqual(await Promise.all(calls), Array(30).fill(200));
    await drained(pacer);
    assert.equal(env.mock.stats.maxInFlight, 3, "the cap is reached and held");
    assert.ok(maxSeen <= 3);
    assert.equal(pacer.stats().attempts, 30);
  });

  test("a streamed response holds its slot until its body ends", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { latencyMs: 1, eventDelayMs: 5 });
    const pacer = env.make({ concurrency: 2 });
    const calls = Array.from({ length: 8 }, () =>
      pacer.fetch(env.url, anthropicInit({ body: { stream: true } })).then((r) => r.text()),
    );
    for (const text of await Promise.all(calls)) assert.match(text, /message_stop/);
    await drained(pacer);
    assert.equal(env.mock.stats.maxInFlight, 2);
    assert.ok(env.mock.log.every((e) => e.inFlight <= 2));
  });

  test("concurrency: 1 serialises; Infinity is the default (no cap)", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { latencyMs: 5 });
    const one = env.make({ concurrency: 1 });
    await Promise.all(Array.from({ length: 5 }, () => one.fetch(env.url, anthropicInit()).then((r) => r.text())));
    assert.equal(env.mock.stats.maxInFlight, 1);
    await env.mock.idle();
    env.mock.reset();
    // Requests the server never answers: all of them are at the server at once, then aborted.
    for (const options of [{}, { concurrency: Infinity }]) {
      const free = env.make(options);
      // The first answer ends the opening probe (one request first while no limit is known).
      await (await free.fetch(env.url, anthropicInit())).text();
      env.mock.reset();
      const controller = new AbortController();
      const stall = { signal: controller.signal, headers: { "x-mock-fault": "stall" } };
      const calls = Array.from({ length: 5 }, () => outcome(free.fetch(env.url, anthropicInit(stall))));
      await until(() => env.mock.stats.inFlight === 5, "five requests at the server at once");
      assert.equal(free.stats().inFlight, 5);
      controller.abort();
      for (const r of await Promise.all(calls)) assert.equal(r.error.name, "AbortError");
      await env.mock.idle();
    }
  });
});

describe("limits learned from headers", () => {
  test("Anthropic: requests, input and output tokens, source `headers`", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    const pacer = env.make();
    assert.deepEqual(pacer.limits(), [], "no key known before the first request");
    await (await pacer.fetch(env.url, anthropicInit())).text();
    await drained(pacer);
    const l = oneKey(pacer);
    assert.deepEqual(
      Object.keys(l).sort(),
      ["inputTokens", "outputTokens", "requests"],
      "tokens-* is not used when the specific headers are there",
    );
    assert.deepEqual(Object.fromEntries(Object.entries(l).map(([k, v]) => [k, [v.limit, v.source]])), {
      requests: [50, "headers"],
      inputTokens: [30_000, "headers"],
      outputTokens: [8_000, "headers"],
    });
    for (const v of Object.values(l)) {
      assert.deepEqual(Object.keys(v).sort(), ["limit", "remaining", "resetAt", "source", "windowMs"]);
      assert.equal(v.windowMs, 60_000);
      assert.ok(v.remaining >= 0 && v.remaining <= v.limit);
      assert.ok(Number.isInteger(v.resetAt) && v.resetAt >= env.clock.t, `whole ms: ${v.resetAt}`);
    }
    assert.equal(l.requests.remaining, 49);
    assert.ok(env.events.some((e) => e.type === "limits" && e.reason === "headers"));
  });

  test("configured limits stay `configured`; the others are learned", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    const pacer = env.make({ limits: { rpm: 40 } });
    const first = pacer.fetch(env.url, anthropicInit());
    // Known as soon as the request's key is: configured, before any response.
    assert.deepEqual(Object.keys(oneKey(pacer)), ["requests"]);
    assert.equal(oneKey(pacer).requests.source, "configured");
    assert.equal(oneKey(pacer).requests.limit, 40);
    await (await first).text();
    await drained(pacer);
    const l = oneKey(pacer);
    assert.equal(l.requests.source, "configured");
    assert.ok(l.requests.limit <= 40, "never looser than configured");
    assert.equal(l.inputTokens.source, "headers");
  });

  test("Anthropic: a burst after the first response is paced by the learned RPM (no 429)", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 5, itpm: 100_000, otpm: 100_000 } });
    const pacer = env.make();
    await (await pacer.fetch(env.url, anthropicInit())).text();
    await drained(pacer);
    const burst = Array.from({ length: 9 }, () => pacer.fetch(env.url, anthropicInit()).then((r) => r.status));
    assert.deepEqual(await Promise.all(burst), Array(9).fill(200));
    assert.equal(env.mock.stats.limited, 0);
    assert.equal(pacer.stats().rateLimited, 0);
    // 10 requests at 5 per minute from a full bucket: the last goes after ~60 s.
    assert.ok(env.clock.elapsed >= 59_000 && env.clock.elapsed <= 61_000, `elapsed ${env.clock.elapsed}`);
  });

  test("OpenAI: x-ratelimit-* with Go durations give the limits and their reset times", async (t) => {
    // A response that arrives in the very ms of its admission is a tie the limiter cannot
    // order against the headers it teaches (reported); real responses take time.
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 2, tpm: 1_000 }, virtualLatencyMs: 20 });
    const pacer = env.make();
    const res = await pacer.fetch(env.url, openaiInit());
    await res.text();
    await drained(pacer);
    const resetRequests = res.headers.get("x-ratelimit-reset-requests");
    const resetTokens = res.headers.get("x-ratelimit-reset-tokens");
    assert.equal(resetRequests, "30s");
    assert.match(resetTokens, /^\d+(\.\d+)?m?s$/);
    const l = oneKey(pacer);
    assert.deepEqual(Object.keys(l).sort(), ["requests", "tokens"]);
    assert.equal(l.requests.limit, 2);
    assert.equal(l.requests.source, "headers");
    assert.equal(l.tokens.limit, 1_000);
    assert.equal(l.tokens.source, "headers");
    assert.equal(l.requests.remaining, 1);
    assert.ok(
      Math.abs(l.requests.resetAt - env.clock.t - goDurationMs(resetRequests)) <= 1,
      `requests resetAt ${l.requests.resetAt - env.clock.t}`,
    );
    assert.ok(
      Math.abs(l.tokens.resetAt - env.clock.t - goDurationMs(resetTokens)) <= 5,
      `tokens resetAt ${l.tokens.resetAt - env.clock.t} vs ${resetTokens}`,
    );
  });

  test("resetAt is a whole ms, as every other time the package shows", async () => {
    // One request of a 7 a minute bucket is back in 8,571.43 ms: it gave T0 + 8571.428...
    const clock = new VirtualClock();
    const fetch = async () => new Response("{}", { headers: { "content-type": "application/json" } });
    const pacer = new Pacer({ clock, fetch, limits: { rpm: 7 } });
    await (await pacer.fetch("https://api.openai.com/v1/chat/completions", openaiInit())).text();
    const { requests } = oneKey(pacer);
    assert.ok(Number.isInteger(requests.resetAt), `resetAt ${requests.resetAt}`);
    assert.ok(requests.resetAt > clock.t, `resetAt ${requests.resetAt - clock.t} ms from now`);
  });

  test("OpenAI: a learned RPM and TPM pace a burst (no 429)", async (t) => {
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 3, tpm: 600 } });
    const pacer = env.make();
    await (await pacer.fetch(env.url, openaiInit({ body: { max_completion_tokens: 100 } }))).text();
    await drained(pacer);
    const burst = Array.from({ length: 6 }, () =>
      pacer.fetch(env.url, openaiInit({ body: { max_completion_tokens: 100 } })).then((r) => r.status),
    );
    assert.deepEqual(await Promise.all(burst), Array(6).fill(200));
    assert.equal(env.mock.stats.limited, 0);
    assert.ok(env.clock.elapsed >= 60_000, `7 requests at 3 per minute take over a minute (${env.clock.elapsed})`);
  });

  test("garbage rate-limit headers teach nothing and break nothing", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    const pacer = env.make();
    const res = await pacer.fetch(env.url, anthropicInit({ headers: { "x-mock-fault": "bad-headers" } }));
    assert.equal(res.status, 200);
    await res.text();
    await drained(pacer);
    for (const v of Object.values(oneKey(pacer))) {
      assert.ok(Number.isFinite(v.limit) && v.limit > 0 && Number.isFinite(v.remaining) && Number.isFinite(v.resetAt));
    }
    assertPlainStats(pacer.stats());
  });
});

describe("usage", () => {
  const anthropicUsage = {
    "x-mock-input-tokens": "120",
    "x-mock-cache-creation-tokens": "30",
    "x-mock-cache-read-tokens": "500",
    "x-mock-output-tokens": "9",
  };

  test("Anthropic JSON: input + cache creation (cache reads are free), output", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const res = await pacer.fetch(env.url, anthropicInit({ headers: anthropicUsage }));
    const body = await res.json();
    assert.equal(body.usage.input_tokens, 120);
    await drained(pacer);
    assert.equal(pacer.stats().inputTokensUsed, 150);
    assert.equal(pacer.stats().outputTokensUsed, 9);
    assert.deepEqual(
      env.events.filter((e) => e.type === "settled").map((e) => e.reason),
      ["usage"],
    );
  });

  test("Anthropic SSE: the same, from message_start and message_delta", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { eventDelayMs: 1 });
    const pacer = env.make();
    const res = await pacer.fetch(env.url, anthropicInit({ body: { stream: true }, headers: anthropicUsage }));
    assert.match(res.headers.get("content-type"), /text\/event-stream/);
    assert.equal(pacer.stats().inFlight, 1, "in flight until the body ends");
    const text = await res.text();
    assert.match(text, /message_delta/);
    await drained(pacer);
    assert.equal(pacer.stats().inputTokensUsed, 150);
    assert.equal(pacer.stats().outputTokensUsed, 9);
  });

  test("OpenAI JSON and SSE (with include_usage); without usage, estimated from the streamed text", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make();
    const headers = { "x-mock-input-tokens": "77", "x-mock-output-tokens": "5" };
    await (await pacer.fetch(env.url, openaiInit({ headers }))).json();
    await drained(pacer);
    assert.deepEqual([pacer.stats().inputTokensUsed, pacer.stats().outputTokensUsed], [77, 5]);

    const stream = await pacer.fetch(
      env.url,
      openaiInit({ headers, body: { stream: true, stream_options: { include_usage: true } } }),
    );
    assert.match(await stream.text(), /\[DONE\]/);
    await drained(pacer);
    assert.deepEqual([pacer.stats().inputTokensUsed, pacer.stats().outputTokensUsed], [154, 10]);

    const bare = await pacer.fetch(env.url, openaiInit({ headers, body: { stream: true } }));
    await bare.text();
    await drained(pacer);
    // The input as reserved (the estimate), the output from the text (at least the 5 real tokens).
    const settled = env.events.filter((e) => e.type === "settled");
    assert.deepEqual(
      settled.map((e) => e.reason),
      ["usage", "usage", "estimated"],
    );
    const { inputTokens, outputTokens } = settled[2].usage;
    assert.ok(outputTokens >= 5 && outputTokens < 64, `output ${outputTokens}`);
    assert.deepEqual(
      [pacer.stats().inputTokensUsed, pacer.stats().outputTokensUsed],
      [154 + inputTokens, 10 + outputTokens],
    );
  });

  test("malformed or missing usage is ignored; the stats stay finite", async (t) => {
    for (const start of [startAnthropicMock, startOpenAIMock]) {
      const env = await mockEnv(t, start);
      const pacer = env.make();
      const init = start === startOpenAIMock ? openaiInit : anthropicInit;
      for (const fault of ["bad-usage", "no-usage"]) {
        await (await pacer.fetch(env.url, init({ headers: { "x-mock-fault": fault } }))).text();
        await (
          await pacer.fetch(
            env.url,
            init({
              headers: { "x-mock-fault": fault },
              body: { stream: true, ...(start === startOpenAIMock ? { stream_options: { include_usage: true } } : {}) },
            }),
          )
        ).text();
      }
      await drained(pacer);
      const s = pacer.stats();
      assertPlainStats(s);
      assert.ok(s.inputTokensUsed < 1e6 && s.outputTokensUsed < 1e6, JSON.stringify(s));
    }
  });
});

describe("REQUEST_TOO_LARGE", () => {
  // The input counts only when the caller counted it (`estimate`): the built-in estimate errs
  // high, and is never a reason to refuse (below). `max_tokens` counts where the plan is known
  // to reserve it (a tier's preset, or the server's refusal seen, below).
  const counted = { estimate: () => ({ input: 1500, output: 0 }) };
  const cases = [
    ["inputTokens", { limits: { itpm: 1000 }, ...counted }, {}, 1000],
    ["outputTokens", { preset: "anthropic:tier-1:sonnet" }, { max_tokens: 10_000 }, 8000],
    ["tokens", { limits: { tpm: 500 }, ...counted }, {}, 500],
  ];
  for (const [dimension, options, body, capacity] of cases) {
    test(`a request that can never fit ${dimension} rejects at once with the dimension, cost and capacity`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      const pacer = env.make(options);
      const r = await outcome(pacer.fetch(env.url, anthropicInit({ body })));
      assert.equal(r.ok, false);
      const e = r.error;
      assert.ok(e instanceof RequestTooLargeError, String(e));
      assert.ok(e instanceof PacerError);
      assert.equal(e.name, "RequestTooLargeError");
      assert.equal(e.code, "REQUEST_TOO_LARGE");
      assert.equal(e.dimension, dimension);
      assert.equal(e.capacity, capacity);
      assert.ok(e.cost > capacity, `cost ${e.cost}`);
      assert.match(e.message, new RegExp(`limit is ${capacity} per minute`));
      assert.equal(env.mock.log.length, 0);
      assert.equal(env.clock.elapsed, 0);
      await drained(pacer);
    });
  }

  test("a prompt whose built-in estimate is over ITPM is sent from a full bucket, not refused", async (t) => {
    // 3,600 characters: the pacer's estimate (3 a token) is over 1,000, the server's count
    // (4 a token) is 900. The server takes it, so the pacer must not refuse it.
    const env = await mockEnv(t, startAnthropicMock, { limits: { itpm: 1000 } });
    const pacer = env.make({ limits: { itpm: 1000 } });
    const prompt = { messages: [{ role: "user", content: "x".repeat(3600) }] };
    const small = { messages: [{ role: "user", content: "x".repeat(400) }] };
    await (await pacer.fetch(env.url, anthropicInit({ body: small }))).text();
    const first = pacer.stats().inputTokensReserved;
    const res = await pacer.fetch(env.url, anthropicInit({ body: prompt }));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).usage.input_tokens, 900);
    assert.equal(env.mock.log.length, 2, "no 429: it waited for a full bucket");
    // The first one's estimate was taken, and 100 used: the bucket is full 6 s later.
    assert.ok(gap(env.mock, 0) >= 6_000, `sent ${gap(env.mock, 0)} ms after the first`);
    await drained(pacer);
    const s = pacer.stats();
    assert.equal(s.inputTokensReserved - first, 1000, "the whole bucket is reserved, no more");
    assert.equal(s.inputTokensUsed, 100 + 900);
  });

  test("a prompt the server cannot take either ends with the server's 429: refused twice with room", async (t) => {
    // 1,500 tokens to the server against 1,000 ITPM. Anthropic's 429 does not say that it can
    // never fit, but its headers do: the bucket was full. Once may be a request that came
    // early; twice, after the server's own wait, it is larger than the limit itself.
    const env = await mockEnv(t, startAnthropicMock, { limits: { itpm: 1000 } });
    const pacer = env.make({ limits: { itpm: 1000 } });
    const prompt = { messages: [{ role: "user", content: "x".repeat(6000) }] };
    const res = await pacer.fetch(env.url, anthropicInit({ body: prompt }));
    assert.equal(res.status, 429, "the server's word, not the pacer's estimate");
    assert.equal(env.mock.log.length, 2, "not the six retries a 429 gets");
    assert.equal(env.events.find((e) => e.type === "giveup")?.reason, "request_too_large");
    await drained(pacer);
  });

  test("OpenAI's 429 for a request larger than the limit itself is returned at once, not retried", async (t) => {
    // 6,000 characters: 1,500 tokens to the server (4 a token) against a TPM of 1,000. The
    // pacer's estimate (2,000) is lowered to the bucket, and the request is sent once; the
    // server says "Limit 1000, Requested 1564": no wait can help.
    const env = await mockEnv(t, startOpenAIMock, { limits: { tpm: 1000 } });
    const pacer = env.make({ limits: { tpm: 1000 } });
    const body = { max_completion_tokens: 64, messages: [{ role: "user", content: "x".repeat(6000) }] };
    const res = await pacer.fetch(env.url, openaiInit({ body }));
    assert.equal(res.status, 429);
    assert.match((await res.json()).error.message, /^Request too large .* Limit 1000, Requested \d+\./);
    assert.equal(env.mock.log.length, 1);
    const giveup = env.events.find((e) => e.type === "giveup");
    assert.equal(giveup?.reason, "request_too_large");
    await drained(pacer);
  });

  test("outputReservation: none does not reserve max_tokens, so the same request fits", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ limits: { otpm: 8000 }, outputReservation: "none" });
    assert.equal((await pacer.fetch(env.url, anthropicInit({ body: { max_tokens: 10_000 } }))).status, 200);
  });

  test("a preset whose plan counts output as generated: max_tokens over the OTPM is sent, not refused", async (t) => {
    // The Start, Build and Scale plans meter output as it is generated (the presets' table):
    // the server does not refuse `max_tokens` above the OTPM, so neither does the pacer (its
    // reservation is fitted to the bucket). The tier plans reserve it up front: refused.
    const env = await mockEnv(t, startAnthropicMock);
    const body = { model: "claude-fable-5", max_tokens: 128_000 };
    for (const preset of ["anthropic:start:fable", "anthropic:start"]) {
      const pacer = env.make({ preset });
      const res = await pacer.fetch(env.url, anthropicInit({ body }));
      assert.equal(res.status, 200, preset);
      await res.text();
    }
    const tier = env.make({ preset: "anthropic:tier-1:sonnet" });
    await assert.rejects(
      tier.fetch(env.url, anthropicInit({ body: { max_tokens: 16_000 } })),
      (e) => e.code === "REQUEST_TOO_LARGE" && e.dimension === "outputTokens",
    );
  });

  test("a limit learned from headers is a limit too", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    // The caller counts its input: 40,000 for the long prompt.
    const estimate = ({ body }) => ({ input: JSON.stringify(body ?? "").includes("long") ? 40_000 : 10, output: 0 });
    const pacer = env.make({ estimate });
    await (await pacer.fetch(env.url, anthropicInit())).text();
    await drained(pacer);
    const long = { messages: [{ role: "user", content: "long" }] };
    await assert.rejects(
      pacer.fetch(env.url, anthropicInit({ body: long })),
      (e) => e.code === "REQUEST_TOO_LARGE" && e.dimension === "inputTokens" && e.capacity === 30_000,
    );
    assert.equal(env.mock.log.length, 1);
  });

  test("max_tokens over a limit, the plan's metering not known: sent once from a full bucket, and the server's answer teaches the key", async (t) => {
    // Anthropic's tiers reserve `max_tokens` up front and refuse one over the OTPM; its
    // Start, Build and Scale plans count output as generated and serve it. Without a preset
    // the pacer does not know which: refusing would fail calls a server serves.
    for (const outputMetering of ["reservation", "realtime"]) {
      const env = await mockEnv(t, startAnthropicMock, { outputMetering, limits: { otpm: 8_000 } });
      const pacer = env.make();
      await (await pacer.fetch(env.url, anthropicInit())).text();
      await drained(pacer);
      const big = () => pacer.fetch(env.url, anthropicInit({ body: { max_tokens: 9000 } }));
      const res = await big();
      if (outputMetering === "realtime") {
        assert.equal(res.status, 200, "served: output is counted as generated");
        await res.text();
        const again = await big();
        assert.equal(again.status, 200);
        await again.text();
        assert.equal(env.mock.log.length, 3);
      } else {
        assert.equal(res.status, 429, "the server's word, not the pacer's model");
        await res.text();
        assert.equal(env.mock.log.length, 3, "refused twice with room: larger than the limit");
        await assert.rejects(
          big(),
          (e) => e.code === "REQUEST_TOO_LARGE" && e.dimension === "outputTokens" && e.capacity === 8000,
        );
        assert.equal(env.mock.log.length, 3, "the next one is refused at once");
      }
      await drained(pacer);
    }
  });
});

describe("options", () => {
  const typeErrors = [
    ["limits", { limits: 5 }],
    ["limits.rpm", { limits: { rpm: "50" } }],
    ["limits.tpm", { limits: { tpm: true } }],
    ["limits.itpm", { limits: { itpm: {} } }],
    ["limits.otpm", { limits: { otpm: 10n } }],
    ["preset", { preset: 5 }],
    ["retry", { retry: "fast" }],
    ["retry.maxRetries", { retry: { maxRetries: "3" } }],
    ["retry.initialDelayMs", { retry: { initialDelayMs: "10" } }],
    ["retry.maxDelayMs", { retry: { maxDelayMs: [] } }],
    ["retry.multiplier", { retry: { multiplier: "2" } }],
    ["retry.jitter", { retry: { jitter: 1 } }],
    ["retry.maxRetryAfterMs", { retry: { maxRetryAfterMs: "1" } }],
    ["retry.retryOn", { retry: { retryOn: 429 } }],
    ["retry.retryOn", { retry: { retryOn: ["429"] } }],
    ["budget", { budget: true }],
    ["budget", { budget: "off" }],
    ["budget.ratio", { budget: { ratio: "0.1" } }],
    ["budget.maxTokens", { budget: { maxTokens: "10" } }],
    ["concurrency", { concurrency: "2" }],
    ["timeoutMs", { timeoutMs: "100" }],
    ["outputReservation", { outputReservation: true }],
    ["estimate", { estimate: "builtin" }],
    ["fetch", { fetch: {} }],
    ["clock", { clock: 5 }],
    ["clock.now", { clock: { now: 5, sleep() {} } }],
    ["clock.sleep", { clock: { now() {} } }],
    ["seed", { seed: "42" }],
    ["onEvent", { onEvent: true }],
  ];
  for (const [name, options] of typeErrors) {
    test(`a wrong type for ${name} is a TypeError naming \`${name}\``, () => {
      assert.throws(
        () => new Pacer(options),
        (e) => e instanceof TypeError && e.message.includes(`\`${name}\``),
      );
    });
  }

  const rangeErrors = [
    ["limits.rpm", { limits: { rpm: 0 } }],
    ["limits.rpm", { limits: { rpm: -1 } }],
    // Below 1 a bucket never holds one request: every call would be refused as too large.
    ["limits.rpm", { limits: { rpm: 0.5 } }],
    ["limits.models.haiku.otpm", { limits: { models: { haiku: { otpm: 0.9 } } } }],
    ["limits.tpm", { limits: { tpm: NaN } }],
    ["limits.itpm", { limits: { itpm: 1e13 } }],
    ["limits.otpm", { limits: { otpm: -5 } }],
    ["preset", { preset: "no-such-provider:tier-0" }],
    ["retry.maxRetries", { retry: { maxRetries: -1 } }],
    ["retry.maxRetries", { retry: { maxRetries: 1.5 } }],
    ["retry.maxRetries", { retry: { maxRetries: 101 } }],
    ["retry.initialDelayMs", { retry: { initialDelayMs: -1 } }],
    ["retry.initialDelayMs", { retry: { initialDelayMs: NaN } }],
    ["retry.maxDelayMs", { retry: { initialDelayMs: 1000, maxDelayMs: 500 } }],
    ["retry.multiplier", { retry: { multiplier: 0.5 } }],
    ["retry.jitter", { retry: { jitter: "wild" } }],
    ["retry.maxRetryAfterMs", { retry: { maxRetryAfterMs: -1 } }],
    ["retry.retryOn", { retry: { retryOn: [99] } }],
    ["retry.retryOn", { retry: { retryOn: [600] } }],
    ["retry.retryOn", { retry: { retryOn: [429.5] } }],
    ["budget.ratio", { budget: { ratio: -0.1 } }],
    ["budget.maxTokens", { budget: { maxTokens: 0 } }],
    ["concurrency", { concurrency: 0 }],
    ["concurrency", { concurrency: 1.5 }],
    ["concurrency", { concurrency: -Infinity }],
    ["concurrency", { concurrency: NaN }],
    ["timeoutMs", { timeoutMs: 0 }],
    ["timeoutMs", { timeoutMs: -5 }],
    ["timeoutMs", { timeoutMs: NaN }],
    ["outputReservation", { outputReservation: "all" }],
    ["outputReservation", { outputReservation: -1 }],
    ["seed", { seed: 1.5 }],
    ["seed", { seed: 2 ** 60 }],
  ];
  for (const [name, options] of rangeErrors) {
    test(`out of range ${name} ${inspect(options, { breakLength: Infinity })} is a RangeError naming \`${name}\``, () => {
      assert.throws(
        () => new Pacer(options),
        (e) => e instanceof RangeError && e.message.includes(`\`${name}\``),
      );
    });
  }

  test("option errors never use the Rust spelling", () => {
    for (const [, options] of [...typeErrors, ...rangeErrors]) {
      try {
        new Pacer(options);
      } catch (e) {
        assert.doesNotMatch(e.message.match(/`[^`]*`/)[0], /_/, e.message);
      }
    }
  });

  test("undefined and null mean the default; unknown keys throw; options may be omitted", () => {
    assert.throws(() => new Pacer({ somethingElse: 1 }), /unknown option "somethingElse"/);
    for (const options of [undefined, null, {}, { retry: null, limits: undefined, concurrency: null, budget: false }]) {
      const p = new Pacer(options);
      assertPlainStats(p.stats());
      p.close();
    }
    assert.throws(() => new Pacer("fast"), TypeError);
  });

  test("a throwing getter in the options propagates its own error", () => {
    const boom = new Error("getter");
    assert.throws(
      () =>
        new Pacer({
          get retry() {
            throw boom;
          },
        }),
      (e) => e === boom,
    );
  });
});

describe("stats() and onEvent", () => {
  test("stats are plain finite numbers that add up, and match what the server saw", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 1 }, 529, "reset", 503, 400, { status: 429, retryAfterMs: 250 }, "ok"]);
    const pacer = env.make({ seed: 9, retry: { initialDelayMs: 100, maxDelayMs: 400 } });
    const snapshots = [];
    const calls = Array.from({ length: 12 }, () =>
      pacer.fetch(env.url, anthropicInit({ headers: { "x-mock-output-tokens": "6" } })).then(async (r) => {
        snapshots.push(pacer.stats());
        await r.text();
        return r.status;
      }),
    );
    const statuses = await Promise.all(calls);
    await drained(pacer);
    const s = pacer.stats();
    for (const x of [...snapshots, s]) {
      assertPlainStats(x);
      assert.ok(x.queued + x.inFlight <= x.requests);
    }
    const m = env.mock.stats;
    assert.equal(s.requests, 12);
    assert.equal(statuses.filter((x) => x === 400).length, 1);
    assert.equal(statuses.filter((x) => x === 200).length, 11);
    assert.equal(s.attempts, m.requests, "every attempt reached the server");
    assert.equal(s.attempts, s.requests + s.retries, "first attempts + retries");
    assert.equal(s.retries, 5);
    assert.equal(s.rateLimited, m.rateLimited);
    assert.equal(s.rateLimited, 2);
    assert.equal(s.overloaded, m.overloaded);
    assert.equal(s.serverErrors, 1);
    assert.equal(s.networkErrors, m.resets);
    assert.equal(s.inputTokensUsed, m.inputTokens);
    assert.equal(s.outputTokensUsed, m.outputTokens);
    assert.equal(s.outputTokensUsed, 11 * 6);
    assert.equal(s.outputTokensReserved, s.attempts * 64, "max_tokens per attempt");
    assert.ok(s.inputTokensReserved >= s.inputTokensUsed);
    const retryWaits = env.events.filter((e) => e.type === "retry").reduce((a, e) => a + e.delayMs, 0);
    assert.ok(s.waitMs >= retryWaits, `waitMs ${s.waitMs} < retry delays ${retryWaits}`);
    assert.equal(s.queued, 0);
    assert.equal(s.inFlight, 0);
    // A snapshot is a copy, not a live view.
    const before = pacer.stats();
    await (await pacer.fetch(env.url, anthropicInit())).text();
    assert.equal(before.requests, 12);
  });

  test("the events of a retried call, in order", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    env.mock.script([{ status: 429, retryAfter: 1 }, "ok"]);
    const pacer = env.make({ seed: 4 });
    const res = await pacer.fetch(env.url, anthropicInit());
    await res.text();
    await drained(pacer);
    const mine = env.events.filter((e) => e.id === 1);
    for (const e of env.events) {
      // `status` and `latencyMs` once a response arrived, `usage` when settled with usage.
      const optional = ["latencyMs", "status", "usage"];
      assert.deepEqual(
        Object.keys(e)
          .filter((k) => !optional.includes(k))
          .sort(),
        ["at", "attempt", "delayMs", "id", "key", "model", "reason", "type"],
      );
      assert.equal(typeof e.reason, "string");
      assert.ok(Number.isFinite(e.delayMs) && e.delayMs >= 0);
      assert.ok(Number.isFinite(e.at));
    }
    const core = mine.filter((e) => e.type !== "limits" && e.type !== "wait");
    assert.deepEqual(
      core.map((e) => [e.type, e.attempt, e.reason]),
      [
        ["queued", 0, "submitted"],
        ["admitted", 1, "admitted"],
        ["retry", 1, "rate_limited"],
        ["admitted", 2, "admitted"],
        ["settled", 2, "usage"],
      ],
    );
    const [queued, first, retry, second, settled] = core;
    assert.equal(queued.at, env.clock.start);
    assert.equal(first.at, env.clock.start);
    assert.ok(retry.delayMs >= 1000 && retry.delayMs <= 1100);
    assert.equal(second.at, env.mock.log[1].at);
    assert.ok(second.at - retry.at >= retry.delayMs);
    assert.ok(settled.at >= second.at);
    assert.ok(
      mine.some((e) => e.type === "limits"),
      "the headers were learned",
    );
    for (let i = 1; i < mine.length; i++) assert.ok(mine[i].at >= mine[i - 1].at, "in time order");
  });

  test("a call that gives up ends with one giveup event; an exception in onEvent is ignored", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([503, 503]);
    const seen = [];
    const pacer = new Pacer({
      clock: env.clock,
      retry: { maxRetries: 1, jitter: "none", initialDelayMs: 10 },
      onEvent: (e) => {
        seen.push(`${e.type}:${e.reason}`);
        throw new Error("listener bug");
      },
    });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 503);
    assert.deepEqual(seen, [
      "queued:submitted",
      "admitted:admitted",
      "retry:status_503",
      "admitted:admitted",
      "giveup:max_retries",
    ]);
  });
});

describe("the estimate option", () => {
  test("gets the URL and the parsed JSON body; its numbers are what is reserved", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const seen = [];
    const pacer = env.make({
      estimate: (request) => {
        seen.push(request);
        return { input: 321, output: 45 };
      },
    });
    await (await pacer.fetch(env.url, anthropicInit({ body: { max_tokens: 99 } }))).text();
    await (await pacer.fetch(env.url, { ...anthropicInit(), body: "not json" })).text();
    await drained(pacer);
    assert.equal(seen.length, 2);
    assert.equal(seen[0].url, env.url);
    assert.equal(seen[0].body.max_tokens, 99);
    assert.equal(seen[0].body.messages[0].content, "Hello there");
    assert.equal(seen[1].body, undefined, "not JSON");
    assert.equal(pacer.stats().inputTokensReserved, 642);
    assert.equal(pacer.stats().outputTokensReserved, 90);
  });

  test("a bad return value rejects with a TypeError naming `estimate`; a throw rejects with its error", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    for (const bad of [
      null,
      5,
      { input: -1, output: 1 },
      { input: NaN, output: 0 },
      { input: 1, output: "2" },
      { input: Infinity, output: 0 },
      // A missing number is no 0: pacing would be off without a word.
      {},
      { input: 1 },
      { output: 1 },
      { input: undefined, output: 1 },
      // An async tokenizer's Promise is not awaited.
      Promise.resolve({ input: 1, output: 1 }),
    ]) {
      const pacer = env.make({ estimate: () => bad });
      await assert.rejects(
        pacer.fetch(env.url, anthropicInit()),
        (e) => e instanceof TypeError && e.message.includes("`estimate`"),
        JSON.stringify(bad),
      );
      assert.equal(pacer.stats().requests, 0);
    }
    const boom = new Error("estimator down");
    await assert.rejects(
      env
        .make({
          estimate: () => {
            throw boom;
          },
        })
        .fetch(env.url, anthropicInit()),
      (e) => e === boom,
    );
    assert.equal(env.mock.log.length, 0);
  });
});

describe("re-entrancy", () => {
  test("onEvent may call fetch, stats, limits and close: every call still settles once", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 1 }]);
    const inner = [];
    let pacer;
    pacer = new Pacer({
      clock: env.clock,
      onEvent: (e) => {
        pacer.stats();
        pacer.limits();
        if (e.id === 1 && e.type === "retry") inner.push(pacer.fetch(env.url, anthropicInit()));
        if (e.id === 2 && e.type === "admitted") pacer.close();
      },
    });
    const first = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(inner.length, 1);
    const second = await outcome(inner[0]);
    // The close came while call 2 was being sent (it finishes) and call 1 was backing off (it
    // gets its 429).
    assert.equal(first.ok, true);
    assert.equal(first.value.status, 429);
    assert.equal(second.ok, true);
    assert.equal(second.value.status, 200);
    await drained(pacer);
    await assert.rejects(pacer.fetch(env.url, anthropicInit()), (e) => e.code === "CLOSED");
  });

  test("a fetch option that calls back into the pacer works", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    let pacer;
    const snapshots = [];
    pacer = new Pacer({
      clock: env.clock,
      fetch: (input, init) => {
        snapshots.push(pacer.stats().inFlight);
        return globalThis.fetch(input, init);
      },
    });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 200);
    assert.deepEqual(snapshots, [1]);
  });
});

describe("priority", () => {
  test("queued calls go out highest priority first: withPriority(n), then the fetch option high/low", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ limits: { rpm: 1 }, concurrency: 1 });
    const urgent = pacer.withPriority(5);
    const calls = [
      pacer.fetch(env.url, anthropicInit()), // 1: goes at once (the bucket has one request)
      pacer.fetch(env.url, { ...anthropicInit(), priority: "low" }), // 2: -1
      urgent(env.url, anthropicInit()), // 3: 5
      pacer.fetch(env.url, { ...anthropicInit(), priority: "high" }), // 4: 1
      pacer.fetch(env.url, anthropicInit()), // 5: 0
      urgent(env.url, { ...anthropicInit(), priority: "low" }), // 6: 5 - 1
      urgent(env.url, anthropicInit()), // 7: 5
    ];
    const statuses = await Promise.all(calls.map((p) => p.then(async (r) => (await r.text(), r.status))));
    assert.deepEqual(statuses, Array(7).fill(200));
    const admitted = env.events.filter((e) => e.type === "admitted").map((e) => e.id);
    assert.deepEqual(admitted, [1, 3, 7, 6, 4, 5, 2]);
    assert.equal(env.mock.stats.rateLimited, 0, "one a minute, as configured");
    await drained(pacer);
  });

  test("withPriority rejects what is not an integer in range, naming priority", () => {
    const pacer = new Pacer();
    for (const [bad, Type] of [
      ["1", TypeError],
      [undefined, TypeError],
      [1.5, RangeError],
      [NaN, RangeError],
      [1e7, RangeError],
      [-1e7, RangeError],
    ]) {
      assert.throws(
        () => pacer.withPriority(/** @type {any} */ (bad)),
        (e) => e instanceof Type && /`priority`/.test(e.message),
        inspect(bad),
      );
    }
    assert.equal(typeof pacer.withPriority(-3), "function");
    pacer.close();
  });
});

describe("token counting", () => {
  test("a count_tokens request reserves no tokens and goes on a key of its own", async (t) => {
    // Anthropic meters token counting by requests alone, apart from messages; priced as a
    // prompt, three counts of a 13k-token prompt held a 30k ITPM for minutes.
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ limits: { itpm: 30_000 } });
    const prompt = "word ".repeat(40_000);
    const url = new URL("/v1/messages/count_tokens", env.url).href;
    for (let i = 0; i < 5; i++) {
      const res = await pacer.fetch(url, anthropicInit({ body: { messages: [{ role: "user", content: prompt }] } }));
      await res.arrayBuffer();
    }
    await drained(pacer);
    assert.equal(env.clock.elapsed, 0, "no wait");
    assert.equal(pacer.stats().inputTokensReserved, 0);
    assert.ok(
      pacer.limits().some((k) => k.model === "count_tokens"),
      JSON.stringify(pacer.limits().map((k) => k.model)),
    );
  });

  test("a batch API request reserves no tokens and goes on a key of its own", async (t) => {
    // A batch's requests are served later and metered apart from the model's limits; priced
    // as one prompt, a batch of 500 took the whole ITPM bucket from the key's own calls.
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ limits: { itpm: 30_000 } });
    const requests = Array.from({ length: 500 }, (_, i) => ({
      custom_id: `r${i}`,
      params: {
        model: "claude-sonnet-4-5",
        max_tokens: 1024,
        messages: [{ role: "user", content: "word ".repeat(200) }],
      },
    }));
    const batches = new URL("/v1/messages/batches", env.url).href;
    for (let i = 0; i < 3; i++) {
      const res = await pacer.fetch(batches, { ...anthropicInit(), body: JSON.stringify({ requests }) });
      await res.arrayBuffer();
    }
    await drained(pacer);
    assert.equal(env.clock.elapsed, 0, "no wait");
    assert.equal(pacer.stats().inputTokensReserved, 0);
    assert.equal(pacer.stats().outputTokensReserved, 0);
    assert.ok(
      pacer.limits().some((k) => k.model === "batches"),
      JSON.stringify(pacer.limits().map((k) => k.model)),
    );
  });
});

test("a document the estimate priced short: a 429 with room raises its input, and two with a full bucket give up as request_too_large", async () => {
  // A document costs a fixed 3,000 tokens in the estimate, whatever its size. A probe's PDF
  // went again and again with 3,000 reserved into 429s (7 in 3 minutes).
  const pdf = JSON.stringify({
    model: "claude-sonnet-4-5",
    max_tokens: 50,
    messages: [
      {
        role: "user",
        content: [
          { type: "document", source: { type: "base64", media_type: "application/pdf", data: "QUJD".repeat(1_000) } },
        ],
      },
    ],
  });
  const remaining = [5_000, 30_000, 30_000];
  const reserved = [];
  /** @type {Pacer} */
  let pacer;
  const fetch = async () => {
    reserved.push(pacer.stats().inputTokensReserved - reserved.reduce((a, b) => a + b, 0));
    return new Response('{"type":"error","error":{"type":"rate_limit_error","message":"x"}}', {
      status: 429,
      headers: {
        "content-type": "application/json",
        "retry-after": "1",
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": String(remaining[reserved.length - 1]),
      },
    });
  };
  /** @type {any[]} */
  const events = [];
  pacer = new Pacer({ clock: new VirtualClock(), fetch, onEvent: (e) => events.push(e) });
  const res = await pacer.fetch("https://api.anthropic.com/v1/messages", {
    method: "POST",
    headers: { "x-api-key": "k", "content-type": "application/json" },
    body: pdf,
  });
  assert.equal(res.status, 429);
  assert.equal(reserved.length, 3);
  assert.ok(reserved[0] >= 3_000 && reserved[0] < 3_100, `${reserved}`);
  assert.ok(reserved[1] > 5_000, `raised above the room the first 429 showed: ${reserved}`);
  assert.equal(reserved[2], 30_000, "then a whole bucket");
  assert.equal(events.at(-1).reason, "request_too_large");
});
