// Regressions: gaps between the package and its contract that these tests found (as `todo`
// tests first), each closed since: a stream body counted retries it could not make
// (Engine::not_replayable), a usage correction counted twice when a response taught a bucket
// in the very millisecond of its admission (Ticket::serial), and the preset table.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pacer, PacerError } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { Readable } from "node:stream";
import { anthropicInit, openaiInit, mockEnv, bounded, drained, oneKey, until } from "./lib/harness.mjs";

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

  test("usage is read without a clone where the caller reads the JSON itself or its body, from a clone otherwise, never from an empty body", async () => {
    let clones = 0;
    /** @param {string | Uint8Array} body @param {Record<string, string>} headers */
    const respond = (body, headers) => new Response(body, { status: 200, headers });
    // Counted on the prototype: the pacer clones through it.
    const clone = Response.prototype.clone;
    Response.prototype.clone = function () {
      clones++;
      return clone.call(this);
    };
    const json = (n) => () =>
      respond(JSON.stringify({ usage: { input_tokens: 3, output_tokens: n } }), { "content-type": "application/json" });
    const replies = [
      // Bytes, so that no content-type is set: a 2xx without one is otherwise read as JSON.
      () => respond(new Uint8Array(0), { "content-length": "0" }),
      json(4),
      json(5),
      json(6),
      json(7),
    ];
    try {
      const pacer = new Pacer({ fetch: async () => replies.shift()() });
      const url = "https://api.example.invalid/v1/x";
      await (await pacer.fetch(url)).text();
      await drained(pacer);
      assert.equal(clones, 0, "nothing to read");
      // The caller reads it as text, then as JSON: the pacer sees what they read.
      assert.equal((await (await pacer.fetch(url)).text()).length > 0, true);
      assert.deepEqual((await (await pacer.fetch(url)).json()).usage, { input_tokens: 3, output_tokens: 5 });
      await drained(pacer);
      assert.equal(clones, 0, "read as the caller reads it");
      assert.equal(pacer.stats().outputTokensUsed, 9);
      // Read as a stream: read through, its bytes kept for the pacer.
      const streamed = await pacer.fetch(url);
      assert.equal(streamed.body, streamed.body, "one body");
      await new Response(streamed.body).text();
      await drained(pacer);
      assert.equal(clones, 0, "a stream read is read through");
      // Never read: cloned after a macrotask, so the usage is still known.
      await pacer.fetch(url);
      await new Promise((r) => setTimeout(r, 5));
      await drained(pacer);
      assert.equal(clones, 1, "an unread body is cloned");
      assert.equal(pacer.stats().outputTokensUsed, 22);
      assert.equal(pacer.stats().inFlight, 0);
    } finally {
      Response.prototype.clone = clone;
    }
  });

  test("a JSON body read as a stream: cancelled at once, as fetch's; looked at, then read by json(), still watched", async () => {
    // A body that gives its first bytes, then nothing until cancelled.
    let cancelled;
    const pacer = new Pacer({
      concurrency: 1,
      fetch: async () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('{"usage":{"input_tokens":3,'));
            },
            cancel(reason) {
              cancelled = reason;
            },
          }),
          { headers: { "content-type": "application/json" } },
        ),
    });
    const url = "https://api.example.invalid/v1/x";
    const res = await pacer.fetch(url);
    const reader = res.body.getReader();
    assert.equal((await reader.read()).value.length, 27);
    await bounded(reader.cancel("enough"), "cancel settles at once", 1_000);
    assert.equal(cancelled, "enough", "the body itself is cancelled");
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0, "its slot is free");
    pacer.close();
    // Looked at, then read by json(): that read is the one watched.
    const json = new Pacer({
      fetch: async () =>
        new Response(JSON.stringify({ usage: { input_tokens: 3, output_tokens: 5 } }), {
          headers: { "content-type": "application/json" },
        }),
    });
    const r = await json.fetch(url);
    assert.ok(r.body instanceof ReadableStream);
    assert.equal((await r.json()).usage.output_tokens, 5);
    await drained(json);
    assert.equal(json.stats().outputTokensUsed, 5);
  });

  test("the usage of a body read as text or bytes is the usage of its document, whatever its shape", async () => {
    // Each body as the caller reads it, and the input tokens it reports (0: none that counts).
    const cases = [
      // A byte order mark, text that is not ASCII, escapes, a usage object nested elsewhere.
      ["\uFEFF" + JSON.stringify({ content: [{ text: "héllo 🎉 \u2028" }], usage: { input_tokens: 11 } }), 11],
      [JSON.stringify({ type: "message_start", message: { usage: { input_tokens: 12 } } }), 12],
      [JSON.stringify({ choices: [], usage: { prompt_tokens: 13, completion_tokens: 1 } }), 13],
      [JSON.stringify({ response: { usage: { input_tokens: 14 } } }), 14],
      ['{"usage":{"input_tokens":15},"usage":{"input_tokens":16}}', 16],
      ['{"\\u0075sage":{"input_tokens":17}}', 17],
      [JSON.stringify({ data: { usage: { input_tokens: 99 } } }), 0],
      ['{"usage":{"input_tokens":18}} trailing', 0],
      [JSON.stringify({ usage: { input_tokens: -5 } }), 0],
    ];
    for (const read of ["text", "arrayBuffer", "bytes"]) {
      if (typeof Response.prototype[read] != "function") continue; // `bytes()`: Node 22 on
      for (const [text, want] of cases) {
        const pacer = new Pacer({
          fetch: async () => new Response(text, { headers: { "content-type": "application/json" } }),
        });
        const res = await pacer.fetch("https://api.example.invalid/v1/x");
        const got = await res[read]();
        if (read == "text") assert.equal(got, text.replace(/^\uFEFF/, ""), "the caller's text is intact");
        await drained(pacer);
        assert.equal(pacer.stats().inputTokensUsed, want, `${read}: ${text}`);
        assert.equal(pacer.stats().inFlight, 0);
        pacer.close();
      }
    }
  });

  test("a response watched by two pacers (one's fetch is the other's), or frozen, still gives each its usage", async () => {
    const body = () =>
      new Response(JSON.stringify({ usage: { input_tokens: 3, output_tokens: 5 } }), {
        headers: { "content-type": "application/json" },
      });
    const inner = new Pacer({ fetch: async () => body() });
    const outer = new Pacer({ fetch: inner.fetch });
    const res = await outer.fetch("https://api.example.invalid/v1/x");
    assert.ok(res instanceof Response);
    assert.deepEqual((await res.json()).usage, { input_tokens: 3, output_tokens: 5 });
    await drained(outer);
    await drained(inner);
    assert.deepEqual([outer.stats().outputTokensUsed, inner.stats().outputTokensUsed], [5, 5]);
    const frozen = new Pacer({ fetch: async () => Object.freeze(body()) });
    assert.equal((await (await frozen.fetch("https://api.example.invalid/v1/x")).text()).length > 0, true);
    await drained(frozen);
    assert.equal(frozen.stats().outputTokensUsed, 5);
    assert.equal(frozen.stats().inFlight, 0);
  });

  test("an answer's own figures place the output level once: no second give-back for JSON, the give-back for a stream", async () => {
    // OTPM 6,000 configured; one call reserves 1,000 and uses 200. Its answer's figures say
    // 4,800 (with a reset that narrows "4,800", rounded, to [4,700, 4,900]): below the copy's
    // 5,000, so the level comes down to them. A JSON answer's figures may count the
    // give-back already: the level stays. A stream's head came before its output: +800.
    const T = Date.UTC(2026, 11, 4, 7, 30, 0);
    const clock = { now: () => T, sleep: () => Promise.resolve() };
    const headers = {
      date: new Date(T).toUTCString(),
      "anthropic-ratelimit-output-tokens-limit": "6000",
      "anthropic-ratelimit-output-tokens-remaining": "4800",
      "anthropic-ratelimit-output-tokens-reset": new Date(T + 13_000).toISOString().replace(".000Z", "Z"),
    };
    const usage = { input_tokens: 5, output_tokens: 200 };
    const replies = {
      json: () =>
        new Response(JSON.stringify({ type: "message", usage }), {
          headers: { ...headers, "content-type": "application/json" },
        }),
      stream: () =>
        new Response(
          `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { usage: { input_tokens: 5, output_tokens: 1 } } })}\n\n` +
            `event: message_delta\ndata: ${JSON.stringify({ type: "message_delta", usage: { output_tokens: 200 } })}\n\n` +
            `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
          { headers: { ...headers, "content-type": "text/event-stream" } },
        ),
    };
    const levels = {};
    for (const [kind, reply] of Object.entries(replies)) {
      const pacer = new Pacer({ clock, limits: { otpm: 6000 }, fetch: async () => reply() });
      const res = await pacer.fetch("https://api.anthropic.com/v1/messages", {
        method: "POST",
        body: JSON.stringify({ model: "claude-x", max_tokens: 1000, messages: [{ role: "user", content: "Hi" }] }),
      });
      await res.text();
      await drained(pacer);
      levels[kind] = Math.round(oneKey(pacer).outputTokens.remaining);
    }
    assert.deepEqual(levels, { json: 4800, stream: 5600 });
  });
});

describe("a stream's head written at its request's admission", () => {
  test("another call's give-back since then is no one else's use: the share of the refill stays whole", async () => {
    // OTPM 60,000 configured. A stream and a JSON call reserve 20,000 each. The JSON call
    // ends first having used 2,000: 18,000 back. The stream's head comes after, with the
    // figure the server wrote when it admitted it (20,000 left). The copy comes down to it
    // (the cautious side); read as a fresh answer (before session 23), its share of the
    // refill was halved too: full again in 80 s rather than 40.
    const T = Date.UTC(2026, 11, 6, 7, 30, 0);
    const clock = { now: () => T, sleep: () => new Promise(() => {}) };
    const headers = {
      "anthropic-ratelimit-output-tokens-limit": "60000",
      "anthropic-ratelimit-output-tokens-remaining": "20000",
    };
    const sse =
      `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { usage: { input_tokens: 5, output_tokens: 1 } } })}\n\n` +
      `event: message_delta\ndata: ${JSON.stringify({ type: "message_delta", usage: { output_tokens: 20_000 } })}\n\n` +
      `event: message_stop\ndata: {"type":"message_stop"}\n\n`;
    /** @type {(r: Response) => void} */
    let answerStream = () => {};
    const pacer = new Pacer({
      clock,
      limits: { otpm: 60_000 },
      fetch: async (_url, init) => {
        const { stream, max_tokens } = JSON.parse(String(init?.body));
        if (stream) return new Promise((resolve) => (answerStream = resolve));
        const usage = { input_tokens: 5, output_tokens: Math.min(2000, max_tokens) };
        return new Response(JSON.stringify({ type: "message", usage }), {
          headers: { "content-type": "application/json" },
        });
      },
    });
    const call = (stream, max_tokens = 20_000) =>
      pacer.fetch("https://api.anthropic.com/v1/messages", {
        method: "POST",
        body: JSON.stringify({ model: "claude-x", max_tokens, stream, messages: [{ role: "user", content: "Hi" }] }),
      });
    // A first answer ends the blind start (a quarter of the bucket until then).
    await (await call(false, 10)).text();
    await drained(pacer);
    const streamed = call(true);
    await (await call(false)).text();
    await until(() => pacer.stats().outputTokensUsed === 2010, "the JSON call's settlement");
    const before = oneKey(pacer).outputTokens.remaining;
    answerStream(new Response(sse, { headers: { ...headers, "content-type": "text/event-stream" } }));
    await (await streamed).text();
    await drained(pacer);
    const after = oneKey(pacer).outputTokens;
    assert.ok(before > 30_000, `${before}`);
    assert.ok(Math.abs(after.remaining - 20_000) < 100, `${after.remaining}`);
    const fullInS = (after.resetAt - T) / 1000;
    assert.ok(fullInS > 35 && fullInS < 45, `full again in ${fullInS} s`);
  });
});

describe("what the fetch option returns", () => {
  const URL_ = "https://api.example.test/v1/messages";
  const init = { method: "POST", body: JSON.stringify({ model: "m", max_tokens: 5, messages: [] }) };

  test("a thenable that is no Promise is followed to its Response", async () => {
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about
    const fetch = () => ({ then: (ok) => ok(new Response("{}", { status: 200 })) });
    const pacer = new Pacer({ fetch });
    const res = await pacer.fetch(URL_, init);
    assert.equal(res.status, 200);
    assert.equal(pacer.stats().attempts, 1);
  });

  test("a value that is no Response is a network error: retried, then rejected with a TypeError", async () => {
    let calls = 0;
    const fetch = async () => (calls++, 42);
    const pacer = new Pacer({ fetch, retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 1 } });
    await assert.rejects(pacer.fetch(URL_, init), (e) => e instanceof TypeError && /no Response/.test(e.message));
    assert.equal(calls, 3);
    assert.equal(pacer.stats().networkErrors, 3);
  });

  test("a synchronous throw and a rejection are network errors alike", async () => {
    for (const fetch of [
      () => {
        throw new TypeError("sync");
      },
      async () => {
        throw new TypeError("async");
      },
    ]) {
      const pacer = new Pacer({ fetch, retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 } });
      await assert.rejects(pacer.fetch(URL_, init), (e) => e instanceof TypeError && /sync/.test(e.message));
      assert.equal(pacer.stats().attempts, 2);
    }
  });

  test("a rejection with no error value, undefined or null, is a PacerError NETWORK", async () => {
    for (const value of [undefined, null]) {
      const fetch = () => Promise.reject(value);
      const pacer = new Pacer({ fetch, retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 } });
      await assert.rejects(pacer.fetch(URL_, init), (e) => e instanceof PacerError && e.code === "NETWORK");
      assert.equal(pacer.stats().networkErrors, 2, String(value));
    }
  });
});

describe("a Response whose body is not a web stream (a fetch polyfill's, node-fetch's: a Node stream)", () => {
  const URL_ = "https://api.anthropic.com/v1/messages";
  /** A Response as a polyfill makes it: its body (and its clones') a Node stream. */
  const nodeish = (text, init) => {
    const r = new Response(text, init);
    Object.defineProperty(r, "body", { value: Readable.from([text]) });
    Object.defineProperty(r, "clone", { value: () => nodeish(text, init) });
    return r;
  };
  for (const [what, headers] of [
    ["an event stream", { "content-type": "text/event-stream" }],
    ["a JSON answer", { "content-type": "application/json" }],
  ])
    test(`${what}: delivered as it is, and the call settles`, async () => {
      const pacer = new Pacer({ fetch: async () => nodeish('data: {"usage":null}\n\n', { headers }) });
      const res = await bounded(pacer.fetch(URL_, anthropicInit({ body: { stream: true } })), "the call");
      assert.equal(res.status, 200);
      assert.equal(typeof res.body.pipe, "function", "the caller's own body, untouched");
      await drained(pacer);
      assert.equal(pacer.stats().inFlight, 0);
      pacer.close();
    });

  test("a 429 is retried (its body is not read) and the 200 after it delivered", async () => {
    let n = 0;
    const pacer = new Pacer({
      retry: { initialDelayMs: 1, maxDelayMs: 1 },
      fetch: async () =>
        ++n === 1
          ? nodeish('{"type":"error","error":{"type":"rate_limit_error"}}', {
              status: 429,
              headers: { "content-type": "application/json", "retry-after": "0" },
            })
          : nodeish("data: {}\n\n", { headers: { "content-type": "text/event-stream" } }),
    });
    const res = await bounded(pacer.fetch(URL_, anthropicInit()), "the call");
    assert.equal(res.status, 200);
    assert.equal(n, 2);
    await drained(pacer);
    pacer.close();
  });
});
