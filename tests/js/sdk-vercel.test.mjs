// The Vercel AI SDK's providers through one pacer: `createAnthropic({ fetch: pacer.fetch })`
// and `createOpenAI({ fetch: pacer.fetch })`, with `generateText` / `streamText` and
// `maxRetries: 0`, run bursts of 40 calls against the mocks with tight limits, in virtual time
// (the pacer's clock is the mock's). As with the vendors' SDKs (sdk.test.mjs): every call must
// succeed, the server's limits must hold, the usage the SDK reports is the usage the pacer
// settled, and no 429 may reach the SDK while retries remain (with maxRetries: 0 it would
// throw an APICallError).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateText, streamText } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { mockEnv, drained, oneKey, until, isSettled } from "./lib/harness.mjs";

const CALLS = 40;

/** A prompt of about `n` characters, different per call. */
const prompt = (i, n) => `Call ${i}: ${"lorem ipsum ".repeat(Math.ceil(n / 12))}`.slice(0, n);

/**
 * `CALLS` calls of `model`, every other one streamed; the output tokens each reported.
 * @param {any} model
 * @param {number} outputTokens what the mock writes per answer
 */
async function burst(model, outputTokens, maxOutputTokens) {
  const headers = { "x-mock-output-tokens": String(outputTokens) };
  const calls = Array.from({ length: CALLS }, async (_, i) => {
    const params = { model, prompt: prompt(i, 300), maxOutputTokens, maxRetries: 0, headers };
    if (i % 2 === 0) return (await generateText(params)).usage.outputTokens;
    const result = streamText({
      ...params,
      onError: ({ error }) => {
        throw error;
      },
    });
    let text = "";
    for await (const part of result.textStream) text += part;
    assert.ok(text.length > 0, "the stream carried text");
    return (await result.usage).outputTokens;
  });
  return Promise.all(calls);
}

describe("Vercel AI SDK, @ai-sdk/anthropic through pacer.fetch", () => {
  /** @param {any} env @param {any} pacer */
  const provider = (env, pacer) =>
    createAnthropic({ apiKey: "sk-ant-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch });

  test(`${CALLS} calls with the limits configured: all succeed, the server never refuses one`, async (t) => {
    const limits = { rpm: 10, itpm: 1_000, otpm: 600 };
    const env = await mockEnv(t, startAnthropicMock, { limits });
    const pacer = env.make({ limits, seed: 11 });
    const outputs = await burst(provider(env, pacer)("claude-test"), 20, 50);
    assert.deepEqual(outputs, Array(CALLS).fill(20));
    await drained(pacer);
    const m = env.mock.stats;
    assert.equal(m.limited, 0, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(m.requests, CALLS);
    const s = pacer.stats();
    assert.deepEqual([s.rateLimited, s.attempts], [0, CALLS]);
    assert.equal(s.inputTokensUsed, m.inputTokens);
    assert.equal(s.outputTokensUsed, CALLS * 20);
    // 40 requests at 10 per minute from a full bucket: at least 3 minutes of virtual time.
    assert.ok(env.clock.elapsed >= 3 * 60_000 && env.clock.elapsed <= 5 * 60_000, `elapsed ${env.clock.elapsed}`);
  });

  test(`${CALLS} calls learning the limits from headers: all succeed, hardly any 429`, async (t) => {
    const env = await mockEnv(t, startAnthropicMock, {
      limits: { rpm: 10, itpm: 1_000, otpm: 600 },
      virtualLatencyMs: 50,
    });
    const pacer = env.make({ concurrency: 2, seed: 12 });
    const outputs = await burst(provider(env, pacer)("claude-test"), 20, 50);
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

  test("a 429 and a 529 the pacer could not foresee are retried, not shown to the SDK", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 100, itpm: 100_000, otpm: 100_000 } });
    const pacer = env.make({ seed: 13 });
    env.mock.script([{ status: 429, retryAfterMs: 800 }, 529, "ok"]);
    const { text } = await generateText({
      model: provider(env, pacer)("claude-test"),
      prompt: "hi",
      maxOutputTokens: 100,
      maxRetries: 0,
    });
    assert.ok(text.length > 0);
    assert.equal(env.mock.log.length, 3);
    // The provider's own headers reached the server on every attempt.
    for (const e of env.mock.log) assert.equal(e.headers["x-api-key"], "sk-ant-test");
    // The hint was honoured: the second attempt went at least 800 ms after the first.
    assert.ok(env.mock.log[1].at - env.mock.log[0].at >= 800, JSON.stringify(env.mock.log.map((e) => e.at)));
  });

  test("the SDK's abortSignal ends a call waiting in the queue at once; it is never sent", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.hold = true;
    const pacer = env.make({ limits: { rpm: 1 } });
    const model = provider(env, pacer)("claude-test");
    const params = { model, prompt: "hi", maxOutputTokens: 100, maxRetries: 0 };
    assert.ok((await generateText(params)).text.length > 0);
    const controller = new AbortController();
    const p = generateText({ ...params, abortSignal: controller.signal });
    p.catch(() => {});
    await until(() => pacer.stats().queued === 1, "the second call to queue");
    assert.equal(await isSettled(p), false);
    controller.abort(new Error("user left"));
    assert.ok(await isSettled(p, 5), "settled at once");
    await assert.rejects(p);
    assert.equal(pacer.stats().queued, 0);
    await env.clock.advance(120_000);
    assert.equal(env.mock.log.length, 1, "never sent");
    assert.equal(env.clock.pending.size, 0, "no timer left");
  });

  test("the SDK's default max_tokens (the model's maximum) over the OTPM limit: an error that says what to change", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
    // Claude Sonnet 4.5: the provider asks for max_tokens 64,000 unless told otherwise.
    const model = (pacer) => provider(env, pacer)("claude-sonnet-4-5");
    const tier1 = env.make({ preset: "anthropic:tier-1:sonnet" });
    await assert.rejects(generateText({ model: model(tier1), prompt: "hi", maxRetries: 0 }), (e) => {
      assert.equal(e.name, "RequestTooLargeError");
      assert.deepEqual([e.dimension, e.cost, e.capacity], ["outputTokens", 64_000, 8_000]);
      assert.match(e.message, /maxOutputTokens/);
      return true;
    });
    assert.equal(env.mock.log.length, 0, "nothing was sent");
    // The server would refuse it too (the mock reserves max_tokens, as Anthropic documents);
    // a max_tokens within the limit goes.
    const { text } = await generateText({ model: model(tier1), prompt: "hi", maxOutputTokens: 1_000, maxRetries: 0 });
    assert.ok(text.length > 0);
    assert.equal(env.mock.log.length, 1);
  });
});

