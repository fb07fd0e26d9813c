// Self-tests of the mock LLM API servers in tests/js/mock/: they must behave like the real
// providers (DESIGN.md section 1) before the library is tested against them.
// Run: node --test tests/js/mock.test.mjs

import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";

import {
  TokenBucket,
  RateLimiter,
  formatGoDuration,
  formatRfc3339,
  roundToThousand,
  retryAfterSeconds,
  countInputTokens,
  outputPieces,
  parseFault,
  redactHeaders,
  FAULT_KINDS,
} from "./mock/common.mjs";
import { startAnthropicMock, ANTHROPIC_EXPOSED_HEADERS } from "./mock/anthropic.mjs";
import { startOpenAIMock } from "./mock/openai.mjs";

// A fake clock, aligned to a whole second so RFC 3339 resets are easy to state.
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const clock = {
  t: T0,
  now: () => clock.t,
  set(ms) {
    clock.t = ms;
  },
  advance(ms) {
    clock.t += ms;
  },
};

const API_KEY = "sk-ant-secret-123";

/** POST JSON to an Anthropic mock. */
function anthropic(mock, body, headers = {}) {
  return fetch(`${mock.url}/v1/messages`, {
    method: "POST",
    headers: {
      "x-api-key": API_KEY,
      "anthropic-version": "2023-06-01",
      "content-type": "application/json",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** POST JSON to an OpenAI mock. */
function openai(mock, body, headers = {}) {
  return fetch(`${mock.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer sk-test", "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Runs `fn` with a mock of its own (closed afterwards), leaving the suite's mock as it is. */
async function withMock(start, options, fn) {
  const mock = await start({ now: clock.now, latencyMs: 0, eventDelayMs: 0, ...options });
  try {
    await fn(mock);
  } finally {
    await mock.close();
  }
}

const msg = (extra = {}) => ({
  model: "claude-test",
  max_tokens: 100,
  messages: [{ role: "user", content: "Hi" }],
  ...extra,
});
const chat = (extra = {}) => ({ model: "gpt-test", messages: [{ role: "user", content: "Hi" }], ...extra });

/**
 * Parses an SSE body into events `{ event, data }` (data JSON-parsed when it is JSON), checking
 * the framing: events separated by a blank line, each line `field: value`.
 */
function parseSSE(text) {
  assert.ok(text.endsWith("\n\n"), "an SSE body ends with a blank line");
  const events = [];
  for (const block of text.split("\n\n").slice(0, -1)) {
    const ev = { event: null, data: "" };
    for (const line of block.split("\n")) {
      const m = /^([a-z]+): (.*)$/.exec(line);
      assert.ok(m, `SSE line has the form "field: value": ${JSON.stringify(line)}`);
      if (m[1] === "event") ev.event = m[2];
      else if (m[1] === "data") ev.data += m[2];
      else assert.fail(`unexpected SSE field ${m[1]}`);
    }
    try {
      ev.data = JSON.parse(ev.data);
    } catch {
      /* [DONE] */
    }
    events.push(ev);
  }
  return events;
}

// ---------------------------------------------------------------------------------------------

describe("formatGoDuration matches Go time.Duration.String()", () => {
  // [milliseconds, Go's output]
  const table = [
    [0, "0s"],
    [1e-6, "1ns"],
    [0.000999, "999ns"],
    [0.001, "1µs"],
    [0.0015, "1.5µs"],
    [1, "1ms"],
    [1.5, "1.5ms"],
    [20, "20ms"],
    [999.999999, "999.999999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [8640, "8.64s"],
    [59_999, "59.999s"],
    [60_000, "1m0s"],
    [90_000, "1m30s"],
    [360_000, "6m0s"],
    [3_599_999, "59m59.999s"],
    [3_600_000, "1h0m0s"],
    [3_661_001, "1h1m1.001s"],
    [86_400_000, "24h0m0s"],
    [1000.000001, "1.000000001s"],
    [-1500, "-1.5s"],
    [-20, "-20ms"],
  ];
  for (const [ms, go] of table) {
    it(`${ms} ms -> ${go}`, () => assert.equal(formatGoDuration(ms), go));
  }
  it("rejects non-finite input", () => {
    assert.throws(() => formatGoDuration(NaN), RangeError);
    assert.throws(() => formatGoDuration(Infinity), RangeError);
  });
});

describe("header helpers", () => {
  it("formatRfc3339 writes whole seconds in UTC, rounding up", () => {
    assert.equal(formatRfc3339(T0), "2025-01-02T03:04:05Z");
    assert.equal(formatRfc3339(T0 + 1), "2025-01-02T03:04:06Z");
    assert.equal(formatRfc3339(T0 + 999), "2025-01-02T03:04:06Z");
    assert.equal(formatRfc3339(T0 + 1000), "2025-01-02T03:04:06Z");
    assert.match(formatRfc3339(Date.now()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
  it("roundToThousand rounds to the nearest thousand, never below 0", () => {
    assert.equal(roundToThousand(0), 0);
    assert.equal(roundToThousand(499), 0);
    assert.equal(roundToThousand(500), 1000);
    assert.equal(roundToThousand(1499), 1000);
    assert.equal(roundToThousand(29_501), 30_000);
    assert.equal(roundToThousand(-700), 0);
  });
  it("retryAfterSeconds is the ceiling, at least 1", () => {
    assert.equal(retryAfterSeconds(0), 1);
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(20_000), 20);
  });
  it("redactHeaders hides secrets only", () => {
    assert.deepEqual(redactHeaders({ "x-api-key": "k", Authorization: "Bearer k", "anthropic-version": "v" }), {
      "x-api-key": "[redacted]",
      Authorization: "[redacted]",
      "anthropic-version": "v",
    });
  });
});

describe("TokenBucket", () => {
  it("refills continuously at limit/60 per second, up to capacity", () => {
    const b = new TokenBucket(600, 0);
    b.take(0, 600);
    assert.equal(b.level(0), 0);
    assert.equal(b.level(100), 1);
    assert.equal(b.level(1000), 10);
    assert.equal(b.level(30_000), 300);
    assert.equal(b.level(120_000), 600);
  });
  it("waitMs: 0 when it fits, the refill time when not, Infinity above capacity", () => {
    const b = new TokenBucket(60, 0);
    b.take(0, 60);
    assert.equal(b.waitMs(0, 1), 1000);
    assert.equal(b.waitMs(500, 1), 500);
    assert.equal(b.waitMs(1000, 1), 0);
    assert.equal(b.waitMs(0, 61), Infinity);
  });
  it("may go into debt, paid back by the refill; fullAt; time never runs backwards", () => {
    const b = new TokenBucket(60, 10_000);
    b.take(10_000, 90);
    assert.equal(b.level(10_000), -30);
    assert.equal(b.waitMs(10_000, 1), 31_000);
    assert.equal(b.fullAt(10_000), 100_000);
    assert.equal(b.level(5_000), -30);
    b.give(10_000, 1000);
    assert.equal(b.level(10_000), 60);
  });
  it("rejects a non-positive capacity", () => {
    assert.throws(() => new TokenBucket(0, 0), RangeError);
  });
  it("RateLimiter.check reports every refusing dimension and the longest wait", () => {
    const l = new RateLimiter({ requests: 60, input: 600, output: null }, 0);
    assert.equal(l.bucket("output"), undefined, "null = unlimited");
    l.debit(0, { requests: { need: 1, take: 60 }, input: { need: 1, take: 300 } });
    const c = l.check(0, {
      requests: { need: 1, take: 1 },
      input: { need: 400, take: 400 },
      output: { need: 9e9, take: 9e9 },
    });
    assert.equal(c.ok, false);
    assert.deepEqual(c.limitedBy, ["requests", "input"]);
    assert.equal(c.waitMs, 10_000); // input: 100 more tokens at 10/s; requests: 1 s
    assert.deepEqual(c.tooLarge, []);
  });
});

describe("token counting and output text", () => {
  it("counts ceil(chars/4) of system and message content text", () => {
    assert.equal(countInputTokens({ messages: [{ role: "user", content: "abcde" }] }), 2);
    assert.equal(
      countInputTokens({
        system: [{ type: "text", text: "abcd" }],
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "abcd" },
              { type: "image", source: { data: "x".repeat(999) } },
            ],
          },
          { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "f", input: {} }] },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "abcd" }] }],
          },
        ],
      }),
      3,
    );
    assert.equal(countInputTokens({ system: "abc", messages: [{ role: "user", content: "a" }] }), 1);
  });
  it("outputPieces covers exactly the tokens in at most n pieces", () => {
    for (const [tokens, n] of [
      [16, 3],
      [1, 3],
      [2, 5],
      [100, 7],
    ]) {
      const pieces = outputPieces(tokens, n);
      assert.equal(
        pieces.reduce((s, p) => s + p.tokens, 0),
        tokens,
      );
      assert.ok(pieces.length <= n && pieces.every((p) => p.tokens >= 1));
      assert.equal(
        pieces
          .map((p) => p.text)
          .join("")
          .split(" ").length,
        tokens,
        "one word per token",
      );
    }
    assert.deepEqual(outputPieces(0, 3), []);
  });
});

describe("parseFault", () => {
  it("parses the header syntax", () => {
    const f = parseFault("429; retry-after=2; retry-after-ms=1500; should-retry=false");
    assert.equal(f.kind, "rate-limit");
    assert.equal(f.status, 429);
    assert.equal(f.retryAfter, "2");
    assert.equal(f.retryAfterMs, "1500");
    assert.equal(f.shouldRetry, "false");
    assert.equal(parseFault("529").kind, "overloaded");
    assert.equal(parseFault("503").kind, "unavailable");
    assert.equal(parseFault("502").kind, "error");
    assert.equal(parseFault("502").status, 502);
    assert.equal(parseFault("stall; ms=50").ms, 50);
    assert.equal(parseFault("stall").ms, null);
    assert.equal(parseFault("stream-error; after=1").afterEvents, 1);
    assert.equal(parseFault("ok; usage=missing; ratelimit-headers=malformed").rateLimitHeaders, "malformed");
    assert.equal(parseFault("bad-usage").usage, "malformed");
    assert.equal(parseFault("no-headers").rateLimitHeaders, "missing");
    assert.equal(parseFault("429").retryAfter, null, "no hint unless asked");
  });
  it("parses objects, numbers, JSON and null", () => {
    assert.equal(parseFault({ status: 429, retryAfter: 2 }).retryAfter, "2");
    assert.equal(parseFault({ kind: "spend-limit" }).status, 429);
    assert.equal(parseFault({ kind: "529" }).kind, "overloaded");
    assert.equal(parseFault(500).kind, "server-error");
    assert.equal(parseFault('{"status":429,"retryAfter":"soon"}').retryAfter, "soon");
    assert.equal(parseFault(null).kind, "ok");
    assert.equal(parseFault({ kind: "ok", shouldRetry: true }).shouldRetry, "true");
  });
  it("rejects unknown kinds, parameters and values", () => {
    assert.throws(() => parseFault("explode"), TypeError);
    assert.throws(() => parseFault("429; colour=red"), TypeError);
    assert.throws(() => parseFault("429; retry-after"), TypeError);
    assert.throws(() => parseFault({ kind: "ok", usage: "weird" }), TypeError);
    assert.throws(() => parseFault({ status: 99 }), TypeError);
  });
  it("knows every documented kind", () => {
    for (const k of FAULT_KINDS) assert.equal(parseFault(k).kind, k);
  });
});

// ---------------------------------------------------------------------------------------------

describe("Anthropic mock", () => {
  let mock;
  before(async () => {
    mock = await startAnthropicMock({
      now: clock.now,
      latencyMs: 0,
      eventDelayMs: 0,
      limits: { rpm: 60, itpm: 60_000, otpm: 6_000 },
    });
  });
  after(() => mock.close());
  beforeEach(() => {
    clock.set(T0);
    mock.setLimits({ rpm: 60, itpm: 60_000, otpm: 6_000 });
    mock.reset();
  });

  describe("requests and validation", () => {
    it("401 authentication_error without a key; the key arrives as sent", async () => {
      const r = await fetch(`${mock.url}/v1/messages`, {
        method: "POST",
        headers: { "anthropic-version": "2023-06-01" },
        body: JSON.stringify(msg()),
      });
      assert.equal(r.status, 401);
      const body = await r.json();
      assert.equal(body.type, "error");
      assert.equal(body.error.type, "authentication_error");
      assert.equal(body.request_id, r.headers.get("request-id"));
      await anthropic(mock, msg()).then((x) => x.arrayBuffer());
      assert.equal(mock.log[1].headers["x-api-key"], API_KEY);
      assert.equal(mock.log[0].admitted, false);
      assert.equal(mock.log[0].outcome, "unauthorized");
    });
    it("accepts Authorization: Bearer (what @anthropic-ai/sdk 1.x sends for apiKey)", async () => {
      const r = await fetch(`${mock.url}/v1/messages`, {
        method: "POST",
        headers: { authorization: "Bearer sk-ant-x", "anthropic-version": "2023-06-01" },
        body: JSON.stringify(msg()),
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    });
    it("400 without anthropic-version, on bad JSON and on missing fields; nothing debited", async () => {
      const cases = [
        [msg(), { "anthropic-version": "" }],
        ["{not json", {}],
        [{ model: "m", messages: [{ role: "user", content: "x" }] }, {}],
        [{ model: "m", max_tokens: 0, messages: [{ role: "user", content: "x" }] }, {}],
        [{ max_tokens: 5, messages: [{ role: "user", content: "x" }] }, {}],
        [{ model: "m", max_tokens: 5 }, {}],
        [{ model: "m", max_tokens: 5, messages: [] }, {}],
        [msg(), { "x-mock-input-tokens": "many" }],
        [msg(), { "x-mock-fault": "explode" }],
      ];
      for (const [body, headers] of cases) {
        const r = await anthropic(mock, body, headers);
        assert.equal(r.status, 400, JSON.stringify(body));
        const json = await r.json();
        assert.equal(json.error.type, "invalid_request_error");
        assert.ok(json.error.message.length > 0);
      }
      assert.deepEqual(mock.levels(), { requests: 60, input: 60_000, output: 6_000 });
      assert.equal(mock.stats.admitted, 0);
    });
    it("404 not_found_error on another path", async () => {
      const r = await fetch(`${mock.url}/v1/complete`, { method: "POST", body: "{}" });
      assert.equal(r.status, 404);
      assert.equal((await r.json()).error.type, "not_found_error");
    });
  });

  describe("responses and headers", () => {
    it("a JSON message with usage and every rate-limit header", async () => {
      const r = await anthropic(mock, msg({ max_tokens: 10 }), {
        "x-mock-input-tokens": "1200",
        "x-mock-output-tokens": "50",
      });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.equal(body.type, "message");
      assert.equal(body.role, "assistant");
      assert.equal(body.model, "claude-test");
      assert.equal(body.stop_reason, "max_tokens", "output was cut at max_tokens");
      assert.equal(body.content[0].type, "text");
      assert.equal(body.content[0].text.split(" ").length, 10);
      assert.deepEqual(
        {
          input_tokens: body.usage.input_tokens,
          output_tokens: body.usage.output_tokens,
          cache_creation_input_tokens: body.usage.cache_creation_input_tokens,
          cache_read_input_tokens: body.usage.cache_read_input_tokens,
        },
        { input_tokens: 1200, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      );
      const h = r.headers;
      assert.equal(h.get("date"), new Date(T0).toUTCString(), "date from the server clock");
      assert.match(h.get("request-id"), /^req_/);
      for (const d of ["requests", "tokens", "input-tokens", "output-tokens"]) {
        for (const f of ["limit", "remaining", "reset"]) assert.ok(h.has(`anthropic-ratelimit-${d}-${f}`), `${d}-${f}`);
      }
      assert.equal(h.get("anthropic-ratelimit-requests-limit"), "60");
      assert.equal(h.get("anthropic-ratelimit-requests-remaining"), "59");
      // One request of 60/min refills in 1 s.
      assert.equal(h.get("anthropic-ratelimit-requests-reset"), "2025-01-02T03:04:06Z");
      assert.equal(h.get("anthropic-ratelimit-input-tokens-remaining"), "59000", "58 800 rounds to 59 000");
      // 1 200 tokens of 60 000/min refill in 1.2 s: reset rounded up to the second.
      assert.equal(h.get("anthropic-ratelimit-input-tokens-reset"), "2025-01-02T03:04:07Z");
      // Output: max_tokens reserved, then corrected to the 10 generated.
      assert.equal(h.get("anthropic-ratelimit-output-tokens-remaining"), "6000", "5 990 rounds to 6 000");
      assert.equal(h.get("anthropic-ratelimit-output-tokens-reset"), "2025-01-02T03:04:06Z");
      assert.equal(h.get("access-control-allow-origin"), "*");
      const exposed = h.get("access-control-expose-headers").split(", ");
      assert.deepEqual(exposed, [...ANTHROPIC_EXPOSED_HEADERS]);
      assert.ok(exposed.includes("retry-after") && exposed.includes("anthropic-ratelimit-tokens-reset"));
    });
    it("expose=none leaves out access-control-expose-headers (a browser sees no rate-limit header)", async () => {
      const r = await anthropic(mock, msg(), { "x-mock-fault": "ok; expose=none" });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("access-control-allow-origin"), "*");
      assert.equal(r.headers.get("access-control-expose-headers"), null);
      assert.ok(r.headers.has("anthropic-ratelimit-requests-limit"), "still sent, only not exposed");
      await r.arrayBuffer();
      assert.equal(parseFault("ok; expose=none").expose, "none");
      assert.equal(parseFault("ok").expose, "all");
      assert.throws(() => parseFault("ok; expose=some"), TypeError);
    });
    it("token remaining is rounded to the nearest thousand; tokens-* is the most restrictive", async () => {
      mock.setLimits({ rpm: 60, itpm: 10_000, otpm: 20_000 });
      let r = await anthropic(mock, msg(), { "x-mock-input-tokens": "1499" });
      assert.equal(r.headers.get("anthropic-ratelimit-input-tokens-remaining"), "9000"); // 8 501
      assert.equal(r.headers.get("anthropic-ratelimit-tokens-limit"), "10000", "input has less left");
      assert.equal(r.headers.get("anthropic-ratelimit-tokens-remaining"), "9000");
      await r.arrayBuffer();
      mock.reset();
      r = await anthropic(mock, msg(), { "x-mock-input-tokens": "1501" });
      assert.equal(r.headers.get("anthropic-ratelimit-input-tokens-remaining"), "8000"); // 8 499
      await r.arrayBuffer();
      mock.setLevels({ output: 3_000 });
      r = await anthropic(mock, msg({ max_tokens: 1 }), { "x-mock-input-tokens": "1" });
      assert.equal(r.headers.get("anthropic-ratelimit-tokens-limit"), "20000", "now output has less left");
      assert.equal(r.headers.get("anthropic-ratelimit-tokens-remaining"), "3000");
      assert.equal(
        r.headers.get("anthropic-ratelimit-tokens-reset"),
        r.headers.get("anthropic-ratelimit-output-tokens-reset"),
      );
      await r.arrayBuffer();
    });
    it("a dimension left out of limits is unlimited and has no headers", async () => {
      mock.setLimits({ itpm: null, otpm: null });
      const r = await anthropic(mock, msg(), { "x-mock-input-tokens": "1000000" });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("anthropic-ratelimit-input-tokens-limit"), null);
      assert.equal(r.headers.get("anthropic-ratelimit-tokens-limit"), null);
      assert.equal(r.headers.get("anthropic-ratelimit-requests-limit"), "60");
      await r.arrayBuffer();
    });
    it("a stream's head carries the figures of its admission with streamHeadFigures: 'admission'", async () => {
      // A stream admitted first, its head 150 ms later; meanwhile a JSON request is admitted
      // and answered. The head's figures: as they stood at the stream's admission (59
      // requests left), or as they stand when the head is written (58).
      for (const [mode, remaining] of [
        ["admission", "59"],
        ["head", "58"],
      ]) {
        await withMock(
          startAnthropicMock,
          { streamHeadFigures: mode, limits: { rpm: 60, itpm: 60_000, otpm: 6_000 } },
          async (m) => {
            const stream = anthropic(m, msg({ stream: true }), { "x-mock-latency-ms": "150" });
            await new Promise((r) => setTimeout(r, 50));
            await anthropic(m, msg()).then((x) => x.arrayBuffer());
            const r = await stream;
            assert.equal(r.headers.get("anthropic-ratelimit-requests-remaining"), remaining, mode);
            await r.arrayBuffer();
          },
        );
      }
      await assert.rejects(startAnthropicMock({ streamHeadFigures: "later" }), /streamHeadFigures/);
    });
    it("streams SSE: message_start, content blocks, message_delta with the final usage, message_stop", async () => {
      const r = await anthropic(mock, msg({ stream: true }), {
        "x-mock-input-tokens": "42",
        "x-mock-output-tokens": "7",
      });
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type"), /^text\/event-stream/);
      assert.equal(r.headers.get("anthropic-ratelimit-requests-remaining"), "59");
      const events = parseSSE(await r.text());
      for (const e of events) assert.equal(e.data.type, e.event, "data.type matches the event name");
      const names = events.map((e) => e.event);
      assert.deepEqual(names.slice(0, 3), ["message_start", "content_block_start", "ping"]);
      assert.deepEqual(names.slice(-3), ["content_block_stop", "message_delta", "message_stop"]);
      const deltas = events.filter((e) => e.event === "content_block_delta");
      assert.equal(deltas.length, 3);
      assert.equal(
        deltas
          .map((d) => d.data.delta.text)
          .join("")
          .split(" ").length,
        7,
      );
      const start = events[0].data.message.usage;
      assert.equal(start.input_tokens, 42);
      assert.equal(start.output_tokens, 1);
      const md = events.find((e) => e.event === "message_delta").data;
      assert.equal(md.usage.output_tokens, 7, "cumulative final");
      assert.equal(md.delta.stop_reason, "end_turn");
      assert.deepEqual(mock.log[0].usage, { input: 42, output: 7 });
    });
    it("answers CORS preflights", async () => {
      const r = await fetch(`${mock.url}/v1/messages`, {
        method: "OPTIONS",
        headers: {
          origin: "http://example.test",
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-api-key, anthropic-version, content-type",
        },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get("access-control-allow-origin"), "*");
      assert.match(r.headers.get("access-control-allow-methods"), /POST/);
      assert.equal(r.headers.get("access-control-allow-headers"), "x-api-key, anthropic-version, content-type");
      assert.equal(mock.stats.preflights, 1);
      assert.equal(mock.stats.requests, 0, "preflights are not requests");
    });
  });

  describe("rate limiting (fake clock)", () => {
    it("RPM: refused with retry-after, nothing debited, admitted again as the bucket refills", async () => {
      mock.setLimits({ rpm: 3, itpm: null, otpm: null });
      for (let i = 0; i < 3; i++)
        assert.equal((await anthropic(mock, msg()).then(async (r) => (await r.arrayBuffer(), r))).status, 200);
      let r = await anthropic(mock, msg());
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "20", "3/min: one request every 20 s");
      const body = await r.json();
      assert.deepEqual(Object.keys(body), ["type", "error", "request_id"]);
      assert.equal(body.type, "error");
      assert.equal(body.error.type, "rate_limit_error");
      assert.match(body.error.message, /3 requests per minute/);
      assert.equal(r.headers.get("anthropic-ratelimit-requests-remaining"), "0");
      assert.equal(r.headers.get("anthropic-ratelimit-requests-reset"), "2025-01-02T03:05:05Z");
      assert.equal(mock.levels().requests, 0, "the 429 debited nothing");
      // Continuous refill: half-way, half a request: still refused, with the rest of the wait.
      clock.advance(10_000);
      r = await anthropic(mock, msg());
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "10");
      await r.arrayBuffer();
      clock.advance(9_999);
      r = await anthropic(mock, msg());
      assert.equal(r.headers.get("retry-after"), "1", "1 ms left rounds up to 1 s");
      await r.arrayBuffer();
      clock.advance(1);
      r = await anthropic(mock, msg());
      assert.equal(r.status, 200, "exactly at the retry time");
      await r.arrayBuffer();
      assert.equal(mock.stats.limited, 3);
      assert.deepEqual(mock.stats.limitedBy, { requests: 3 });
      assert.equal(mock.stats.rateLimited, 3);
      assert.deepEqual(mock.violations(), []);
      assert.deepEqual(
        mock.log.map((e) => [e.status, e.admitted, e.outcome]),
        [
          [200, true, "ok"],
          [200, true, "ok"],
          [200, true, "ok"],
          [429, false, "limited"],
          [429, false, "limited"],
          [429, false, "limited"],
          [200, true, "ok"],
        ],
      );
      assert.equal(mock.log[3].retryAfter, 20);
    });
    it("ITPM: counts input + cache creation, not cache reads; retry-after from the input refill", async () => {
      mock.setLimits({ rpm: null, itpm: 1_000, otpm: null });
      let r = await anthropic(mock, msg(), {
        "x-mock-input-tokens": "300",
        "x-mock-cache-creation-tokens": "300",
        "x-mock-cache-read-tokens": "5000",
      });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.equal(body.usage.cache_read_input_tokens, 5000);
      assert.equal(body.usage.cache_creation_input_tokens, 300);
      assert.equal(mock.levels().input, 400);
      r = await anthropic(mock, msg(), { "x-mock-input-tokens": "600" });
      assert.equal(r.status, 429);
      // 200 tokens short at 1000/60 per s = 12 s.
      assert.equal(r.headers.get("retry-after"), "12");
      assert.match((await r.json()).error.message, /1,000 input tokens per minute/);
      assert.deepEqual(mock.log[1].limitedBy, ["input"]);
      clock.advance(12_000);
      r = await anthropic(mock, msg(), { "x-mock-input-tokens": "600" });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    });
    it("input tokens counted from the body text by default: ceil(chars / 4)", async () => {
      mock.setLimits({ rpm: null, itpm: 1_000, otpm: null });
      const r = await anthropic(
        mock,
        msg({ system: "x".repeat(40), messages: [{ role: "user", content: "y".repeat(81) }] }),
      );
      assert.equal((await r.json()).usage.input_tokens, 31);
      assert.equal(mock.levels().input, 969);
    });
    it("OTPM by reservation: max_tokens held during the response, corrected at the end", () =>
      withMock(startAnthropicMock, { eventDelayMs: 20, limits: { otpm: 1_000 } }, async (mock) => {
        const r = await anthropic(mock, msg({ stream: true, max_tokens: 800 }), { "x-mock-output-tokens": "100" });
        const reader = r.body.getReader();
        await reader.read(); // the stream is under way
        assert.equal(mock.levels().output, 200, "max_tokens reserved");
        const r2 = await anthropic(mock, msg({ max_tokens: 300 }));
        assert.equal(r2.status, 429, "the reservation counts against others");
        assert.equal(r2.headers.get("retry-after"), "6"); // 100 short at 1000/60 per s
        await r2.arrayBuffer();
        while (!(await reader.read()).done);
        await mock.idle();
        assert.equal(mock.levels().output, 900, "corrected to the 100 generated");
        const r3 = await anthropic(mock, msg({ max_tokens: 900 }), { "x-mock-output-tokens": "900" });
        assert.equal(r3.status, 200);
        await r3.arrayBuffer();
        assert.equal(mock.levels().output, 0);
      }));
    it("OTPM in real time: admission needs one token, output debited as generated", () =>
      withMock(startAnthropicMock, { outputMetering: "realtime", limits: { otpm: 1_000 } }, async (mock) => {
        let r = await anthropic(mock, msg({ max_tokens: 5_000 }), { "x-mock-output-tokens": "1200" });
        assert.equal(r.status, 200, "max_tokens above the limit is fine when metered in real time");
        await r.arrayBuffer();
        assert.equal(mock.levels().output, -200, "in debt");
        r = await anthropic(mock, msg());
        assert.equal(r.status, 429);
        assert.equal(r.headers.get("retry-after"), "13"); // 201 tokens at 1000/60 per s = 12.06 s
        assert.equal(r.headers.get("anthropic-ratelimit-output-tokens-remaining"), "0");
        await r.arrayBuffer();
      }));
    it("a request that can never fit: 429 naming the limit", async () => {
      mock.setLimits({ rpm: null, itpm: null, otpm: 1_000 });
      const r = await anthropic(mock, msg({ max_tokens: 1_001 }));
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "1");
      assert.match((await r.json()).error.message, /needs 1001/);
      assert.deepEqual(mock.levels(), { output: 1_000 });
    });
    it("enforce: false admits over the limit and lists the violations", () =>
      withMock(startAnthropicMock, { enforce: false, limits: { rpm: 2 } }, async (mock) => {
        for (let i = 0; i < 3; i++) {
          const r = await anthropic(mock, msg());
          assert.equal(r.status, 200);
          await r.arrayBuffer();
        }
        assert.equal(mock.stats.limited, 0);
        assert.deepEqual(mock.violations(), [{ id: 3, at: T0, dimension: "requests", level: 0, need: 1 }]);
        assert.equal(mock.levels().requests, -1);
      }));
  });

  describe("faults", () => {
    /** Sends one request with an x-mock-fault header. */
    const withFault = (fault, extra = {}) => anthropic(mock, msg(extra), { "x-mock-fault": fault });

    it("429 with retry-after, retry-after-ms, no hint, and garbage hints; nothing debited", async () => {
      const cases = [
        ["429; retry-after=2", "2", null],
        ["429; retry-after-ms=1500", null, "1500"],
        ["429", null, null],
        ["429; retry-after=soon", "soon", null],
        ["429; retry-after=-5", "-5", null],
        ["429; retry-after=NaN", "NaN", null],
        ["429; retry-after=1e12", "1e12", null],
        ["429; retry-after=Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT", null],
      ];
      for (const [fault, ra, ram] of cases) {
        const r = await withFault(fault);
        assert.equal(r.status, 429, fault);
        assert.equal(r.headers.get("retry-after"), ra, fault);
        assert.equal(r.headers.get("retry-after-ms"), ram, fault);
        assert.equal((await r.json()).error.type, "rate_limit_error");
        assert.ok(r.headers.has("anthropic-ratelimit-requests-limit"), "rate-limit headers on injected errors too");
      }
      assert.deepEqual(mock.levels(), { requests: 60, input: 60_000, output: 6_000 });
      assert.equal(mock.stats.limited, 0, "injected 429s are not the buckets refusing");
      assert.equal(mock.stats.rateLimited, cases.length);
      assert.equal(mock.stats.faults, cases.length);
    });
    it("529 overloaded_error, 500 and 503 api_error, any status", async () => {
      for (const [fault, status, type] of [
        ["529", 529, "overloaded_error"],
        ["overloaded", 529, "overloaded_error"],
        ["500", 500, "api_error"],
        ["503", 503, "api_error"],
        ["504", 504, "timeout_error"],
        ["400", 400, "invalid_request_error"],
      ]) {
        const r = await withFault(fault);
        assert.equal(r.status, status);
        const body = await r.json();
        assert.equal(body.type, "error");
        assert.equal(body.error.type, type, fault);
      }
      assert.equal(mock.stats.overloaded, 2);
      assert.deepEqual(mock.stats.byStatus, { 529: 2, 500: 1, 503: 1, 504: 1, 400: 1 });
    });
    it("x-should-retry on any status", async () => {
      let r = await withFault("529; should-retry=false");
      assert.equal(r.headers.get("x-should-retry"), "false");
      await r.arrayBuffer();
      r = await withFault("400; should-retry=true");
      assert.equal(r.headers.get("x-should-retry"), "true");
      await r.arrayBuffer();
      r = await withFault("ok; should-retry=true");
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-should-retry"), "true");
      await r.arrayBuffer();
    });
    it("the spend-limit 429: details.error_code, no retry-after", async () => {
      const r = await withFault("spend-limit");
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), null);
      const body = await r.json();
      assert.equal(body.error.type, "rate_limit_error");
      assert.deepEqual(body.error.details, { error_code: "enforced_spend_limit_reached" });
    });
    it("malformed and missing rate-limit headers, also on a bucket 429", async () => {
      let r = await withFault("bad-headers");
      assert.equal(r.status, 200);
      const garbage = [...r.headers].filter(([k]) => k.startsWith("anthropic-ratelimit-"));
      assert.equal(garbage.length, 12);
      const wellFormedDate = (v) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v) && !Number.isNaN(Date.parse(v));
      for (const [k, v] of garbage) assert.ok(!/^\d+$/.test(v) && !wellFormedDate(v), `${k}: ${v}`);
      await r.arrayBuffer();
      r = await withFault("no-headers");
      assert.equal(r.status, 200);
      assert.deepEqual(
        [...r.headers.keys()].filter((k) => k.startsWith("anthropic-ratelimit-")),
        [],
      );
      assert.ok(r.headers.has("request-id"));
      await r.arrayBuffer();
      mock.setLevels({ requests: 0 });
      r = await withFault("no-headers; retry-after=garbage");
      assert.equal(r.status, 429, "the buckets still refuse");
      assert.equal(r.headers.get("retry-after"), "garbage", "the fault hint replaces the computed one");
      assert.deepEqual(
        [...r.headers.keys()].filter((k) => k.startsWith("anthropic-ratelimit-")),
        [],
      );
      await r.arrayBuffer();
      assert.equal(mock.stats.limited, 1);
    });
    it("connection reset: fetch rejects, nothing debited", async () => {
      await assert.rejects(withFault("reset"), TypeError);
      assert.equal(mock.log[0].outcome, "reset");
      assert.equal(mock.log[0].status, null);
      assert.equal(mock.stats.resets, 1);
      assert.deepEqual(mock.levels(), { requests: 60, input: 60_000, output: 6_000 });
      await mock.idle();
      assert.equal(mock.stats.inFlight, 0);
    });
    it("stall: no answer until the client aborts", () =>
      withMock(startAnthropicMock, {}, async (mock) => {
        const ac = new AbortController();
        const p = anthropic(mock, msg(), { "x-mock-fault": "stall" });
        const pending = fetch(`${mock.url}/v1/messages`, {
          method: "POST",
          signal: ac.signal,
          headers: { "x-api-key": "k", "anthropic-version": "v", "x-mock-fault": "stall" },
          body: JSON.stringify(msg()),
        });
        while (mock.log.filter((e) => e.outcome === "stalled").length < 2) await new Promise((r) => setTimeout(r, 1));
        assert.equal(mock.stats.inFlight, 2);
        assert.equal(mock.stats.maxInFlight, 2);
        ac.abort();
        await assert.rejects(pending, { name: "AbortError" });
        while (mock.stats.inFlight > 1) await new Promise((r) => setTimeout(r, 1));
        assert.equal(mock.stats.aborted, 0, "a stall keeps its outcome");
        const cut = assert.rejects(p, TypeError);
        await mock.close(); // cuts the other stalled request
        await cut;
        assert.equal(mock.stats.inFlight, 0);
        assert.deepEqual(
          mock.log.map((e) => e.outcome),
          ["stalled", "stalled"],
        );
        assert.equal(mock.stats.admitted, 0);
      }));
    it("body-stall: an error head and half its body, then nothing until the client goes away", () =>
      withMock(startAnthropicMock, {}, async (mock) => {
        assert.equal(parseFault("429; body-stall=true").bodyStall, true);
        assert.equal(parseFault("429").bodyStall, false);
        const r = await anthropic(mock, msg(), { "x-mock-fault": "429; retry-after=1; body-stall=true" });
        assert.equal(r.status, 429);
        assert.equal(r.headers.get("retry-after"), "1");
        const reader = r.body.getReader();
        const first = await reader.read();
        assert.ok(first.value.length > 0);
        const next = reader.read();
        const late = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve("pending"), 5))]);
        assert.equal(late, "pending", "the body never ends");
        assert.equal(mock.log[0].outcome, "stalled");
        await reader.cancel();
        while (mock.stats.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }));
    it("stall for N ms, then a normal answer", async () => {
      const r = await withFault("stall; ms=5");
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    });
    it("stream cut mid-way: the body read rejects; output settled to what was sent", async () => {
      const r = await withFault("stream-error; after=4", { stream: true, max_tokens: 100 });
      assert.equal(r.status, 200);
      await assert.rejects(r.text(), TypeError);
      await mock.idle();
      assert.equal(mock.log[0].outcome, "stream-error");
      assert.equal(mock.log[0].admitted, true);
      // Events 0-3: message_start, content_block_start, ping, first delta (16 tokens / 3 -> 5).
      assert.deepEqual(mock.log[0].usage, { input: 1, output: 5 });
      assert.equal(mock.levels().output, 6_000 - 5);
    });
    it("a cut after the last event still fails the body read", async () => {
      const r = await withFault("stream-error; after=99", { stream: true });
      await assert.rejects(r.text(), TypeError);
    });
    it("a non-streaming body cut half-way", async () => {
      const r = await withFault("stream-error");
      assert.equal(r.status, 200);
      await assert.rejects(r.json());
    });
    it("an SSE error event mid-stream", async () => {
      const r = await withFault("sse-error; after=3", { stream: true });
      const events = parseSSE(await r.text());
      assert.deepEqual(
        events.map((e) => e.event),
        ["message_start", "content_block_start", "ping", "error"],
      );
      assert.equal(events[3].data.error.type, "overloaded_error");
    });
    it("malformed and missing usage (JSON and stream)", async () => {
      let body = await (await withFault("bad-usage")).json();
      assert.equal(typeof body.usage.input_tokens, "string");
      assert.ok(body.usage.output_tokens < 0);
      body = await (await withFault("no-usage")).json();
      assert.equal(body.usage, undefined);
      assert.equal(body.type, "message");
      let events = parseSSE(await (await withFault("no-usage", { stream: true })).text());
      assert.equal(events[0].data.message.usage, undefined);
      assert.equal(events.find((e) => e.event === "message_delta").data.usage, undefined);
      events = parseSSE(await (await withFault("bad-usage", { stream: true })).text());
      assert.equal(events.find((e) => e.event === "message_delta").data.usage.output_tokens, "lots");
    });
    it("error body override (a proxy HTML page)", async () => {
      const r = await withFault(
        JSON.stringify({ status: 502, body: "<html>Bad Gateway</html>", headers: { "content-type": "text/html" } }),
      );
      assert.equal(r.status, 502);
      assert.equal(r.headers.get("content-type"), "text/html");
      assert.equal(await r.text(), "<html>Bad Gateway</html>");
    });
    it("script: consumed in order by the next requests; a header fault consumes none", async () => {
      assert.equal(mock.script([{ status: 529 }, { status: 429, retryAfter: 2 }, "ok", "spend-limit"]), 4);
      const statuses = [];
      const r1 = await anthropic(mock, msg());
      statuses.push(r1.status);
      await r1.arrayBuffer();
      const r2 = await withFault("500");
      statuses.push(r2.status);
      await r2.arrayBuffer();
      for (let i = 0; i < 4; i++) {
        const r = await anthropic(mock, msg());
        statuses.push(r.status);
        if (i === 0) assert.equal(r.headers.get("retry-after"), "2");
        await r.arrayBuffer();
      }
      assert.deepEqual(statuses, [529, 500, 429, 200, 429, 200]);
      assert.deepEqual(
        mock.log.map((e) => e.faultSource),
        ["script", "header", "script", "script", "script", null],
      );
      assert.equal(mock.pending(), 0);
      assert.equal(mock.stats.admitted, 2);
    });
  });

  describe("observability", () => {
    it("logs arrival, concurrency and headers; prints secrets redacted", async () => {
      await Promise.all(
        [0, 1, 2].map(() => anthropic(mock, msg(), { "x-mock-latency-ms": "60" }).then((r) => r.arrayBuffer())),
      );
      assert.equal(mock.stats.maxInFlight, 3);
      assert.deepEqual(
        mock.log.map((e) => e.inFlight),
        [1, 2, 3],
      );
      assert.equal(mock.stats.inFlight, 0);
      const e = mock.log[0];
      assert.equal(e.headers["x-api-key"], API_KEY, "tests can check the key arrived");
      assert.equal(e.at, T0);
      assert.equal(e.body.model, "claude-test");
      for (const printed of [mock.printLog(), inspect(mock.log), JSON.stringify(mock.log)]) {
        assert.ok(!printed.includes(API_KEY), "no secret in what is printed");
        assert.ok(printed.includes("[redacted]"));
      }
    });
    it("records a client abort mid-stream; output settled to what was sent", () =>
      withMock(startAnthropicMock, { eventDelayMs: 20, limits: { otpm: 1_000 } }, async (mock) => {
        const ac = new AbortController();
        const r = await fetch(`${mock.url}/v1/messages`, {
          method: "POST",
          signal: ac.signal,
          headers: { "x-api-key": "k", "anthropic-version": "v" },
          body: JSON.stringify(msg({ stream: true })),
        });
        await r.body.getReader().read();
        ac.abort();
        await mock.idle();
        assert.equal(mock.log[0].outcome, "aborted");
        assert.equal(mock.stats.aborted, 1);
        assert.ok(mock.log[0].usage.output < 16);
        assert.equal(mock.levels().output, 1_000 - mock.log[0].usage.output);
      }));
  });
});

// ---------------------------------------------------------------------------------------------

describe("OpenAI mock", () => {
  let mock;
  before(async () => {
    mock = await startOpenAIMock({ now: clock.now, latencyMs: 0, eventDelayMs: 0, limits: { rpm: 60, tpm: 60_000 } });
  });
  after(() => mock.close());
  beforeEach(() => {
    clock.set(T0);
    mock.setLimits({ rpm: 60, tpm: 60_000 });
    mock.reset();
  });

  it("401 without a bearer token, in the OpenAI error shape", async () => {
    const r = await fetch(`${mock.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(chat()) });
    assert.equal(r.status, 401);
    const body = await r.json();
    assert.deepEqual(Object.keys(body.error), ["message", "type", "param", "code"]);
    assert.equal(body.error.type, "invalid_request_error");
  });
  it("400 on bad JSON and missing fields", async () => {
    for (const body of [
      "{",
      { messages: [{ role: "user", content: "x" }] },
      { model: "m" },
      { model: "m", messages: [] },
      chat({ max_tokens: -1 }),
    ]) {
      const r = await openai(mock, body);
      assert.equal(r.status, 400);
      assert.equal((await r.json()).error.type, "invalid_request_error");
    }
  });
  it("a chat completion with usage and x-ratelimit headers in Go durations", async () => {
    const r = await openai(mock, chat({ max_completion_tokens: 8_000 }), {
      "x-mock-input-tokens": "640",
      "x-mock-output-tokens": "2000",
    });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0].finish_reason, "stop");
    assert.equal(body.choices[0].message.role, "assistant");
    assert.equal(body.usage.prompt_tokens, 640);
    assert.equal(body.usage.completion_tokens, 2000);
    assert.equal(body.usage.total_tokens, 2640);
    const h = r.headers;
    assert.equal(h.get("x-ratelimit-limit-requests"), "60");
    assert.equal(h.get("x-ratelimit-remaining-requests"), "59");
    assert.equal(h.get("x-ratelimit-reset-requests"), "1s");
    assert.equal(h.get("x-ratelimit-limit-tokens"), "60000");
    // Reserved 640 + 8000 at admission, corrected to 640 + 2000 used: 2640 tokens at 1/ms.
    assert.equal(h.get("x-ratelimit-remaining-tokens"), "57360");
    assert.equal(h.get("x-ratelimit-reset-tokens"), "2.64s");
    assert.match(h.get("x-request-id"), /^req_/);
    assert.equal(h.get("ratelimit"), null, "IETF headers only on request");
    assert.match(h.get("access-control-expose-headers"), /x-ratelimit-reset-tokens/);
  });
  it("reset durations as OpenAI writes them: 20ms, 8.64s, 1m0s", async () => {
    for (const [tokens, reset] of [
      [20, "20ms"],
      [8_640, "8.64s"],
      [59_999, "59.999s"],
    ]) {
      mock.reset();
      const r = await openai(mock, chat({ max_tokens: 1 }), {
        "x-mock-input-tokens": String(tokens - 1),
        "x-mock-output-tokens": "1",
      });
      assert.equal(r.headers.get("x-ratelimit-reset-tokens"), reset);
      await r.arrayBuffer();
    }
    mock.setLevels({ tokens: 0 });
    const r = await openai(mock, chat({ max_tokens: 1 }), { "x-mock-fault": "503" });
    assert.equal(r.headers.get("x-ratelimit-reset-tokens"), "1m0s");
    await r.arrayBuffer();
  });
  it("TPM 429: type tokens, rate_limit_exceeded, retry-after and retry-after-ms; nothing debited", async () => {
    mock.setLimits({ rpm: null, tpm: 6_000 });
    let r = await openai(mock, chat({ max_tokens: 1_000 }), {
      "x-mock-input-tokens": "4000",
      "x-mock-output-tokens": "1000",
    });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    r = await openai(mock, chat({ max_tokens: 1_000 }), { "x-mock-input-tokens": "1500" });
    assert.equal(r.status, 429);
    // 1000 left, 2500 needed: 1500 short at 100/s = 15 s.
    assert.equal(r.headers.get("retry-after"), "15");
    assert.equal(r.headers.get("retry-after-ms"), "15000");
    const body = await r.json();
    assert.equal(body.error.type, "tokens");
    assert.equal(body.error.code, "rate_limit_exceeded");
    assert.equal(body.error.param, null);
    assert.match(body.error.message, /Limit 6000, Used 5000, Requested 2500\. Please try again in 15s\./);
    assert.equal(mock.levels().tokens, 1_000);
    clock.advance(15_000);
    r = await openai(mock, chat({ max_tokens: 1_000 }), { "x-mock-input-tokens": "1500" });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  });
  it("RPM 429: type requests, sub-second wait in retry-after-ms", async () => {
    mock.setLimits({ rpm: 600, tpm: null });
    mock.setLevels({ requests: 0.5 });
    const r = await openai(mock, chat());
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after-ms"), "50");
    assert.equal(r.headers.get("retry-after"), "1");
    const body = await r.json();
    assert.equal(body.error.type, "requests");
    assert.match(body.error.message, /Please try again in 50ms\./);
  });
  it("the insufficient_quota 429 (do not retry): no retry-after", async () => {
    const r = await openai(mock, chat(), { "x-mock-fault": "insufficient-quota" });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), null);
    const body = await r.json();
    assert.equal(body.error.code, "insufficient_quota");
    assert.equal(body.error.type, "insufficient_quota");
  });
  it("streams data: chunks, the usage chunk with include_usage, then [DONE]", async () => {
    let r = await openai(mock, chat({ stream: true, stream_options: { include_usage: true } }), {
      "x-mock-input-tokens": "9",
      "x-mock-output-tokens": "5",
    });
    assert.match(r.headers.get("content-type"), /^text\/event-stream/);
    let events = parseSSE(await r.text());
    assert.ok(
      events.every((e) => e.event === null),
      "OpenAI events have no event: line",
    );
    assert.equal(events.at(-1).data, "[DONE]");
    const usageChunk = events.at(-2).data;
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(usageChunk.usage.prompt_tokens, 9);
    assert.equal(usageChunk.usage.completion_tokens, 5);
    assert.equal(usageChunk.usage.total_tokens, 14);
    const chunks = events.slice(0, -2).map((e) => e.data);
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.usage === null));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
    assert.equal(
      chunks
        .map((c) => c.choices[0].delta.content ?? "")
        .join("")
        .split(" ").length,
      5,
    );
    r = await openai(mock, chat({ stream: true }));
    events = parseSSE(await r.text());
    assert.ok(
      events.slice(0, -1).every((e) => !("usage" in e.data)),
      "no usage without include_usage",
    );
    r = await openai(mock, chat({ stream: true, stream_options: { include_usage: true } }), {
      "x-mock-fault": "no-usage",
    });
    events = parseSSE(await r.text());
    assert.ok(
      events.slice(0, -1).every((e) => e.data.usage === null),
      "usage chunk missing",
    );
  });
  it("IETF RateLimit headers on request", () =>
    withMock(startOpenAIMock, { ietfHeaders: true, limits: { rpm: 60, tpm: 60_000 } }, async (mock) => {
      const r = await openai(mock, chat({ max_tokens: 100 }), {
        "x-mock-input-tokens": "1900",
        "x-mock-output-tokens": "100",
      });
      assert.equal(r.headers.get("ratelimit-policy"), '"requests";q=60;w=60, "tokens";q=60000;w=60');
      assert.equal(r.headers.get("ratelimit"), '"requests";r=59;t=1, "tokens";r=58000;t=2');
      await r.arrayBuffer();
    }));
  it("shared faults work here too: reset, 529, bad headers, stream cut", async () => {
    await assert.rejects(openai(mock, chat(), { "x-mock-fault": "reset" }), TypeError);
    let r = await openai(mock, chat(), { "x-mock-fault": "529; retry-after-ms=250" });
    assert.equal(r.status, 529);
    assert.equal(r.headers.get("retry-after-ms"), "250");
    assert.equal((await r.json()).error.type, "server_error");
    r = await openai(mock, chat(), { "x-mock-fault": "bad-headers" });
    const goDuration = /^(\d+h)?(\d+m)?\d+(\.\d+)?(ns|µs|ms|s)$/;
    for (const d of ["requests", "tokens"]) {
      assert.ok(!goDuration.test(r.headers.get(`x-ratelimit-reset-${d}`)), r.headers.get(`x-ratelimit-reset-${d}`));
      assert.ok(!/^\d+$/.test(r.headers.get(`x-ratelimit-remaining-${d}`)));
      assert.ok(!/^\d+$/.test(r.headers.get(`x-ratelimit-limit-${d}`)));
    }
    await r.arrayBuffer();
    r = await openai(mock, chat({ stream: true }), { "x-mock-fault": "stream-error; after=1" });
    await assert.rejects(r.text());
    r = await openai(mock, chat({ stream: true }), { "x-mock-fault": "sse-error; after=1" });
    const events = parseSSE(await r.text());
    assert.equal(events.at(-1).data.error.type, "server_error");
  });
});
