// The watch of delivered JSON bodies (pkg-template/body-watch.js), on its own: what it holds.
// A response whose body the caller reads is handed over at once; one not read by the time
// the watch's timer calls back is read from a clone (contract-regressions.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { jsonBodies, usageNumbers } from "../../pkg-template/body-watch.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");
const nextTask = () => new Promise((r) => setImmediate(r));

test("a response whose body the caller read is not held until the timer: a busy loop keeps none", async () => {
  const reports = [];
  // The timer never calls back: as in a loop whose every step is a microtask.
  const watch = jsonBodies(
    () => {},
    (id, doc) => reports.push([id, doc?.usage?.input_tokens]),
  );
  // Each response made and read in a frame of its own, so that no frame of this test holds one.
  const readOne = async (i) => {
    const r = new Response(JSON.stringify({ usage: { input_tokens: i } }), {
      headers: { "content-type": "application/json" },
    });
    watch(r, i);
    await r.json();
    return new WeakRef(r);
  };
  const refs = [];
  for (let i = 0; i < 200; i++) refs.push(await readOne(i));
  assert.equal(reports.length, 200);
  assert.deepEqual(reports[199], [199, 199]);
  for (let i = 0; i < 3; i++) {
    await nextTask();
    gc();
  }
  assert.equal(refs.filter((w) => w.deref() !== undefined).length, 0, "read responses collected");
});

test("a response nobody read yet is held until the timer, then read from a clone", async () => {
  let due;
  const reports = [];
  const watch = jsonBodies(
    (f) => void (due = f),
    (id, doc, text) => reports.push([id, text, new TextDecoder().decode(doc)]),
  );
  watch(new Response('{"usage":{"input_tokens":3}}', { headers: { "content-type": "application/json" } }), 7);
  await nextTask();
  gc();
  assert.equal(reports.length, 0);
  due();
  for (let i = 0; i < 3 && reports.length === 0; i++) await nextTask();
  assert.deepEqual(reports, [[7, true, '{"usage":{"input_tokens":3}}']]);
});

test("a parsed document's usage goes over as its numbers: a row per place, NaN where nothing is", () => {
  const N = Number.NaN;
  const rows = (doc) => {
    const n = Array.from(usageNumbers(doc));
    return [n.slice(0, 9), n.slice(9, 18), n.slice(18, 27), n.slice(27, 36), n.length];
  };
  // input_tokens, prompt_tokens, promptTokenCount, cache_creation_input_tokens,
  // cache_read_input_tokens, output_tokens, completion_tokens, candidatesTokenCount,
  // thoughtsTokenCount; at usage, message.usage, response.usage, usageMetadata.
  const none = [N, N, N, N, N, N, N, N, N];
  assert.deepEqual(rows({ usage: { input_tokens: 12, output_tokens: 34, cache_read_input_tokens: 0 } }), [
    [12, N, N, N, 0, 34, N, N, N],
    none,
    none,
    none,
    36,
  ]);
  assert.deepEqual(
    rows({
      message: { usage: { input_tokens: 5 } },
      response: { usage: { prompt_tokens: 7, completion_tokens: 2 } },
      usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 3, thoughtsTokenCount: 1 },
    }),
    [none, [5, N, N, N, N, N, N, N, N], [N, 7, N, N, N, N, 2, N, N], [N, N, 9, N, N, N, N, 3, 1], 36],
  );
  // Only numbers count; a path through something that is not an object finds nothing.
  assert.deepEqual(
    rows({ usage: { input_tokens: "12", output_tokens: null }, message: "usage", response: [] })[0],
    none,
  );
  for (const doc of [undefined, null, 3, "x", {}]) assert.equal(rows(doc)[4], 36);
  // A top-level array (Gemini's stream without `alt=sse`): the rows of each element with a
  // usage object, in order.
  const gemini = [
    { candidates: [], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 1 } },
    { candidates: [] },
    [{ usage: { input_tokens: 99 } }],
    7,
    { usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 40, thoughtsTokenCount: 12 } },
  ];
  const n = Array.from(usageNumbers(gemini));
  assert.equal(n.length, 72);
  assert.deepEqual(n.slice(27, 36), [N, N, 9, N, N, N, N, 1, N]);
  assert.deepEqual(n.slice(63, 72), [N, N, 9, N, N, N, N, 40, 12]);
  assert.deepEqual([...n.slice(0, 27), ...n.slice(36, 63)], Array(54).fill(N));
  assert.equal(usageNumbers([]).length, 0);
  assert.equal(usageNumbers([1, [{ usage: { input_tokens: 1 } }]]).length, 0);
  // A document that cannot be walked gives nothing at all.
  const throwing = {
    get usage() {
      throw new Error("no");
    },
  };
  assert.equal(usageNumbers(throwing).length, 0);
});
