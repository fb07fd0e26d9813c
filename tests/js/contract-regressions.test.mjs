// Regressions: gaps between the package and its contract that these tests found (as `todo`
// tests first), each closed since: a stream body counted retries it could not make
// (Engine::not_replayable), a usage correction counted twice when a response taught a bucket
// in the very millisecond of its admission (Ticket::serial), and the preset table.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pacer } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { anthropicInit, openaiInit, mockEnv, drained, oneKey } from "./lib/harness.mjs";

describe("closed gaps", () => {
  test("a call whose body is a stream counts no retry it cannot make", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([503, "ok"]);
    const pacer = env.make();
    const json = JSON.stringify({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(json));
        c.close();
      },
    });
    const res = await pacer.fetch(env.url, { ...anthropicInit(), body, duplex: "half" });
    assert.equal(res.status, 503);
    await drained(pacer);
    const s = pacer.stats();
    assert.equal(s.attempts, s.requests + s.retries, JSON.stringify(s));
    assert.ok(!env.events.some((e) => e.type === "retry"), "no retry event for a retry that never happens");
  });

  test("a response in the very ms of its admission does not count its usage twice in a bucket it teaches", async (t) => {
    const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 2, tpm: 1_000 } });
    const pacer = env.make();
    const res = await pacer.fetch(env.url, openaiInit());
    await res.text();
    await drained(pacer);
    assert.equal(oneKey(pacer).tokens.remaining, Number(res.headers.get("x-ratelimit-remaining-tokens")));
  });

  test("a named preset configures its limits", () => {
    const pacer = new Pacer({ preset: "anthropic:tier-1:sonnet", fetch: async () => new Response("{}") });
    pacer.fetch("https://api.example/v1/messages", { method: "POST", body: "{}" });
    assert.equal(oneKey(pacer).requests?.source, "configured");
    pacer.close();
  });

  test("a response whose body is empty (content-length: 0) is not cloned to read usage; a JSON one is", async () => {
    let clones = 0;
    /** @param {string | Uint8Array} body @param {Record<string, string>} headers */
    const respond = (body, headers) => {
      const r = new Response(body, { status: 200, headers });
      r.clone = function () {
        clones++;
        return Response.prototype.clone.call(this);
      };
      return r;
    };
    const replies = [
      // Bytes, so that no content-type is set: a 2xx without one is otherwise read as JSON.
      () => respond(new Uint8Array(0), { "content-length": "0" }),
      () =>
        respond(JSON.stringify({ usage: { input_tokens: 3, output_tokens: 4 } }), {
          "content-type": "application/json",
        }),
    ];
    const pacer = new Pacer({ fetch: async () => replies.shift()() });
    await (await pacer.fetch("https://api.example.invalid/v1/x")).text();
    await drained(pacer);
    assert.equal(clones, 0, "nothing to read");
    await (await pacer.fetch("https://api.example.invalid/v1/x")).text();
    await drained(pacer);
    assert.equal(clones, 1, "the usage is read from a clone");
    assert.equal(pacer.stats().outputTokensUsed, 4);
  });
});
