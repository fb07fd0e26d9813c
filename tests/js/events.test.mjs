// Events and what they carry (issue 14, points 2-6): the discriminated union's fields (status,
// latency, usage, whole milliseconds), `limits()` sources, the `debug` logger, the warning
// when an SDK retries on top of the pacer, OpenAI streams without usage settled from their
// text, and bodies the estimate does not read costed from their length. Virtual time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pacer, Limiter, RequestTooLargeError } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { anthropicInit, openaiInit, mockEnv, drained } from "./lib/harness.mjs";

test("each event carries what its type knows, in whole milliseconds", async (t) => {
  const env = await mockEnv(t, startAnthropicMock, {
    limits: { rpm: 50, itpm: 30_000, otpm: 8_000 },
    virtualLatencyMs: 37.25,
  });
  env.mock.script([{ status: 429, retryAfter: 1 }, "ok"]);
  const pacer = env.make({ seed: 4 });
  await (await pacer.fetch(env.url, anthropicInit())).text();
  await drained(pacer);
  const byType = (type) => env.events.filter((e) => e.type === type && e.id === 1);
  for (const e of env.events) {
    assert.ok(Number.isInteger(e.delayMs) && Number.isInteger(e.at), JSON.stringify(e));
    if (e.latencyMs !== undefined) assert.ok(Number.isInteger(e.latencyMs));
  }
  const [retry] = byType("retry");
  assert.equal(retry.status, 429);
  assert.ok(retry.latencyMs === 37 || retry.latencyMs === 38, `latency ${retry.latencyMs}`);
  const [settled] = byType("settled");
  assert.equal(settled.reason, "usage");
  assert.equal(settled.status, 200);
  assert.deepEqual(Object.keys(settled.usage).sort(), [
    "cacheCreationInputTokens",
    "cacheReadInputTokens",
    "inputTokens",
    "outputTokens",
  ]);
  assert.equal(settled.usage.outputTokens, env.mock.log[1].usage.output);
  assert.equal(settled.usage.inputTokens, env.mock.log[1].usage.input);
  // Before any response: no status, no latency; a retry's admission has its own.
  for (const e of [...byType("queued"), ...byType("admitted")]) {
    assert.equal(e.status, undefined);
    assert.equal(e.latencyMs, undefined);
  }
  assert.equal(byType("limits")[0].status, 429, "the 429's headers taught the limits");
});

test("limits(): a configured limit the server's headers lowered is `configured+headers`", async (t) => {
  const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 30_000, otpm: 8_000 } });
  const pacer = env.make({ limits: { rpm: 100, otpm: 5_000 } });
  await (await pacer.fetch(env.url, anthropicInit())).text();
  await drained(pacer);
  const l = pacer.limits()[0];
  assert.deepEqual([l.requests.source, l.requests.limit], ["configured+headers", 50]);
  assert.equal(l.outputTokens.source, "configured", "the server's is higher: the configured one holds");
  assert.equal(l.inputTokens.source, "headers");

  const lim = new Limiter({ limits: { rpm: 100 } });
  lim.observe({ "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49" }, 0);
  assert.equal(lim.limits(0).requests.source, "configured+headers");
});

test("debug logs one line per event, with no URL, header or key; LLM_PACER_DEBUG=1 turns it on", async (t) => {
  const lines = [];
  const error = console.error;
  console.error = (line) => lines.push(line);
  t.after(() => (console.error = error));
  const env = await mockEnv(t, startAnthropicMock);
  const run = async (pacer) => {
    await (await pacer.fetch(`${env.url}?key=secret-query`, anthropicInit({ apiKey: "sk-ant-secret-key" }))).text();
    await drained(pacer);
  };
  const before = env.events.length;
  await run(env.make({ debug: true }));
  const events = env.events.length - before;
  assert.equal(lines.length, events, "one line per event");
  assert.match(lines[0], /^llm-pacer: #1 queued submitted attempt=0 delayMs=0 model=claude-test$/);
  assert.ok(
    lines.some((l) => /^llm-pacer: #1 settled usage .*status=200 .*usage=\d+in\/\d+out/.test(l)),
    lines.join("\n"),
  );
  for (const l of lines) assert.doesNotMatch(l, /secret|http|127\.0\.0\.1|sk-ant/);

  lines.length = 0;
  await run(env.make()); // off by default
  assert.equal(lines.length, 0);
  process.env.LLM_PACER_DEBUG = "1";
  try {
    const on = env.make();
    const off = env.make({ debug: false });
    await run(off);
    assert.equal(lines.length, 0, "debug: false wins over the environment");
    await run(on);
    assert.ok(lines.length > 0);
  } finally {
    delete process.env.LLM_PACER_DEBUG;
  }
});

test("an SDK retrying on top of the pacer is told once to set maxRetries: 0", async (t) => {
  const env = await mockEnv(t, startAnthropicMock);
  const pacer = env.make();
  const call = async (count) => {
    const init = anthropicInit({ headers: { "x-stainless-retry-count": String(count) } });
    await (await pacer.fetch(env.url, init)).text();
  };
  await call(0);
  assert.equal(env.events.filter((e) => e.type === "warning").length, 0, "a first attempt is not a retry");
  await call(1);
  await call(2);
  await (
    await pacer.fetch(new Request(env.url, { ...anthropicInit(), headers: { "X-Stainless-Retry-Count": "3" } }))
  ).text();
  await drained(pacer);
  const warnings = env.events.filter((e) => e.type === "warning");
  assert.equal(warnings.length, 1, "once per pacer");
  assert.equal(warnings[0].reason, "sdk_retries");
  assert.match(warnings[0].message, /maxRetries: 0/);
  assert.equal(warnings[0].at, env.clock.now());
});

test("an OpenAI stream without usage settles on its streamed text, and says once how to get usage", async (t) => {
  const env = await mockEnv(t, startOpenAIMock);
  const pacer = env.make({ limits: { tpm: 1e6 } });
  const stream = async (extra) => {
    const init = openaiInit({
      body: { stream: true, max_completion_tokens: 2_000, ...extra },
      headers: { "x-mock-output-tokens": "20" },
    });
    await (await pacer.fetch(env.url, init)).text();
    await drained(pacer);
  };
  await stream({});
  await stream({});
  const settled = env.events.filter((e) => e.type === "settled");
  assert.deepEqual(
    settled.map((e) => e.reason),
    ["estimated", "estimated"],
  );
  const out = settled[0].usage.outputTokens;
  assert.ok(out >= 20 && out < 100, `output estimated at ${out} for 20 real tokens (the reservation was 2000)`);
  assert.ok(settled[0].usage.inputTokens > 0, "the input stays as reserved");
  assert.equal(pacer.stats().outputTokensUsed, 2 * out);
  const warnings = env.events.filter((e) => e.type === "warning");
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].reason, "stream_usage_missing");
  assert.match(warnings[0].message, /include_usage: true/);

  await stream({ stream_options: { include_usage: true } });
  assert.equal(env.events.filter((e) => e.type === "settled").at(-1).reason, "usage");
  assert.equal(env.events.filter((e) => e.type === "settled").at(-1).usage.outputTokens, 20);
});

