// In-stream errors and body hints, through the package against the mocks over loopback, in
// virtual time (tests/js/lib/harness.mjs):
// - a 200 event stream whose FIRST event is an error (Anthropic `event: error`, OpenAI's error
//   chunk, a Responses `response.failed`, older vLLM's, llama.cpp's `error:` line, TGI's) is
//   retried like the status it stands for, before the caller sees a byte; a later
//   error event, and any error the pacer does not retry, reaches the caller as is; a healthy
//   stream reaches the caller byte for byte; one that breaks before its first event is the
//   attempt's network error;
// - the real Anthropic SDK reads a stream that was retried after an in-stream overload;
// - a stream's usage is read on from where its first event's peek stopped (no clone), whether
//   its first event came whole, in pieces, or not within the peek's bound; a stream the caller
//   stops reading, by any means, is cancelled, as without the pacer;
// - Gemini's `google.rpc.RetryInfo` wait and per-day `QuotaFailure`, and OpenAI's "try again
//   in ..." message, each behind the guards of `retry-after`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { Pacer } from "llm-pacer";
import { STOP_WAYS } from "./lib/stop-reading.mjs";
import {
  mockEnv,
  oneKey,
  anthropicInit,
  openaiInit,
  bounded,
  drained,
  gap,
  outcome,
  until,
  VirtualClock,
} from "./lib/harness.mjs";

/** An Anthropic error event's wire form. */
const anthropicError = (type, message = "x") =>
  `event: error\ndata: ${JSON.stringify({ type: "error", error: { type, message } })}\n\n`;

/** OpenAI's error chunk. */
const openaiError = (type, code = null) =>
  `data: ${JSON.stringify({ error: { message: "The server had an error", type, param: null, code } })}\n\n`;

const streamInit = (init) => anthropicInit({ body: { stream: true }, ...init });

