// Run with --expose-gc: pacers the program drops are freed, with their options. Each pacer
// gets a `fetch` of its own, watched by a WeakRef: once the module frees the pacer, nothing
// holds that function. Prints how many of them are still held after the collections, and
// whether a call whose pacer was dropped while it was in flight still settled.
import { Pacer } from "llm-pacer";

const N = 200;
const refs = [];
async function one(i) {
  const fetch = async () =>
    new Response(JSON.stringify({ usage: { input_tokens: 1, output_tokens: 1 } }), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  refs.push(new WeakRef(fetch));
  const pacer = new Pacer({ fetch, ...(i % 2 ? { limits: { rpm: 1000 } } : {}) });
  const res = await pacer.fetch("https://api.anthropic.com/v1/messages", {
    method: "POST",
    body: JSON.stringify({ model: "claude-haiku-4-5", max_tokens: 8, messages: [] }),
  });
  await res.text();
  if (i % 3 === 0) pacer.close();
}
for (let i = 0; i < N; i++) await one(i);

// A stream delivered by a pacer dropped since, read after the collections: whole.
const sse = async () =>
  new Response(
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n',
    { status: 200, headers: { "content-type": "text/event-stream" } },
  );
const streamed = await new Pacer({ fetch: sse }).fetch("https://api.anthropic.com/v1/messages", {
  method: "POST",
  body: JSON.stringify({ model: "claude-haiku-4-5", max_tokens: 8, stream: true, messages: [] }),
});

// A call whose pacer is dropped at once, before its (slow) answer: it still settles.
const slow = () => new Promise((r) => setTimeout(() => r(new Response("{}", { status: 200 })), 200));
const pending = new Pacer({ fetch: slow }).fetch("https://api.anthropic.com/v1/messages", {
  method: "POST",
  body: "{}",
});
for (let k = 0; k < 10; k++) {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 30));
}
const dropped = await pending.then(
  (r) => r.status,
  (e) => `rejected ${e}`,
);
const text = await streamed.text();
const held = refs.filter((r) => r.deref() !== undefined).length;
console.log(JSON.stringify({ pacers: N, held, dropped, streamed: text.includes('"output_tokens":7') }));
