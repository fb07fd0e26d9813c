// Anthropic's prompt cache through `pacer.fetch`: tokens read from the cache do not count
// against ITPM, so a conversation whose last turn the server reported cached reserves only its
// new blocks, and the turns of an agent go one after another without waiting for a bucket the
// server does not need. A prefix no response reported cached is reserved whole. Virtual time
// shared with the mock, which counts what its `x-mock-*` headers say (as the server would).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit, mockEnv, drained, gap } from "./lib/harness.mjs";

/** About 20,000 tokens as the pacer estimates them (15,000 as the mock counts them). */
const SYSTEM = "You are a careful assistant. ".repeat(2070);
const CACHED = 15_000;

/** Turn `n` of a conversation: the system prompt and the last question marked, as agents do. */
function turn(n) {
  const messages = [];
  for (let i = 0; i < n; i++) {
    messages.push({ role: "user", content: [{ type: "text", text: `question ${i}` }] });
    messages.push({ role: "assistant", content: [{ type: "text", text: `answer ${i}` }] });
  }
  messages.push({
    role: "user",
    content: [{ type: "text", text: `question ${n}`, cache_control: { type: "ephemeral" } }],
  });
  return {
    system: [{ type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } }],
    messages,
  };
}

/**
 * Five turns on a 30,000 ITPM organisation, each sent when the last one's body is read; the
 * mock reports the first turn's prompt written to the cache and the later ones read from it,
 * or (`cache: false`) every prompt counted whole. `options`: more options of the pacer.
 */
async function agent(t, cache, options = {}) {
  const env = await mockEnv(t, startAnthropicMock, { limits: { itpm: 30_000 } });
  const pacer = env.make({ limits: { itpm: 30_000 }, ...options });
  for (let n = 0; n < 5; n++) {
    const headers = !cache
      ? { "x-mock-input-tokens": String(CACHED + 50) }
      : n === 0
        ? { "x-mock-input-tokens": "50", "x-mock-cache-creation-tokens": String(CACHED) }
        : { "x-mock-input-tokens": "50", "x-mock-cache-read-tokens": String(CACHED) };
    const res = await pacer.fetch(env.url, anthropicInit({ body: turn(n), headers }));
    assert.equal(res.status, 200);
    await res.json();
  }
  await drained(pacer);
  return { env, pacer };
}

test("the turns of a cached conversation go at once: only their new blocks are reserved", async (t) => {
  const { env, pacer } = await agent(t, true);
  assert.equal(env.mock.log.length, 5, "no 429");
  for (let i = 0; i < 4; i++) assert.ok(gap(env.mock, i) < 1_000, `turn ${i + 1} waited ${gap(env.mock, i)} ms`);
  const s = pacer.stats();
  assert.ok(s.inputTokensReserved < 21_000 + 4 * 100, `reserved ${s.inputTokensReserved}`);
  assert.equal(s.inputTokensUsed, CACHED + 5 * 50, "what the server counted: the write, not the reads");
});

test("control: the same prompts counted whole wait for the bucket each turn", async (t) => {
  const { env } = await agent(t, false);
  assert.equal(env.mock.log.length, 5, "no 429");
  for (let i = 0; i < 4; i++) assert.ok(gap(env.mock, i) >= 5_000, `turn ${i + 1} after ${gap(env.mock, i)} ms`);
});

test("with the caller's own count (`estimate`), the cached share of it is not reserved again", async (t) => {
  // The caller counts every prompt whole, as a tokenizer or the count_tokens endpoint does;
  // the pacer takes off the prefix the server reported cached, in the caller's units.
  const estimate = ({ body }) => ({ input: CACHED + 50, output: body.max_tokens });
  const { env, pacer } = await agent(t, true, { estimate });
  assert.equal(env.mock.log.length, 5, "no 429");
  for (let i = 0; i < 4; i++) assert.ok(gap(env.mock, i) < 1_000, `turn ${i + 1} waited ${gap(env.mock, i)} ms`);
  const s = pacer.stats();
  assert.ok(s.inputTokensReserved >= CACHED + 50, "the first turn's prompt whole");
  assert.ok(s.inputTokensReserved < CACHED + 50 + 4 * 200, `reserved ${s.inputTokensReserved}`);
});