describe("an error as the first event of a 200 stream", () => {
  for (const [type, stat] of [
    ["overloaded_error", "overloaded"],
    ["api_error", "serverErrors"],
    ["rate_limit_error", "rateLimited"],
  ]) {
    test(`Anthropic ${type}: retried before the caller sees a byte`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      const pacer = env.make({ seed: 1 });
      env.mock.script([{ kind: "sse-error", afterEvents: 0, body: anthropicError(type) }, "ok"]);
      const res = await pacer.fetch(env.url, streamInit());
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(text.startsWith("event: message_start"), text.slice(0, 80));
      assert.ok(!text.includes("event: error"), "the caller saw the error event");
      assert.equal(env.mock.log.length, 2);
      await drained(pacer);
      const s = pacer.stats();
      assert.equal(s.attempts, 2);
      assert.equal(s[stat], 1, `${stat}: ${JSON.stringify(s)}`);
      // A backoff, not an immediate loop.
      assert.ok(gap(env.mock, 0) > 0, `retried after ${gap(env.mock, 0)} ms`);
    });
  }

  test("OpenAI's error chunk (server_error): retried", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 2 });
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: openaiError("server_error") }, "ok"]);
    const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
    const text = await res.text();
    assert.ok(!text.includes('"error"'), text.slice(0, 200));
    assert.ok(text.includes("[DONE]"));
    assert.equal(env.mock.log.length, 2);
    await drained(pacer);
    assert.equal(pacer.stats().serverErrors, 1);
  });

  test("an error chunk whose numeric code says 503 under a generic server_error: retried as the 503 it says", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 2 });
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: openaiError("server_error", 503) }, "ok"]);
    const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
    assert.ok((await res.text()).includes("[DONE]"));
    await drained(pacer);
    const retries = env.events.filter((e) => e.type === "retry");
    assert.deepEqual(
      retries.map((e) => e.status),
      [503],
      JSON.stringify(retries),
    );
  });

  test("OpenAI's error chunk (rate_limit_exceeded): waits like a 429", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 3 });
    env.mock.script([
      { kind: "sse-error", afterEvents: 0, body: openaiError("requests", "rate_limit_exceeded") },
      "ok",
    ]);
    const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
    await res.text();
    await drained(pacer);
    assert.equal(pacer.stats().rateLimited, 1);
    assert.equal(env.mock.log.length, 2);
  });

  test("an error the pacer does not retry (insufficient_quota, invalid_request_error) reaches the caller as is", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ seed: 4 });
    const wire = anthropicError("invalid_request_error", "bad");
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: wire }]);
    const res = await pacer.fetch(env.url, streamInit());
    assert.equal(res.status, 200);
    assert.equal(await res.text(), wire, "the stream reaches the caller byte for byte");
    assert.equal(env.mock.log.length, 1);

    const o = await mockEnv(t, startOpenAIMock);
    const p2 = o.make({ seed: 5 });
    const quota = openaiError("insufficient_quota", "insufficient_quota");
    o.mock.script([{ kind: "sse-error", afterEvents: 0, body: quota }]);
    const r2 = await p2.fetch(o.url, openaiInit({ body: { stream: true } }));
    assert.equal(await r2.text(), quota);
    assert.equal(o.mock.log.length, 1);
  });

  test("OpenAI Responses' error event (code and message at the top level): a quota fails, a rate limit waits its hint", async (t) => {
    // `event: error` whose data is the error itself, with no nested `error` object: it was
    // taken for an unknown server error (500), retried on a spent quota, and its "try
    // again in" ignored.
    const responsesError = (code, message) =>
      `event: error\ndata: ${JSON.stringify({ type: "error", code, message, param: null, sequence_number: 1 })}\n\n`;
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 7 });
    const quota = responsesError("insufficient_quota", "You exceeded your current quota");
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: quota }]);
    const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
    assert.equal(await res.text(), quota, "not retried: the caller gets it as is");
    assert.equal(env.mock.log.length, 1);
    await drained(pacer);
    assert.equal(pacer.stats().serverErrors, 0);
    assert.deepEqual(
      env.events.filter((e) => e.type === "giveup").map((e) => e.reason),
      ["insufficient_quota"],
    );

    const limited = responsesError("rate_limit_exceeded", "Rate limit reached. Please try again in 1.5s.");
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: limited }, "ok"]);
    const again = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
    await again.text();
    await drained(pacer);
    assert.equal(pacer.stats().rateLimited, 2, "the quota's 429, then this one");
    assert.equal(env.mock.log.length, 3);
    assert.ok(gap(env.mock, 1) >= 1500, `waited the hint: ${gap(env.mock, 1)} ms`);
  });

  test("other servers' error shapes first (older vLLM, llama.cpp's `error:` line, TGI, a Responses `response.failed`): retried like their status, before the caller sees a byte; those no retry helps are not", async (t) => {
    const responsesOpen =
      'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}\n\n' +
      'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","status":"in_progress","output":[]}}\n\n';
    const shapes = [
      // vLLM before its errors moved under `error`: the data is the error, its code the status.
      [
        "vLLM object:error",
        'data: {"object":"error","message":"The server is overloaded","type":"ServiceUnavailableError","param":null,"code":503}\n\n',
        "serverErrors",
      ],
      // llama.cpp: a field named `error` (no `data`), which the SSE standard ignores.
      [
        "llama.cpp error line",
        'error: {"code":503,"message":"Loading model","type":"unavailable_error"}\n\n',
        "serverErrors",
      ],
      // TGI: `error` a string; `overloaded` is its 429 (a limit on concurrent requests).
      ["TGI overloaded", 'data:{"error":"Model is overloaded","error_type":"overloaded"}\n\n', "rateLimited"],
      [
        "Responses response.failed",
        `${responsesOpen}event: response.failed\ndata: {"type":"response.failed","sequence_number":2,"response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"The model is overloaded"},"output":[]}}\n\n`,
        "serverErrors",
      ],
    ];
    for (const [name, wire, stat] of shapes) {
      const env = await mockEnv(t, startOpenAIMock);
      const pacer = env.make({ seed: 21 });
      env.mock.script([{ kind: "sse-error", afterEvents: 0, body: wire }, "ok"]);
      const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.ok(!/error|failed/.test(text), `${name}: the caller saw ${text.slice(0, 120)}`);
      assert.ok(text.includes("[DONE]"), name);
      assert.equal(env.mock.log.length, 2, name);
      await drained(pacer);
      assert.equal(pacer.stats()[stat], 1, `${name}: ${JSON.stringify(pacer.stats())}`);
    }
    // Not retried: errors no retry helps (TGI `validation`, an `invalid_prompt` failure), and an
    // `error:` line after content (only the stream's head is read for one). The caller gets
    // each as it is.
    for (const wire of [
      'data:{"error":"Input validation error: `inputs` must have less than 4096 tokens","error_type":"validation"}\n\n',
      'event: response.failed\ndata: {"type":"response.failed","response":{"status":"failed","error":{"code":"invalid_prompt","message":"Invalid prompt"}}}\n\n',
      'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\nerror: {"code":503,"message":"Loading model"}\n\n',
    ]) {
      const env = await mockEnv(t, startOpenAIMock);
      const pacer = env.make({ seed: 22 });
      env.mock.script([{ kind: "sse-error", afterEvents: 0, body: wire }, "ok"]);
      const res = await pacer.fetch(env.url, openaiInit({ body: { stream: true } }));
      assert.equal(await res.text(), wire, "byte for byte");
      assert.equal(env.mock.log.length, 1);
    }
  });

  test("an error after message_start, before any content: retried, the caller sees the next stream only", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ seed: 6 });
    env.mock.script([{ kind: "sse-error", afterEvents: 1 }, "ok"]);
    const res = await pacer.fetch(env.url, streamInit());
    const text = await res.text();
    assert.equal(text.match(/event: message_start/g)?.length, 1, text.slice(0, 200));
    assert.ok(!text.includes("event: error"), "the caller saw the error event");
    assert.ok(text.includes("event: message_stop"));
    await drained(pacer);
    assert.equal(env.mock.log.length, 2);
    assert.equal(pacer.stats().overloaded, 1);
  });

  test("once a content event was delivered, a later error event reaches the caller: never retried", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ seed: 6 });
    env.mock.script([{ kind: "sse-error", afterEvents: 2 }]);
    const res = await pacer.fetch(env.url, streamInit());
    const text = await res.text();
    assert.ok(text.startsWith("event: message_start\n"));
    assert.ok(text.includes("event: content_block_start"));
    assert.ok(text.includes("event: error") && text.includes("overloaded_error"));
    await drained(pacer);
    assert.equal(env.mock.log.length, 1);
    assert.equal(pacer.stats().attempts, 1);
  });

  test("a healthy stream reaches the caller byte for byte, as without the pacer", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { streamChunks: 5 });
    const pacer = env.make({ seed: 7 });
    const direct = await (await fetch(env.url, streamInit({ headers: { "x-mock-output-tokens": "9" } }))).text();
    const paced = await (await pacer.fetch(env.url, streamInit({ headers: { "x-mock-output-tokens": "9" } }))).text();
    const norm = (s) => s.replace(/msg_mock_[\w-]+/g, "msg").replace(/req_[\w-]+/g, "req");
    assert.equal(norm(paced), norm(direct));
    await drained(pacer);
    assert.equal(pacer.stats().outputTokensUsed, 9, "the usage is still read from the stream");
  });

  test("retries run out: the last stream (with its error event) is the caller's", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ seed: 8, retry: { maxRetries: 1 } });
    const wire = anthropicError("overloaded_error");
    env.mock.script([
      { kind: "sse-error", afterEvents: 0, body: wire },
      { kind: "sse-error", afterEvents: 0, body: wire },
    ]);
    const res = await pacer.fetch(env.url, streamInit());
    assert.equal(await res.text(), wire);
    assert.equal(env.mock.log.length, 2);
  });

  test("the real Anthropic SDK reads a stream that was retried after an in-stream overload", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ seed: 9 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: env.mock.url, fetch: pacer.fetch, maxRetries: 0 });
    env.mock.script([{ kind: "sse-error", afterEvents: 0 }, "ok"]);
    const params = { model: "claude-test", max_tokens: 50, messages: [{ role: "user", content: "Hi" }] };
    const headers = { "x-mock-output-tokens": "12" };
    const stream = await client.messages.create({ ...params, stream: true }, { headers });
    let out = 0;
    const types = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "message_delta") out = event.usage.output_tokens;
    }
    assert.equal(out, 12);
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop");
    // And through the SDK's stream helper.
    env.mock.script([{ kind: "sse-error", afterEvents: 0, body: anthropicError("api_error") }, "ok"]);
    const msg = await client.messages.stream(params, { headers }).finalMessage();
    assert.equal(msg.usage.output_tokens, 12);
    assert.equal(env.mock.log.length, 4);
    await drained(pacer);
    assert.equal(pacer.stats().overloaded, 1);
    assert.equal(pacer.stats().serverErrors, 1);
  });
});

