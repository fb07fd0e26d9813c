// The real SDKs (@anthropic-ai/sdk, openai) talk to the mocks directly, without llm-pacer: proof
// that the mocks are realistic enough for the library's own SDK tests, and a record of how the
// SDKs call `fetch` (the signature llm-pacer's `pacer.fetch` must serve).
// Run: node --test tests/js/sdk-direct.test.mjs

import { describe, it, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";

// A frozen server clock: buckets do not refill while a test runs.
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);
const now = () => T0;

/**
 * A fetch that records how it was called, then calls the global fetch.
 * @returns {{ fetch: typeof fetch, calls: { input: unknown, init: RequestInit | undefined, self: unknown }[] }}
 */
function spyFetch() {
  const calls = [];
  return {
    calls,
    fetch: function (input, init) {
      calls.push({ input, init, self: this });
      return globalThis.fetch(input, init);
    },
  };
}

/** What both SDKs pass to fetch: (url string, init) with a Headers object and a JSON string body. */
function assertFetchShape(call, url) {
  assert.equal(typeof call.input, "string", "a URL string, not a Request");
  assert.equal(call.input, url);
  assert.equal(call.self, undefined, "called with an undefined this");
  assert.equal(call.init.method, "POST");
  assert.ok(call.init.headers instanceof Headers, "headers as a Headers object");
  assert.equal(typeof call.init.body, "string", "the JSON body as a string");
  assert.doesNotThrow(() => JSON.parse(call.init.body));
  assert.ok(call.init.signal instanceof AbortSignal, "the SDK's own signal (its timeout)");
  assert.equal(call.init.headers.get("x-stainless-retry-count"), "0");
}

describe("@anthropic-ai/sdk against the Anthropic mock", () => {
  let mock;
  let spy;
  let client;
  const params = { model: "claude-test", max_tokens: 64, messages: [{ role: "user", content: "Hello, Claude" }] };

  before(async () => {
    mock = await startAnthropicMock({
      now,
      latencyMs: 0,
      eventDelayMs: 0,
      limits: { rpm: 50, itpm: 30_000, otpm: 8_000 },
    });
  });
  after(() => mock.close());
  beforeEach(() => {
    mock.setLimits({ rpm: 50 });
    mock.reset();
    spy = spyFetch();
    client = new Anthropic({ apiKey: "sk-ant-test", baseURL: mock.url, maxRetries: 0, fetch: spy.fetch });
  });

  it("messages.create returns the message with usage; how the SDK calls fetch", async () => {
    const message = await client.messages.create(params, { headers: { "x-mock-output-tokens": "12" } });
    assert.equal(message.type, "message");
    assert.equal(message.content[0].type, "text");
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.usage.input_tokens, 4); // "Hello, Claude" = 13 chars
    assert.equal(message.usage.output_tokens, 12);
    assert.equal(spy.calls.length, 1);
    assertFetchShape(spy.calls[0], `${mock.url}/v1/messages`);
    const sent = mock.log[0].headers;
    // SDK 1.x sends an apiKey as a bearer token, not as x-api-key.
    assert.equal(sent.authorization, "Bearer sk-ant-test");
    assert.equal(sent["x-api-key"], undefined);
    assert.match(sent["anthropic-version"], /^\d{4}-\d\d-\d\d$/);
    assert.equal(sent["content-type"], "application/json");
    assert.match(sent["user-agent"], /^Anthropic\/JS /);
    assert.deepEqual(mock.log[0].body, params);
  });

  it("streaming: raw events and the stream helper, with usage", async () => {
    const stream = await client.messages.create(
      { ...params, stream: true },
      { headers: { "x-mock-output-tokens": "9" } },
    );
    const types = [];
    let usage;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "message_delta") usage = event.usage;
    }
    assert.deepEqual(types, [
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    assert.equal(usage.output_tokens, 9);

    const final = await client.messages
      .stream(params, { headers: { "x-mock-output-tokens": "5", "x-mock-input-tokens": "321" } })
      .finalMessage();
    assert.equal(final.usage.input_tokens, 321);
    assert.equal(final.usage.output_tokens, 5);
    assert.equal(final.content[0].text.split(" ").length, 5);
    assert.equal(mock.log[1].headers["x-stainless-helper-method"], "stream");
  });

  it("a bucket 429 surfaces as RateLimitError with retry-after", async () => {
    mock.setLimits({ rpm: 1 });
    await client.messages.create(params);
    const err = await client.messages.create(params).then(
      () => assert.fail("expected a 429"),
      (e) => e,
    );
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get("retry-after"), "60");
    assert.equal(err.error.error.type, "rate_limit_error");
    assert.equal(err.requestID, "req_mock_000000000002", "the SDK reads the mock's request-id");
    assert.equal(mock.stats.limited, 1);
    assert.equal(mock.log.length, 2, "maxRetries: 0 sends once");
  });

  it("the spend-limit 429 is an EnforcedSpendLimitReachedError (a RateLimitError)", async () => {
    const err = await client.messages.create(params, { headers: { "x-mock-fault": "spend-limit" } }).then(
      () => assert.fail("expected a 429"),
      (e) => e,
    );
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.constructor.name, "EnforcedSpendLimitReachedError");
    assert.equal(err.errorCode, "enforced_spend_limit_reached");
    assert.equal(err.headers.get("retry-after"), null);
  });

  it("529 is an InternalServerError; an SSE error event throws mid-stream", async () => {
    const err = await client.messages.create(params, { headers: { "x-mock-fault": "529" } }).then(
      () => assert.fail("expected a 529"),
      (e) => e,
    );
    assert.ok(err instanceof Anthropic.InternalServerError);
    assert.equal(err.status, 529);
    assert.equal(err.error.error.type, "overloaded_error");

    const stream = await client.messages.create(
      { ...params, stream: true },
      { headers: { "x-mock-fault": "sse-error; after=3" } },
    );
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e) => e instanceof Anthropic.APIError && e.error?.error?.type === "overloaded_error",
    );
  });

  it("the SDK's own retries follow retry-after-ms and x-should-retry (the mock's hints are real)", async () => {
    const retrying = new Anthropic({ apiKey: "sk-ant-test", baseURL: mock.url, maxRetries: 2, fetch: spy.fetch });
    mock.script([{ status: 529, retryAfterMs: 1 }, "ok"]);
    await retrying.messages.create(params);
    assert.deepEqual(
      mock.log.map((e) => e.status),
      [529, 200],
    );
    assert.equal(mock.log[1].headers["x-stainless-retry-count"], "1");
    mock.reset();
    await assert.rejects(
      retrying.messages.create(params, { headers: { "x-mock-fault": "529; should-retry=false" } }),
      Anthropic.InternalServerError,
    );
    assert.equal(mock.log.length, 1, "x-should-retry: false stops the SDK");
  });
});

