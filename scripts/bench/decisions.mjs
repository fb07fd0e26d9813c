// Benchmark (b), decision cost across the JS -> Wasm boundary, side by side with the per-task
// scheduling overhead of bottleneck and p-queue (each scheduling a no-op task).
//
//   node scripts/bench/decisions.mjs          (scripts/bench/decisions.sh runs the native
//                                              criterion benches first, then this)
//
// Each line is the median over 5 rounds of ~200 ms of ns per call, in two modes:
// - sequential: `await` each call before the next (the latency one call adds);
// - batch: 1,000 calls started at once, then awaited together (throughput per call).
// `pacer.fetch` gets a stub `fetch` that returns a canned Response, so what is measured is the
// pacer: the options and body estimate, the engine's admission decision, the call into the
// stub, the response head with its headers parsed, the delivery, and (for a JSON body) the
// usage read as the caller reads the body (`.json()`: every JSON row but the last reads it).
// The stream rows read a 200 event stream to its end (`text()`, or chunk by chunk as an SDK
// does): the pacer peeks at its first event and reads its usage on the way to the caller.
// `stub fetch alone` is the floor: what the stub itself costs, with the same reading.

import Bottleneck from "bottleneck";
import PQueue from "p-queue";
import { Pacer } from "llm-pacer";
import { CONVERSATION_BODY } from "./fixtures.mjs";

const ROUNDS = 5;
const ROUND_MS = 200;
const BATCH = 1000;

const RATE_HEADERS = {
  "content-type": "application/json",
  "request-id": "req_011CVPJ8y4mZk1H2nB3fXqRt",
  "anthropic-ratelimit-requests-limit": "50000000",
  "anthropic-ratelimit-requests-remaining": "49999999",
  "anthropic-ratelimit-requests-reset": new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, "Z"),
  "anthropic-ratelimit-input-tokens-limit": "30000000000",
  "anthropic-ratelimit-input-tokens-remaining": "29999990000",
  "anthropic-ratelimit-input-tokens-reset": new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, "Z"),
  "anthropic-ratelimit-output-tokens-limit": "8000000000",
  "anthropic-ratelimit-output-tokens-remaining": "7999990000",
  "anthropic-ratelimit-output-tokens-reset": new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, "Z"),
};
const USAGE_BODY = JSON.stringify({ type: "message", usage: { input_tokens: 12, output_tokens: 34 } });
const sse = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
/** A short Messages stream: its first event (peeked for an error), a delta, the usage. */
const STREAM_BODY =
  sse("message_start", { type: "message_start", message: { id: "m", usage: { input_tokens: 12, output_tokens: 1 } } }) +
  sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } }) +
  sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 34 } }) +
  sse("message_stop", { type: "message_stop" });

/** A longer answer as it streams: its first event, 300 deltas and its usage, a chunk each. */
const LONG_STREAM_CHUNKS = [
  sse("message_start", { type: "message_start", message: { id: "m", usage: { input_tokens: 12, output_tokens: 1 } } }),
  ...Array.from({ length: 300 }, (_, i) =>
    sse("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: ` word${i}` },
    }),
  ),
  sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 34 } }),
  sse("message_stop", { type: "message_stop" }),
].map((s) => new TextEncoder().encode(s));

const stubs = {
  bare: async () => new Response(null, { status: 200 }),
  anthropic: async () => new Response(USAGE_BODY, { status: 200, headers: RATE_HEADERS }),
  longStream: async () =>
    new Response(
      new ReadableStream({
        start(c) {
          for (const chunk of LONG_STREAM_CHUNKS) c.enqueue(chunk);
          c.close();
        },
      }),
      { status: 200, headers: { ...RATE_HEADERS, "content-type": "text/event-stream" } },
    ),
  stream: async () =>
    new Response(STREAM_BODY, { status: 200, headers: { ...RATE_HEADERS, "content-type": "text/event-stream" } }),
};
const URL_ = "https://api.anthropic.com/v1/messages";
const INIT = {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: "claude-bench", max_tokens: 16, messages: [{ role: "user", content: "Hello there" }] }),
};

/** The same request with the headers an SDK sends (the Anthropic SDK's, about a dozen). */
const SDK_INIT = {
  ...INIT,
  headers: {
    accept: "application/json",
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "user-agent": "Anthropic/JS 0.60.0",
    "x-api-key": "sk-ant-bench-0000000000000000000000000000000000000000",
    "x-stainless-arch": "x64",
    "x-stainless-lang": "js",
    "x-stainless-os": "Linux",
    "x-stainless-package-version": "0.60.0",
    "x-stainless-retry-count": "0",
    "x-stainless-runtime": "node",
    "x-stainless-runtime-version": "v20.20.2",
    "x-stainless-timeout": "600",
  },
};

/** A streamed request. */
const STREAM_INIT = {
  ...INIT,
  body: JSON.stringify({
    model: "claude-bench",
    max_tokens: 16,
    stream: true,
    messages: [{ role: "user", content: "Hello there" }],
  }),
};

/** A 64 KB conversation: forty turns of prose, what a chat or an agent sends late in a session. */
const LONG_INIT = { ...INIT, body: CONVERSATION_BODY };

/** @param {() => Promise<unknown>} fn */
async function sequential(fn) {
  const end = performance.now() + ROUND_MS;
  let n = 0;
  const t = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) await fn();
    n += 10;
  }
  return ((performance.now() - t) * 1e6) / n;
}