/** Gemini's 429 RESOURCE_EXHAUSTED body. */
const gemini = ({ delay = "37s", quotaId = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" } = {}) => ({
  error: {
    code: 429,
    message: "You exceeded your current quota, please check your plan and billing details.",
    status: "RESOURCE_EXHAUSTED",
    details: [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        violations: [
          {
            quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            quotaId,
            quotaDimensions: { location: "global", model: "gemini-2.0-flash" },
            quotaValue: "15",
          },
        ],
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        links: [{ description: "Learn more", url: "https://ai.google.dev" }],
      },
      ...(delay === null ? [] : [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: delay }]),
    ],
  },
});

describe("body hints", () => {
  test("Gemini RetryInfo.retryDelay: the pacer waits the 37 s it states", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 10 });
    env.mock.script([{ status: 429, body: gemini() }, "ok"]);
    const res = await pacer.fetch(env.url, openaiInit());
    assert.equal(res.status, 200);
    const wait = gap(env.mock, 0);
    assert.ok(wait >= 37_000 && wait <= 38_000, `waited ${wait} ms`);
  });

  test("Gemini's OpenAI-compatible endpoint (an array around the error) is read too", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 11 });
    env.mock.script([{ status: 429, body: [gemini({ delay: "2.5s" })] }, "ok"]);
    await pacer.fetch(env.url, openaiInit());
    const wait = gap(env.mock, 0);
    assert.ok(wait >= 2_500 && wait <= 2_750, `waited ${wait} ms`);
  });

  test("Gemini QuotaFailure per day: not retried, the 429 goes to the caller", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 12 });
    env.mock.script([
      { status: 429, body: gemini({ quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }) },
      "ok",
    ]);
    const res = await pacer.fetch(env.url, openaiInit());
    assert.equal(res.status, 429);
    assert.equal((await res.json()).error.status, "RESOURCE_EXHAUSTED");
    assert.equal(env.mock.log.length, 1);
    assert.ok(
      env.events.some((e) => e.type === "giveup" && e.reason === "insufficient_quota"),
      JSON.stringify(env.events),
    );
  });

  test("OpenAI's 'Please try again in 1.5s' is a hint of last resort; a header wins", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 13 });
    const message =
      "Rate limit reached for gpt-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits to learn more.";
    env.mock.script([{ status: 429, message }, "ok", { status: 429, message, retryAfterMs: 300 }, "ok"]);
    await pacer.fetch(env.url, openaiInit());
    let wait = gap(env.mock, 0);
    assert.ok(wait >= 1_500 && wait <= 1_650, `waited ${wait} ms for 1.5s`);
    await pacer.fetch(env.url, openaiInit());
    wait = gap(env.mock, 2);
    assert.ok(wait >= 300 && wait <= 330, `waited ${wait} ms: the header's 300 ms wins`);
  });

  test("garbage and absurd body hints are absent; a long one is capped by maxRetryAfterMs", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make({ seed: 14, retry: { maxRetryAfterMs: 10_000 } });
    env.mock.script([
      { status: 429, body: gemini({ delay: "-5s" }) },
      { status: 429, body: gemini({ delay: "NaNs" }) },
      { status: 429, body: gemini({ delay: "99999999999s" }) },
      "ok",
    ]);
    const res = await pacer.fetch(env.url, openaiInit());
    assert.equal(res.status, 200);
    for (const i of [0, 1, 2]) {
      const wait = gap(env.mock, i);
      assert.ok(wait > 0 && wait < 10_000, `garbage hint ${i}: waited ${wait} ms (the pacer's own backoff)`);
    }
    // 37 s stated, 10 s allowed: the 429 goes to the caller, as for a header.
    env.mock.script([{ status: 429, body: gemini() }, "ok"]);
    const r = await outcome(pacer.fetch(env.url, openaiInit()));
    assert.ok(r.ok && r.value.status === 429, JSON.stringify(r));
    assert.ok(env.events.some((e) => e.reason === "retry_after_too_long"));
  });
});