describe("openai SDK against the OpenAI mock", () => {
  let mock;
  let spy;
  let client;
  const params = { model: "gpt-test", messages: [{ role: "user", content: "Hello there" }] };

  before(async () => {
    mock = await startOpenAIMock({ now, latencyMs: 0, eventDelayMs: 0, limits: { rpm: 500, tpm: 30_000 } });
  });
  after(() => mock.close());
  beforeEach(() => {
    mock.setLimits({ rpm: 500, tpm: 30_000 });
    mock.reset();
    spy = spyFetch();
    client = new OpenAI({ apiKey: "sk-test", baseURL: `${mock.url}/v1`, maxRetries: 0, fetch: spy.fetch });
  });

  it("chat.completions.create returns the completion with usage; how the SDK calls fetch", async () => {
    const completion = await client.chat.completions.create(params, { headers: { "x-mock-output-tokens": "7" } });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices[0].message.role, "assistant");
    assert.equal(completion.choices[0].finish_reason, "stop");
    assert.deepEqual(
      [completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens],
      [3, 7, 10],
    );
    assertFetchShape(spy.calls[0], `${mock.url}/v1/chat/completions`);
    assert.equal(mock.log[0].headers.authorization, "Bearer sk-test");
    assert.match(mock.log[0].headers["user-agent"], /^OpenAI\/JS /);
  });

  it("streaming with stream_options.include_usage ends with a usage chunk", async () => {
    const stream = await client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      { headers: { "x-mock-output-tokens": "6", "x-mock-input-tokens": "40" } },
    );
    let text = "";
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    assert.equal(text.split(" ").length, 6);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens], [40, 6, 46]);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  it("a TPM 429 surfaces as RateLimitError with rate_limit_exceeded and both hints", async () => {
    mock.setLimits({ tpm: 5_000 });
    await client.chat.completions.create(
      { ...params, max_tokens: 3_000 },
      { headers: { "x-mock-output-tokens": "3000" } },
    );
    const err = await client.chat.completions.create({ ...params, max_tokens: 3_000 }).then(
      () => assert.fail("expected a 429"),
      (e) => e,
    );
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.code, "rate_limit_exceeded");
    assert.equal(err.type, "tokens");
    // 5000 - 3003 used = 1997 left, 3 + 3000 needed: 1006 short at 5000/60 per s = 12.072 s.
    assert.equal(err.headers.get("retry-after-ms"), "12072");
    assert.equal(err.headers.get("retry-after"), "13");
    assert.equal(err.headers.get("x-ratelimit-remaining-tokens"), "1997");
    assert.equal(err.headers.get("x-ratelimit-reset-tokens"), "36.036s");
  });

  it("insufficient_quota surfaces as RateLimitError with that code", async () => {
    const err = await client.chat.completions
      .create(params, { headers: { "x-mock-fault": "insufficient-quota" } })
      .then(
        () => assert.fail("expected a 429"),
        (e) => e,
      );
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.code, "insufficient_quota");
    assert.equal(err.headers.get("retry-after"), null);
  });
});
