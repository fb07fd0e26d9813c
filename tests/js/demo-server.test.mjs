// The demo's local server (pkg/bin/mock-server.mjs), which the fleet bench also runs: its
// streams (the head at admission with the whole `max_tokens` reserved, Anthropic's events,
// the give-back at the end), the rounding of `remaining` a bench asks for, and buckets per
// model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkgDir = realpathSync(join(root, "node_modules", "llm-pacer"));
const { startMockServer } = await import(pathToFileURL(join(pkgDir, "bin", "mock-server.mjs")).href);

const HEADERS = { "x-api-key": "demo", "anthropic-version": "2023-06-01", "content-type": "application/json" };
const body = (/** @type {object} */ extra) =>
  JSON.stringify({ model: "m", max_tokens: 600, messages: [{ role: "user", content: "a".repeat(400) }], ...extra });

/** The `data` of each event of an event stream, by its `event` name. @param {string} text */
const events = (text) =>
  text
    .trim()
    .split("\n\n")
    .map((block) => {
      const [ev, data] = block.split("\n");
      return [ev.replace(/^event: /, ""), JSON.parse(data.replace(/^data: /, ""))];
    });

test("a stream's head comes at admission with max_tokens reserved; its usage in Anthropic's events", async () => {
  const s = await startMockServer({
    limits: { rpm: 60, itpm: 60_000, otpm: 10_000 },
    tokensPerSecond: 100_000,
    now: () => 0, // the buckets' clock stands still: no refill
  });
  try {
    const res = await fetch(`${s.url}/v1/messages`, { method: "POST", headers: HEADERS, body: body({ stream: true }) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    // 10,000 less the 600 reserved, to the nearest thousand.
    assert.equal(res.headers.get("anthropic-ratelimit-output-tokens-remaining"), "9000");
    const ev = events(await res.text());
    assert.deepEqual(
      ev.map(([name]) => name),
      [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
      ],
    );
    assert.equal(ev[0][1].message.usage.input_tokens, 100);
    const output = ev[4][1].usage.output_tokens;
    assert.ok(output >= 100 && output <= 600, String(output));
    // The unused output went back at the end.
    assert.equal(s.levels()["output-tokens"], 10_000 - output);
    assert.equal(s.stats.outputTokens, output);
    const bad = await fetch(`${s.url}/v1/messages`, {
      method: "POST",
      headers: HEADERS,
      body: body({ stream: "yes" }),
    });
    assert.equal(bad.status, 400);
  } finally {
    await s.close();
  }
});

test("remaining is rounded to the nearest thousand, or down, or up, or exact; the reset up or down", async () => {
  const got = [];
  const resets = [];
  for (const [rounding, reset] of [
    [undefined, undefined],
    ["down", "down"],
    ["up", undefined],
    ["exact", undefined],
  ]) {
    const s = await startMockServer({
      limits: { otpm: 10_000 },
      tokensPerSecond: 100_000,
      rounding,
      reset,
      now: () => 0,
    });
    try {
      const res = await fetch(`${s.url}/v1/messages`, { method: "POST", headers: HEADERS, body: body({}) });
      await res.arrayBuffer();
      got.push(res.headers.get("anthropic-ratelimit-output-tokens-remaining"));
      resets.push(Date.parse(res.headers.get("anthropic-ratelimit-output-tokens-reset") ?? ""));
    } finally {
      await s.close();
    }
  }
  const exact = Number(got[3]);
  const output = 10_000 - exact;
  assert.ok(output >= 100 && output <= 600, String(output));
  assert.deepEqual(got, [String(Math.round(exact / 1000) * 1000), "9000", "10000", got[3]]);
  // Full again output / (10,000 / 60 s) from 0: a whole second above, and below.
  const full = (output / 10_000) * 60_000;
  assert.equal(resets[0], Math.ceil(full / 1000) * 1000);
  assert.equal(resets[1], Math.floor(full / 1000) * 1000);
  await assert.rejects(
    startMockServer({ limits: {}, rounding: "half" }),
    /rounding: nearest, down, up or exact, not half/,
  );
});

test("perModel: each model's requests draw on buckets of its own; by default one set for all", async () => {
  for (const perModel of [true, false]) {
    const s = await startMockServer({ limits: { rpm: 1 }, tokensPerSecond: 100_000, perModel, now: () => 0 });
    try {
      const send = async (/** @type {string} */ model) => {
        const res = await fetch(`${s.url}/v1/messages`, { method: "POST", headers: HEADERS, body: body({ model }) });
        await res.arrayBuffer();
        return [res.status, res.headers.get("anthropic-ratelimit-requests-remaining")];
      };
      assert.deepEqual(await send("a"), [200, "0"]);
      assert.deepEqual(await send("b"), perModel ? [200, "0"] : [429, "0"]);
      assert.deepEqual(await send("a"), [429, "0"]);
      assert.deepEqual(
        Object.entries(s.stats.models).map(([m, c]) => [m, c.admitted]),
        [
          ["a", 1],
          ["b", perModel ? 1 : 0],
        ],
      );
      assert.equal(s.levels("c").requests, perModel ? 1 : 0, "a model not seen yet: full");
    } finally {
      await s.close();
    }
  }
});

test("head before: an answer that is no stream is written before its give-back; outputMax caps the output", async () => {
  const got = {};
  for (const head of ["after", "before"]) {
    const s = await startMockServer({
      limits: { otpm: 10_000 },
      tokensPerSecond: 100_000,
      rounding: "exact",
      head,
      outputMax: 150,
      now: () => 0,
    });
    try {
      const res = await fetch(`${s.url}/v1/messages`, { method: "POST", headers: HEADERS, body: body({}) });
      const usage = (await res.json()).usage;
      assert.ok(usage.output_tokens >= 100 && usage.output_tokens <= 150, String(usage.output_tokens));
      got[head] = Number(res.headers.get("anthropic-ratelimit-output-tokens-remaining"));
      // Either way the server's bucket ends with only the output used.
      assert.equal(s.levels()["output-tokens"], 10_000 - usage.output_tokens);
      got.output = usage.output_tokens;
    } finally {
      await s.close();
    }
  }
  // After: the figures show the give-back; before: the whole max_tokens (600) still held.
  assert.equal(got.after, 10_000 - got.output);
  assert.equal(got.before, 10_000 - 600);
  await assert.rejects(startMockServer({ limits: {}, head: "first" }), /head: after or before, not first/);
});