describe("a stream's usage, read on from where its first event was peeked", () => {
  const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const START = event("message_start", {
    type: "message_start",
    message: { id: "m", usage: { input_tokens: 25, output_tokens: 1 } },
  });
  const REST =
    event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } }) +
    event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn" },
      usage: { output_tokens: 15 },
    }) +
    event("message_stop", { type: "message_stop" });
  const SSE = { "content-type": "text/event-stream" };
  /** A stream the test writes to: `push(text)`, `end()`. */
  const controlled = () => {
    let c;
    const body = new ReadableStream({ start: (ctl) => void (c = ctl) });
    const enc = new TextEncoder();
    return { body, push: (s) => c.enqueue(enc.encode(s)), end: () => c.close(), fail: (e) => c.error(e) };
  };

  test("the caller's abort after delivery fails its read with the reason and cancels the stream, even when the fetch option ignores the signal", async () => {
    const s = long();
    // A `fetch` that never looks at the signal: the abort is the pacer's to carry out.
    const pacer = new Pacer({ fetch: async () => new Response(s.body, { headers: SSE }) });
    const ac = new AbortController();
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit({ signal: ac.signal }));
    const reader = res.body.getReader();
    await reader.read();
    const reason = new Error("stop");
    ac.abort(reason);
    await assert.rejects(
      bounded(
        (async () => {
          while (!(await reader.read()).done);
        })(),
        "the aborted read",
      ),
      (e) => e === reason,
    );
    await until(() => s.cancelled || s.ended, "the stream to be cancelled");
    assert.ok(s.cancelled, `cancelled, not read to its end (${s.pulls} deltas pulled)`);
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    pacer.close();
  });

  test("the caller's abort while the pacer waits for a stream's first event ends that wait and cancels the stream at once, even when the fetch option ignores the signal", async () => {
    let cancelled = false;
    const body = new ReadableStream({ cancel: () => void (cancelled = true) }); // no event yet
    const clock = new VirtualClock();
    clock.hold = true; // the peek's bound (5 s) never comes by itself
    const pacer = new Pacer({ clock, fetch: async () => new Response(body, { headers: SSE }) });
    const ac = new AbortController();
    const p = pacer.fetch("https://api.anthropic.com/v1/messages", streamInit({ signal: ac.signal }));
    await until(() => body.locked && clock.pending.size > 0, "the peek to start");
    const reason = new Error("stop");
    ac.abort(reason);
    await assert.rejects(bounded(p, "the aborted call"), (e) => e === reason);
    await until(() => cancelled, "the stream to be cancelled");
    assert.equal(clock.elapsed, 0);
    assert.equal(clock.pending.size, 0, "no sleep of the peek's outlives the call");
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    pacer.close();
  });

  test("a stream that fails after delivery fails the caller's read with the same error; the call settles", async () => {
    const s = controlled();
    const pacer = new Pacer({ fetch: async () => new Response(s.body, { headers: SSE }) });
    const p = pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    s.push(START);
    const res = await p;
    const reader = res.body.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), START);
    const reset = new Error("connection reset");
    s.fail(reset);
    await assert.rejects(bounded(reader.read(), "the failed read"), (e) => e === reset);
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    assert.equal(pacer.stats().outputTokensUsed, 0, "no final usage: the reservation stands");
    pacer.close();
  });

  test("a stream that breaks before its first event is an attempt's network error: retried, the caller gets the next stream", async () => {
    let n = 0;
    const pacer = new Pacer({
      seed: 1,
      fetch: async () => {
        n++;
        if (n === 1) {
          const s = controlled();
          s.push("event: message_st"); // not one whole event yet
          s.fail(new TypeError("terminated"));
          return new Response(s.body, { headers: SSE });
        }
        return new Response(START + REST, { headers: SSE });
      },
    });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    assert.equal(await res.text(), START + REST);
    await drained(pacer);
    const st = pacer.stats();
    assert.deepEqual([n, st.attempts, st.networkErrors, st.inFlight], [2, 2, 1, 0]);
    pacer.close();
  });

  test("a stream that breaks before its first event, with no retry left: the call fails with its error", async () => {
    const reset = new TypeError("terminated");
    const pacer = new Pacer({
      retry: { maxRetries: 0 },
      fetch: async () => {
        const s = controlled();
        s.fail(reset);
        return new Response(s.body, { headers: SSE });
      },
    });
    await assert.rejects(
      bounded(pacer.fetch("https://api.anthropic.com/v1/messages", streamInit()), "the call"),
      (e) => e === reset,
    );
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    pacer.close();
  });

  test("a stream is never cloned: the caller's response has the original's head, every byte, and the usage counts", async () => {
    let clones = 0;
    const pacer = new Pacer({
      fetch: async () => {
        const r = new Response(START + REST, { status: 201, statusText: "Made", headers: { ...SSE, "x-a": "1" } });
        const clone = r.clone;
        r.clone = function () {
          clones++;
          return clone.call(this);
        };
        Object.defineProperty(r, "url", { value: "https://api.anthropic.com/v1/messages" });
        return r;
      },
    });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    assert.ok(res instanceof Response);
    assert.deepEqual(
      [res.status, res.statusText, res.headers.get("x-a"), res.url],
      [201, "Made", "1", "https://api.anthropic.com/v1/messages"],
    );
    const copy = res.clone();
    assert.deepEqual([copy.status, copy.url], [201, "https://api.anthropic.com/v1/messages"], "a clone keeps the head");
    assert.equal(await res.text(), START + REST);
    assert.equal(await copy.text(), START + REST);
    await drained(pacer);
    assert.equal(clones, 0, "the original is never cloned");
    assert.equal(pacer.stats().inputTokensUsed, 25);
    assert.equal(pacer.stats().outputTokensUsed, 15);
    pacer.close();
  });

  test("a stream the caller never reads is still read to its end for its usage, its bytes kept for the caller", async () => {
    const s = controlled();
    const pacer = new Pacer({ fetch: async () => new Response(s.body, { headers: SSE }) });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    s.push(START);
    s.push(REST);
    s.end();
    await drained(pacer);
    assert.equal(pacer.stats().outputTokensUsed, 15);
    assert.equal(await res.text(), START + REST);
    pacer.close();
  });

  /** A long stream (a delta each pull, 20,000 of them) that records whether it was cancelled. */
  const long = (tail = "") => {
    const enc = new TextEncoder();
    const s = { cancelled: false, ended: false, pulls: 0 };
    const delta = enc.encode(REST.slice(0, REST.indexOf("\n\n") + 2));
    s.body = new ReadableStream({
      start: (c) => c.enqueue(enc.encode(START + tail)),
      pull: (c) => {
        if (++s.pulls < 20_000) return c.enqueue(delta);
        s.ended = true;
        c.close();
      },
      cancel: () => void (s.cancelled = true),
    });
    return s;
  };
  for (const [how, stopReading] of STOP_WAYS)
    test(`a caller that ${how} cancels the stream itself, as without the pacer; the call settles on the input message_start reported, its output as reserved`, async () => {
      const s = long();
      /** @type {any[]} */
      const events = [];
      const clock = new VirtualClock();
      clock.hold = true; // no refill: the buckets show what the settlement left
      const pacer = new Pacer({
        clock,
        limits: { itpm: 10_000, otpm: 10_000 },
        onEvent: (e) => events.push(e),
        fetch: async () => new Response(s.body, { headers: SSE }),
      });
      const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
      await stopReading(res.body);
      await until(() => s.cancelled || s.ended, "the stream to be cancelled");
      assert.ok(s.cancelled, `cancelled, not read to its end (${s.pulls} deltas pulled)`);
      await drained(pacer);
      const settled = events.filter((e) => e.type === "settled");
      assert.deepEqual(
        settled.map((e) => [e.reason, e.usage?.inputTokens, e.usage?.outputTokens]),
        [["input_only", 25, 0]],
      );
      assert.equal(pacer.stats().inputTokensUsed, 25);
      assert.equal(pacer.stats().outputTokensUsed, 0, "no final usage came: the output is not known");
      const { inputTokens, outputTokens } = oneKey(pacer);
      assert.equal(inputTokens.remaining, 10_000 - 25, "the input as message_start reported it");
      assert.equal(outputTokens.remaining, 10_000 - 64, "the output reservation (max_tokens) stands");
      pacer.close();
    });

  /**
   * A pacer with ITPM and OTPM of 10,000 on a held clock (no refill: the buckets show what the
   * settlements left), its events kept.
   * @param {(input: any, init: any) => Promise<Response>} fetch
   */
  const heldPacer = (fetch) => {
    /** @type {any[]} */
    const events = [];
    const clock = new VirtualClock();
    clock.hold = true;
    const pacer = new Pacer({ clock, limits: { itpm: 10_000, otpm: 10_000 }, onEvent: (e) => events.push(e), fetch });
    return { pacer, events };
  };

  test("a stream read to its end without a final usage (an error event after content) settles the input only, its output as reserved", async () => {
    // Anthropic's mid-stream `overloaded_error`: `message_start`'s `output_tokens: 1` is a
    // placeholder, not the output; read whole or cut short, the output stays as reserved.
    const error = event("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
    const { pacer, events } = heldPacer(
      async () => new Response(START + REST.slice(0, REST.indexOf("\n\n") + 2) + error, { headers: SSE }),
    );
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    assert.match(await res.text(), /overloaded_error/);
    await drained(pacer);
    assert.deepEqual(
      events.filter((e) => e.type === "settled").map((e) => [e.reason, e.usage?.inputTokens, e.usage?.outputTokens]),
      [["input_only", 25, 0]],
    );
    assert.equal(oneKey(pacer).outputTokens.remaining, 10_000 - 64, "the output reservation stands");
    pacer.close();
  });

  test("a Gemini stream that ends is settled on its last usage, with or without a finishReason (a prompt blocked)", async () => {
    const chunk = (o) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const cases = [
      // Blocked: no candidates, no output, no finishReason.
      [
        chunk({
          promptFeedback: { blockReason: "SAFETY" },
          usageMetadata: { promptTokenCount: 100, totalTokenCount: 100 },
        }),
        0,
      ],
      [
        chunk({
          candidates: [{ content: { parts: [{ text: "hi" }] } }],
          usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 20 },
        }),
        20,
      ],
    ];
    for (const [body, output] of cases) {
      const { pacer, events } = heldPacer(async () => new Response(body, { headers: SSE }));
      const url =
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
      const init = {
        method: "POST",
        headers: { "x-goog-api-key": "k", "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }], generationConfig: { maxOutputTokens: 1000 } }),
      };
      await (await pacer.fetch(url, init)).text();
      await drained(pacer);
      assert.deepEqual(
        events.filter((e) => e.type === "settled").map((e) => [e.reason, e.usage?.inputTokens, e.usage?.outputTokens]),
        [["usage", 100, output]],
      );
      assert.equal(oneKey(pacer).outputTokens.remaining, 10_000 - output, "no output reservation left standing");
      pacer.close();
    }
  });

  test("a stream cut short before it reported anything keeps its whole reservation", async () => {
    const s = controlled();
    /** @type {any[]} */
    const events = [];
    const pacer = new Pacer({
      onEvent: (e) => events.push(e),
      fetch: async () => new Response(s.body, { headers: SSE }),
    });
    const p = pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    s.push('event: ping\ndata: {"type":"ping"}\n\n');
    const res = await p;
    await res.body.cancel();
    await drained(pacer);
    assert.deepEqual(
      events.filter((e) => e.type === "settled").map((e) => e.reason),
      ["no_usage"],
    );
    assert.equal(pacer.stats().inputTokensUsed, 0);
    pacer.close();
  });

  test("a caller that cancels after the final usage (the OpenAI SDK at [DONE]): the usage counts", async () => {
    const final = REST.slice(REST.indexOf("event: message_delta"));
    const s = long(final);
    const pacer = new Pacer({ fetch: async () => new Response(s.body, { headers: SSE }) });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", streamInit());
    const reader = res.body.getReader();
    await reader.read();
    await reader.cancel();
    await drained(pacer);
    assert.ok(s.cancelled);
    assert.equal(pacer.stats().inputTokensUsed, 25);
    assert.equal(pacer.stats().outputTokensUsed, 15);
    pacer.close();
  });

  test("the first event in pieces, the usage in later chunks: the caller gets every byte once the first event is whole, the usage counts", async () => {
    const s = controlled();
    const pacer = new Pacer({ fetch: async () => new Response(s.body, { headers: SSE }) });
    let delivered = false;
    const p = pacer.fetch("https://api.anthropic.com/v1/messages", streamInit()).then((r) => ((delivered = true), r));
    s.push(START.slice(0, 20));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(delivered, false, "not delivered before the first event is whole");
    s.push(START.slice(20));
    const res = await p;
    for (const piece of REST.match(/[\s\S]{1,17}/g)) s.push(piece);
    s.end();
    assert.equal(await res.text(), START + REST);
    await drained(pacer);
    assert.equal(pacer.stats().inputTokensUsed, 25, "the usage of the bytes the peek read");
    assert.equal(pacer.stats().outputTokensUsed, 15);
    pacer.close();
  });

  test("no first event within the peek's bound: delivered as it is, its usage read from the start all the same", async () => {
    const clock = new VirtualClock();
    clock.hold = true;
    const s = controlled();
    const pacer = new Pacer({ clock, fetch: async () => new Response(s.body, { headers: SSE }) });
    let delivered = false;
    const p = pacer.fetch("https://api.anthropic.com/v1/messages", streamInit()).then((r) => ((delivered = true), r));
    s.push(": ping\n\n");
    await clock.settle();
    assert.equal(delivered, false);
    await clock.advance(5_000);
    const res = await p;
    s.push(START + REST);
    s.end();
    assert.equal(await res.text(), `: ping\n\n${START}${REST}`);
    await drained(pacer);
    assert.equal(pacer.stats().inputTokensUsed, 25);
    assert.equal(pacer.stats().outputTokensUsed, 15);
    pacer.close();
  });
});
