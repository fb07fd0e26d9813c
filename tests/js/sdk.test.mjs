// The real SDKs through one pacer: `new Anthropic({ fetch: pacer.fetch, maxRetries: 0 })` and
// `new OpenAI({ fetch: pacer.fetch, maxRetries: 0 })` run bursts of 40 calls (create and
// stream) against the mocks with tight limits, in virtual time (the pacer's clock is the
// mock's). Every call must succeed, the server's limits must hold (the mock's `limited` counts
// the 429s its buckets had to issue: 0 when the pacer is told the limits, a handful at most
// while it learns them from headers), and no 429 may reach the SDK while retries remain (the
// SDK, with maxRetries: 0, would throw a RateLimitError).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { mockEnv, drained, oneKey } from "./lib/harness.mjs";

const CALLS = 40;

/** A prompt of about `n` characters, different per call. */
const prompt = (i, n) => `Call ${i}: ${"lorem ipsum ".repeat(Math.ceil(n / 12))}`.slice(0, n);

describe("@anthropic-ai/sdk through pacer.fetch", () => {
  async function burst(_env, client) {
    const params = (i) => ({
      model: "claude-test",
      max_tokens: 50,
      messages: [{ role: "user", content: prompt(i, 400) }],
    });
    const headers = { "x-mock-output-tokens": "20" };
    const calls = Array.from({ length: CALLS }, async (_, i) => {
      switch (i % 3) {
        case 0:
          return (await client.messages.create(params(i), { headers })).usage.output_tokens;
        case 1: {
          const stream = await client.messages.create({ ...params(i), stream: true }, { headers });
          let out = 0;
          for await (const event of stream) if (event.type === "message_delta") out = event.usage.output_tokens;
          return out;
        }
        default:
          return (await client.messages.stream(params(i), { headers }).finalMessage()).usage.output_tokens;
      }
    });
    return Promise.all(calls);
  }

  test(`${CALLS} calls with the limits configured: all succeed, the server never refuses one`, async (t) => {
    const limits = { rpm: 10, itpm: 1_000, otpm: 600 };
    const env = await mockEnv(t, startAnthropicMock, { limits });
    const pacer = env.make({ limits, seed: 1 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: env.mock.url, fetch: pacer.fetch, maxRetries: 0 });
    const started = performance.now();
    const outputs = await burst(env, client);
    assert.deepEqual(outputs, Array(CALLS).fill(20));
    await drained(pacer);
    const m = env.mock.stats;
    assert.equal(m.limited, 0, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(m.requests, CALLS);
    const s = pacer.stats();
    assert.equal(s.rateLimited, 0);
    assert.equal(s.attempts, CALLS);
    assert.equal(s.inputTokensUsed, m.inputTokens);
    assert.equal(s.outputTokensUsed, CALLS * 20);
    // 40 requests at 10 per minute from a full bucket: at least 3 minutes of virtual time.
    assert.ok(env.clock.elapsed >= 3 * 60_000, `elapsed ${env.clock.elapsed}`);
    assert.ok(env.clock.elapsed <= 5 * 60_000, `elapsed ${env.clock.elapsed}: the pacer was too slow`);
    // Virtual time: the minutes of waits took a small part of that in real time (wide slack:
    // a bound, not a benchmark; a real sleep would take all of it).
    const realMs = performance.now() - started;
    assert.ok(realMs < env.clock.elapsed / 4, `${realMs} ms real for ${env.clock.elapsed} ms virtual`);
  });

  test(`${CALLS} calls learning the limits from headers: all succeed, hardly any 429`, async (t) => {
    const env = await mockEnv(t, startAnthropicMock, {
      limits: { rpm: 10, itpm: 1_000, otpm: 600 },
      virtualLatencyMs: 50,
    });
    const pacer = env.make({ concurrency: 2, seed: 2 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: env.mock.url, fetch: pacer.fetch, maxRetries: 0 });
    const outputs = await burst(env, client);
    assert.deepEqual(outputs, Array(CALLS).fill(20));
    await drained(pacer);
    const m = env.mock.stats;
    assert.ok(m.limited <= 2, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(pacer.stats().rateLimited, m.limited);
    assert.equal(m.requests, CALLS + m.limited);
    const l = oneKey(pacer);
    assert.deepEqual(
      [l.requests.limit, l.inputTokens.limit, l.outputTokens.limit, l.requests.source],
      [10, 1_000, 600, "headers"],
    );
  });
});

describe("openai SDK through pacer.fetch", () => {
  async function burst(client) {
    const params = (i) => ({
      model: "gpt-test",
      max_tokens: 100,
      messages: [{ role: "user", content: prompt(i, 200) }],
    });
    const headers = { "x-mock-output-tokens": "30" };
    const calls = Array.from({ length: CALLS }, async (_, i) => {
      if (i % 2 === 0) return (await client.chat.completions.create(params(i), { headers })).usage.completion_tokens;
      const stream = await client.chat.completions.create(
        { ...params(i), stream: true, stream_options: { include_usage: true } },
        { headers },
      );
      let usage;
      for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
      return usage.completion_tokens;
    });
    return Promise.all(calls);
  }

  test(`${CALLS} calls with the limits configured: all succeed, the server never refuses one`, async (t) => {
    const limits = { rpm: 10, tpm: 2_000 };
    const env = await mockEnv(t, startOpenAIMock, { limits });
    const pacer = env.make({ limits, seed: 3 });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch, maxRetries: 0 });
    const outputs = await burst(client);
    assert.deepEqual(outputs, Array(CALLS).fill(30));
    await drained(pacer);
    const m = env.mock.stats;
    assert.equal(m.limited, 0, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(pacer.stats().rateLimited, 0);
    assert.equal(pacer.stats().outputTokensUsed, CALLS * 30);
    assert.ok(env.clock.elapsed >= 3 * 60_000 && env.clock.elapsed <= 5 * 60_000, `elapsed ${env.clock.elapsed}`);
  });

  test(`${CALLS} calls learning the limits from headers: all succeed, hardly any 429`, async (t) => {
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 10, tpm: 2_000 }, virtualLatencyMs: 50 });
    const pacer = env.make({ concurrency: 2, seed: 4 });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch, maxRetries: 0 });
    const outputs = await burst(client);
    assert.deepEqual(outputs, Array(CALLS).fill(30));
    await drained(pacer);
    const m = env.mock.stats;
    assert.ok(m.limited <= 2, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(m.requests, CALLS + m.limited);
    const l = oneKey(pacer);
    assert.deepEqual([l.requests.limit, l.tokens.limit, l.tokens.source], [10, 2_000, "headers"]);
  });

  test("a stream without include_usage, read by the SDK (which cancels at [DONE]): estimated from its text, with the warning", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    const pacer = env.make();
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: "gpt-test", max_tokens: 500, stream: true, messages: [{ role: "user", content: "hi" }] },
      { headers: { "x-mock-output-tokens": "5" } },
    );
    for await (const _ of stream);
    await drained(pacer);
    const settled = env.events.filter((e) => e.type === "settled");
    assert.deepEqual(
      settled.map((e) => e.reason),
      ["estimated"],
    );
    const out = settled[0].usage.outputTokens;
    assert.ok(out >= 5 && out < 64, `output ${out}, not the 500 reserved`);
    assert.ok(
      env.events.some((e) => e.type === "warning" && e.reason === "stream_usage_missing"),
      "the warning that asks for include_usage",
    );
  });

  test("a 429 from a spike the pacer could not know about is retried, not shown to the SDK", async (t) => {
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 100, tpm: 100_000 } });
    const pacer = env.make({ seed: 5 });
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch, maxRetries: 0 });
    env.mock.script([{ status: 429, retryAfterMs: 800 }, 529, "ok"]);
    const completion = await client.chat.completions.create({
      model: "gpt-test",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(completion.object, "chat.completion");
    assert.equal(env.mock.log.length, 3);
    // The SDK's own headers reached the server on every attempt.
    for (const e of env.mock.log) assert.equal(e.headers.authorization, "Bearer sk-test");
  });
});