test("a string body and its UTF-8 bytes are estimated alike, whatever falls on a piece's edge", async () => {
  // The host encodes a string body 16 K bytes at a time, whole code points; bytes are cut
  // anywhere. Emoji (two UTF-16 units), CJK and accented letters straddle every edge here.
  const reserved = async (body) => {
    const pacer = new Pacer({ fetch: async () => new Response("{}") });
    await (await pacer.fetch("https://api.example/v1/messages", { method: "POST", body })).text();
    return pacer.stats().inputTokensReserved;
  };
  for (const pad of [16_381, 16_382, 16_383, 16_384, 16_385, 32_767]) {
    const content = `${"a".repeat(pad)}${"😀中é\uD800".repeat(4000)}`;
    const body = JSON.stringify({ max_tokens: 1, messages: [{ role: "user", content }] });
    const text = await reserved(body);
    assert.equal(text, await reserved(new TextEncoder().encode(body)), `pad ${pad}`);
    // ASCII at 3 characters a token, then one token per character (a lone surrogate too).
    assert.ok(text >= pad / 3 + 16_000 && text < pad / 3 + 16_100, `pad ${pad}: ${text}`);
  }
});

test("bodies the estimate does not read are costed from their length: a bigger body never looks cheaper", async () => {
  const reserved = async (body, input = "https://api.example/v1/messages") => {
    let sent = 0;
    const pacer = new Pacer({
      fetch: async () => (sent++, new Response("{}", { status: 200, headers: { "content-type": "text/plain" } })),
    });
    await (await pacer.fetch(input, body === undefined ? undefined : { method: "POST", body })).text();
    const s = pacer.stats();
    assert.equal(sent, 1);
    return s.inputTokensReserved;
  };
  const json = (chars) => JSON.stringify({ max_tokens: 1, messages: [{ role: "user", content: "a".repeat(chars) }] });
  const small = await reserved(json(3_000_000));
  const huge = await reserved(json(40_000_000)); // over the 32 MiB the estimate reads
  assert.ok(small >= 1_000_000 && small < 1_001_000, `${small}`);
  assert.ok(huge >= 40_000_000 / 3, `a 40 MB string costs ${huge}`);
  assert.ok(huge > small);
  assert.equal(await reserved(new Blob([new Uint8Array(3_000_000)])), 1_000_000, "a Blob by its size");
  assert.equal(await reserved(new Uint8Array(34 << 20)), Math.ceil((34 << 20) / 3), "bytes over the cap");
  assert.equal(await reserved("not json at all"), 5, "a string that is not JSON, by its length");
  const big = new Request("https://api.example/v1/messages", { method: "POST", body: "x".repeat(33 << 20) });
  assert.ok((await reserved(undefined, big)) > (32 << 20) / 3, "a Request's body over the cap");
});

test("a body over a limit by its length is sent from a full bucket: an estimate never refuses", async () => {
  let sent = 0;
  const pacer = new Pacer({ limits: { itpm: 1_000_000 }, fetch: async () => (sent++, new Response("{}")) });
  const res = await pacer.fetch("https://api.example/v1/messages", { method: "POST", body: "x".repeat(40e6) });
  await res.text();
  assert.equal(sent, 1);
  assert.equal(pacer.stats().inputTokensReserved, 1_000_000, "the whole bucket, not 13 million");
  // Counted by the caller, the same input can never fit.
  const counted = new Pacer({
    limits: { itpm: 1_000_000 },
    estimate: () => ({ input: 13_000_000, output: 0 }),
    fetch: async () => (sent++, new Response("{}")),
  });
  await assert.rejects(
    counted.fetch("https://api.example/v1/messages", { method: "POST", body: "{}" }),
    RequestTooLargeError,
  );
  assert.equal(sent, 1);
});