describe("Vercel AI SDK, @ai-sdk/openai (chat) through pacer.fetch", () => {
  /** @param {any} env @param {any} pacer */
  const provider = (env, pacer) =>
    createOpenAI({ apiKey: "sk-test", baseURL: `${env.mock.url}/v1`, fetch: pacer.fetch });

  test(`${CALLS} calls with the limits configured: all succeed, the server never refuses one`, async (t) => {
    const limits = { rpm: 10, tpm: 2_000 };
    const env = await mockEnv(t, startOpenAIMock, { limits });
    const pacer = env.make({ limits, seed: 14 });
    const outputs = await burst(provider(env, pacer).chat("gpt-test"), 30, 100);
    assert.deepEqual(outputs, Array(CALLS).fill(30));
    await drained(pacer);
    const m = env.mock.stats;
    assert.equal(m.limited, 0, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(pacer.stats().rateLimited, 0);
    // Streams too: the provider asks for `stream_options.include_usage`.
    assert.equal(pacer.stats().outputTokensUsed, CALLS * 30);
    assert.ok(env.clock.elapsed >= 3 * 60_000 && env.clock.elapsed <= 5 * 60_000, `elapsed ${env.clock.elapsed}`);
  });

  test(`${CALLS} calls of the Responses API (the provider's default) with the limits configured: all succeed, none refused`, async (t) => {
    const limits = { rpm: 10, tpm: 2_000 };
    const env = await mockEnv(t, startOpenAIMock, { limits });
    const pacer = env.make({ limits, seed: 16 });
    const outputs = await burst(provider(env, pacer)("gpt-test"), 30, 100);
    assert.deepEqual(outputs, Array(CALLS).fill(30));
    await drained(pacer);
    assert.ok(env.mock.log.every((e) => e.path === "/v1/responses"));
    const m = env.mock.stats;
    assert.equal(m.limited, 0, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    const s = pacer.stats();
    assert.equal(s.rateLimited, 0);
    // The usage of JSON answers and of streams' `response.completed` events.
    assert.equal(s.outputTokensUsed, CALLS * 30);
    assert.equal(s.inputTokensUsed, m.inputTokens);
    assert.ok(env.clock.elapsed >= 3 * 60_000 && env.clock.elapsed <= 5 * 60_000, `elapsed ${env.clock.elapsed}`);
  });

  test(`${CALLS} calls learning the limits from headers: all succeed, hardly any 429`, async (t) => {
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 10, tpm: 2_000 }, virtualLatencyMs: 50 });
    const pacer = env.make({ concurrency: 2, seed: 15 });
    const outputs = await burst(provider(env, pacer).chat("gpt-test"), 30, 100);
    assert.deepEqual(outputs, Array(CALLS).fill(30));
    await drained(pacer);
    const m = env.mock.stats;
    assert.ok(m.limited <= 2, `the mock refused ${m.limited}: ${JSON.stringify(m.limitedBy)}`);
    assert.equal(m.requests, CALLS + m.limited);
    const l = oneKey(pacer);
    assert.deepEqual([l.requests.limit, l.tokens.limit, l.tokens.source], [10, 2_000, "headers"]);
  });
});
