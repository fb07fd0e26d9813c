// A stream its caller stops reading, over a real socket: the connection closes, as it does
// with raw `fetch`, so that the model stops generating. The server (node:http on loopback)
// writes an Anthropic stream of up to 200,000 deltas (about 30 MB, more than the sockets'
// buffers hold) as fast as its socket takes them, and records how many it wrote before the
// connection closed. Raw `fetch` is the control: it shows the server sees an early close.
// (The Vercel AI SDK's `streamText` is not among them: leaving a loop over its `textStream`
// does not cancel the response's body even with raw `fetch`, as it tees the stream for its
// other results; pass it an `abortSignal`.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Pacer } from "llm-pacer";
import { bounded, drained } from "./lib/harness.mjs";
import { STOP_WAYS } from "./lib/stop-reading.mjs";

const DELTAS = 200_000;
const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
const START = ev("message_start", {
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-test",
    content: [],
    stop_reason: null,
    usage: { input_tokens: 5, output_tokens: 1 },
  },
});
const BLOCK = ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
const DELTA = ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "word " } });
const END =
  ev("content_block_stop", { index: 0 }) +
  ev("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: DELTAS } }) +
  ev("message_stop", {});

/** The last stream's fate: how many deltas were written, and whether it closed early. */
let last;
let server;
let url;

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    const s = { sent: 0, closedEarly: false, done: false };
    last = s;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(START + BLOCK);
    res.on("close", () => {
      if (!s.done) s.closedEarly = true;
      s.done = true;
    });
    const pump = () => {
      while (!s.done && s.sent < DELTAS) {
        s.sent++;
        if (!res.write(DELTA)) return void res.once("drain", pump);
      }
      if (!s.done) {
        s.done = true;
        res.end(END);
      }
    };
    pump();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

const init = () => ({
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" },
  body: JSON.stringify({ model: "claude-test", max_tokens: 1024, stream: true, messages: [] }),
});

/** Wait (in real time, bounded) until the server's stream is over; how it ended. */
async function fate() {
  const s = last;
  await bounded(
    (async () => {
      while (!s.done) await new Promise((r) => setTimeout(r, 5));
    })(),
    "the server's stream to end",
  );
  return s;
}

for (const [how, stop] of STOP_WAYS) {
  test(`control: raw fetch, a caller that ${how}: the server sees the connection close early`, async () => {
    await stop((await fetch(`${url}/v1/messages`, init())).body);
    const s = await fate();
    assert.ok(s.closedEarly && s.sent < DELTAS, `closed early: ${s.closedEarly}, ${s.sent} deltas written`);
  });

  test(`pacer.fetch, a caller that ${how}: the connection closes early, the call settles`, async () => {
    const pacer = new Pacer();
    await stop((await pacer.fetch(`${url}/v1/messages`, init())).body);
    const s = await fate();
    assert.ok(s.closedEarly && s.sent < DELTAS, `closed early: ${s.closedEarly}, ${s.sent} deltas written`);
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    pacer.close();
  });
}
