// Benchmark (f), time to first byte of a healthy stream: the pacer peeks each 200 event
// stream's first event (to retry an in-stream error before the caller sees a byte), so the
// caller's first chunk must come no later than without it. Measured from the call to the
// first chunk the caller reads, raw `fetch` against `pacer.fetch`, to a local node:http server
// in a child process (its own event loop) that answers an Anthropic-like stream: the head,
// `message_start` after --first-ms, then the rest.
//
//   node scripts/bench/ttft.mjs [--calls N] [--first-ms MS] [--rounds R]
//
// Rounds alternate (raw, pacer, raw, pacer, ...; R of each, N sequential calls each) so that
// drift in the machine's load falls on both alike; p50 and p99 over all calls of each side.

import { fork } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args[i + 1]);
};

if (args[0] === "--server") {
  const firstMs = flag("--first-ms", 20);
  const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const start = sse("message_start", {
    type: "message_start",
    message: {
      id: "msg_bench",
      type: "message",
      role: "assistant",
      model: "claude-bench",
      content: [],
      usage: { input_tokens: 12, output_tokens: 1 },
    },
  });
  const rest = [
    sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    sse("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: "Hello!" },
    }),
    sse("content_block_stop", { type: "content_block_stop", index: 0 }),
    sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } }),
    sse("message_stop", { type: "message_stop" }),
  ].join("");
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
      res.flushHeaders();
      setTimeout(() => {
        res.write(start);
        setTimeout(() => res.end(rest), 5);
      }, firstMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
} else {
  const { Pacer } = await import("llm-pacer");
  const CALLS = flag("--calls", 100);
  const ROUNDS = flag("--rounds", 4);
  const FIRST_MS = flag("--first-ms", 20);
  const child = fork(fileURLToPath(import.meta.url), ["--server", "--first-ms", String(FIRST_MS)]);
  const port = await new Promise((resolve) => child.once("message", resolve));
  const url = `http://127.0.0.1:${port}/v1/messages`;
  const init = () => ({
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-bench" },
    body: JSON.stringify({
      model: "claude-bench",
      max_tokens: 16,
      stream: true,
      messages: [{ role: "user", content: "Hi" }],
    }),
  });
  const pacer = new Pacer({});
  /** ms from the call to the first chunk the caller reads; the body is then read to its end. */
  async function one(f) {
    const t0 = performance.now();
    const res = await f(url, init());
    const reader = res.body.getReader();
    const first = await reader.read();
    const ttft = performance.now() - t0;
    if (first.done) throw new Error("empty stream");
    while (!(await reader.read()).done);
    return ttft;
  }
  const sides = { raw: [], pacer: [] };
  const fns = { raw: (u, i) => fetch(u, i), pacer: pacer.fetch };
  for (let i = 0; i < 10; i++) for (const s of ["raw", "pacer"]) await one(fns[s]); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of ["raw", "pacer"]) for (let i = 0; i < CALLS; i++) sides[s].push(await one(fns[s]));
  }
  const q = (xs, p) => {
    const a = [...xs].sort((x, y) => x - y);
    return a[Math.min(a.length - 1, Math.floor(p * a.length))];
  };
  const row = (s) =>
    `${s.padEnd(6)} p50 ${q(sides[s], 0.5).toFixed(2).padStart(7)} ms   p99 ${q(sides[s], 0.99).toFixed(2).padStart(7)} ms`;
  console.log(`TTFT, ${ROUNDS * CALLS} sequential streams per side, first event ${FIRST_MS} ms after the head`);
  console.log(row("raw"));
  console.log(row("pacer"));
  console.log(
    `pacer - raw: p50 ${(q(sides.pacer, 0.5) - q(sides.raw, 0.5)).toFixed(2)} ms, p99 ${(q(sides.pacer, 0.99) - q(sides.raw, 0.99)).toFixed(2)} ms (aim: within 1 ms at p50)`,
  );
  pacer.close();
  child.kill();
}