/** @param {() => Promise<unknown>} fn */
async function batch(fn) {
  const end = performance.now() + ROUND_MS;
  let n = 0;
  const t = performance.now();
  while (performance.now() < end) {
    await Promise.all(Array.from({ length: BATCH }, fn));
    n += BATCH;
  }
  return ((performance.now() - t) * 1e6) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** @param {string} name @param {() => Promise<unknown>} fn */
async function measure(name, fn) {
  await sequential(fn); // warm up
  const seq = [];
  const bat = [];
  for (let r = 0; r < ROUNDS; r++) {
    seq.push(await sequential(fn));
    bat.push(await batch(fn));
  }
  return { name, seq: median(seq), bat: median(bat) };
}

const pacerBare = new Pacer({ fetch: stubs.bare });
const pacerStream = new Pacer({ fetch: stubs.stream });
const pacerLongStream = new Pacer({ fetch: stubs.longStream });
const pacerJson = new Pacer({ fetch: stubs.anthropic });
/** The same with a listener, as `onEvent`, `debug` or `llm-pacer/opentelemetry` add one. */
let events = 0;
const pacerEvents = new Pacer({ fetch: stubs.anthropic, onEvent: () => events++ });
const pacerLimited = new Pacer({
  fetch: stubs.anthropic,
  limits: { rpm: 5e7, itpm: 3e10, otpm: 8e9 },
  concurrency: 1e6,
});
const bottleneck = new Bottleneck();
const bottleneckLimited = new Bottleneck({ maxConcurrent: 1e6, reservoir: 1e12 });
const pq = new PQueue();
const pqLimited = new PQueue({ concurrency: 1e6, intervalCap: 1e12, interval: 60_000 });
const noop = async () => undefined;

const results = [];
/** As a caller does: the response, then its JSON body. */
const json = (r) => r.json();
/** A stream, read to its end. */
const text = (r) => r.text();
/** A stream, read chunk by chunk as an SDK reads it. */
const chunks = async (r) => {
  for await (const _ of r.body);
};
/** Each pacer row's floor: the stub row with the same response and the same reading. */
const floorOf = new Map();
const stubBare = await measure("stub fetch alone, bare 200", () => stubs.bare());
const stubJson = await measure("stub fetch alone, JSON + rate-limit headers", () => stubs.anthropic().then(json));
const stubUnread = await measure("stub fetch alone, JSON, body never read", () => stubs.anthropic());
const stubStream = await measure("stub fetch alone, a 200 event stream", () => stubs.stream().then(text));
const stubLongStream = await measure("stub fetch alone, a stream of 300 deltas", () => stubs.longStream().then(chunks));
results.push(stubBare, stubJson, stubUnread, stubStream, stubLongStream);
const paced = async (name, floor, fn) => {
  const r = await measure(name, fn);
  floorOf.set(r, floor);
  results.push(r);
};
await paced("pacer.fetch, bare 200", stubBare, () => pacerBare.fetch(URL_, INIT));
await paced("pacer.fetch, JSON + rate-limit headers", stubJson, () => pacerJson.fetch(URL_, INIT).then(json));
await paced("pacer.fetch, same + limits + concurrency", stubJson, () => pacerLimited.fetch(URL_, INIT).then(json));
await paced("pacer.fetch, same + an onEvent listener", stubJson, () => pacerEvents.fetch(URL_, INIT).then(json));
await paced("pacer.fetch, same with an SDK's request headers", stubJson, () =>
  pacerJson.fetch(URL_, SDK_INIT).then(json),
);
await paced("pacer.fetch, same with a 64 KB conversation", stubJson, () => pacerJson.fetch(URL_, LONG_INIT).then(json));
// A caller that never reads the body: the pacer reads a clone of it (after a macrotask).
await paced("pacer.fetch, JSON, body never read", stubUnread, () => pacerJson.fetch(URL_, INIT));
// A stream: its first event peeked (an error there is retried), its usage read from the clone.
await paced("pacer.fetch, a 200 event stream", stubStream, () => pacerStream.fetch(URL_, STREAM_INIT).then(text));
await paced("pacer.fetch, a stream of 300 deltas, a chunk each", stubLongStream, () =>
  pacerLongStream.fetch(URL_, STREAM_INIT).then(chunks),
);
results.push(await measure("bottleneck.schedule(noop), no limits", () => bottleneck.schedule(noop)));
results.push(await measure("bottleneck.schedule(noop), reservoir", () => bottleneckLimited.schedule(noop)));
results.push(await measure("p-queue add(noop), no limits", () => pq.add(noop)));
results.push(await measure("p-queue add(noop), interval cap", () => pqLimited.add(noop)));
results.push(await measure("await noop() (the floor of an async call)", noop));
// One crossing of the boundary that builds a small object, for scale (synchronous).
results.push(await measure("pacer.stats() (one boundary call, an object back)", async () => pacerJson.stats()));

const w = Math.max(...results.map((r) => r.name.length));
const fmt = (ns) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`).padStart(9);
console.log(`${"ns per call (median of 5 rounds)".padEnd(w)}  sequential      batch  net of the stub (seq / batch)`);
for (const r of results) {
  const base = floorOf.get(r);
  const net = base ? `${fmt(r.seq - base.seq)} / ${fmt(r.bat - base.bat)}` : "";
  console.log(`${r.name.padEnd(w)}  ${fmt(r.seq)}  ${fmt(r.bat)}  ${net}`);
}
const s = pacerJson.stats();
const st = pacerStream.stats();
console.log(
  `\n(pacer check: ${s.requests} calls, ${s.attempts} attempts, ${s.inputTokensUsed} input tokens read from usage; streams: ${st.requests} calls, ${st.outputTokensUsed / 34} usages read, long streams ${pacerLongStream.stats().outputTokensUsed / 34} of ${pacerLongStream.stats().requests}; ${(events / pacerEvents.stats().requests).toFixed(1)} events a call to the listener; Node ${process.version})`,
);
await bottleneck.disconnect();
await bottleneckLimited.disconnect();
