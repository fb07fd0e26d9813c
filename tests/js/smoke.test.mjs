// Smoke test of the built package (scripts/build-pkg.mjs): both module systems, a few real
// calls through `pacer.fetch` against an inline HTTP server, in virtual time (a fake clock, so
// a `retry-after: 1` costs no real second), the stats, and option errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { Pacer, PacerError, ClosedError, PacerTimeoutError } from "llm-pacer";

const require = createRequire(import.meta.url);

let server;
let base;
const hits = new Map(); // path -> requests seen
const sockets = new Set();

before(async () => {
  server = createServer((req, res) => {
    const n = (hits.get(req.url) ?? 0) + 1;
    hits.set(req.url, n);
    let received = "";
    req.on("data", (chunk) => (received += chunk));
    req.on("end", () => {
      const json = (status, body, headers = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url === "/hang") return; // never answers
      if (req.url === "/reset") return req.socket.destroy();
      if (req.url === "/503-once" && n === 1) {
        res.writeHead(503);
        return res.end("busy");
      }
      if (req.url === "/ok" || req.url === "/503-once") {
        json(200, {
          type: "message",
          echo: received,
          usage: { input_tokens: 12, cache_read_input_tokens: 5, output_tokens: 34 },
        });
      } else if (req.url === "/limited-once") {
        if (n === 1) {
          json(
            429,
            { type: "error", error: { type: "rate_limit_error", message: "slow down" } },
            { "retry-after": "1" },
          );
        } else {
          json(200, { usage: { prompt_tokens: 7, completion_tokens: 3 } });
        }
      } else if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const events = [
          ["message_start", { type: "message_start", message: { usage: { input_tokens: 20, output_tokens: 1 } } }],
          ["content_block_delta", { type: "content_block_delta", delta: { type: "text_delta", text: "hi" } }],
          ["message_delta", { type: "message_delta", usage: { output_tokens: 9 } }],
          ["message_stop", { type: "message_stop" }],
        ];
        // Cut the stream mid-line to exercise the incremental parser.
        const text = events.map(([e, d]) => `event: ${e}\r\ndata: ${JSON.stringify(d)}\r\n\r\n`).join("");
        res.write(text.slice(0, 40));
        setImmediate(() => res.end(text.slice(40)));
      } else {
        json(404, { error: { type: "not_found_error" } });
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(resolve));
});

/** A virtual clock: `sleep` moves time forward at once (unless aborted first). */
function fakeClock(start = Date.UTC(2026, 0, 1)) {
  const clock = {
    t: start,
    sleeps: [],
    now: () => clock.t,
    sleep(ms, signal) {
      clock.sleeps.push(ms);
      return new Promise((resolve, reject) => {
        setImmediate(() => {
          if (signal?.aborted) return reject(signal.reason);
          clock.t += ms;
          resolve();
        });
      });
    },
  };
  return clock;
}

/** Let the event loop turn until `cond()` holds (no timers, no real waiting). */
async function until(cond, what) {
  for (let i = 0; i < 10_000; i++) {
    if (cond()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const post = (body = { max_tokens: 100, messages: [{ role: "user", content: "Hello" }] }) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

test("import and require load the same module instance", () => {
  const cjs = require("llm-pacer");
  assert.equal(cjs.Pacer, Pacer);
  assert.equal(cjs.PacerError, PacerError);
  assert.equal(typeof new cjs.Pacer().fetch, "function");
});

test("a 200 is delivered and its usage settled from a clone of the body", async () => {
  const pacer = new Pacer({ clock: fakeClock(), limits: { rpm: 60 } });
  const { fetch } = pacer; // bound: works detached
  const res = await fetch(`${base}/ok`, post());
  assert.equal(res.status, 200);
  // The caller's body is intact.
  assert.equal((await res.json()).type, "message");
  await until(() => pacer.stats().inFlight === 0, "the usage to settle");
  const s = pacer.stats();
  assert.equal(s.requests, 1);
  assert.equal(s.attempts, 1);
  assert.equal(s.retries, 0);
  assert.equal(s.inputTokensUsed, 12); // cache reads do not count
  assert.equal(s.outputTokensUsed, 34);
  assert.equal(s.outputTokensReserved, 100); // max_tokens
  assert.ok(s.inputTokensReserved > 0);
  assert.equal(pacer.limits().length, 1, "one limit key");
  assert.equal(pacer.limits()[0].requests.source, "configured");
});

test("a 429 with retry-after: 1 is retried after the hint, in virtual time", async () => {
  const clock = fakeClock();
  const t0 = clock.t;
  const events = [];
  const pacer = new Pacer({ clock, seed: 1, onEvent: (e) => events.push(e) });
  const res = await pacer.fetch(`${base}/limited-once`, post());
  assert.equal(res.status, 200);
  assert.equal(hits.get("/limited-once"), 2);
  assert.ok(clock.t - t0 >= 1000, `waited ${clock.t - t0} ms of virtual time`);
  assert.ok(clock.t - t0 <= 1100, `waited ${clock.t - t0} ms of virtual time`);
  // The wait went through the given clock (a real one would also have slept, but a wall-time
  // bound is flaky on a loaded machine).
  assert.ok(
    clock.sleeps.some((ms) => ms >= 1000 && ms <= 1100),
    `sleeps ${clock.sleeps}`,
  );
  await res.text();
  await until(() => pacer.stats().inFlight === 0, "the usage to settle");
  const s = pacer.stats();
  assert.equal(s.attempts, 2);
  assert.equal(s.retries, 1);
  assert.equal(s.rateLimited, 1);
  assert.equal(s.inputTokensUsed, 7);
  assert.equal(s.outputTokensUsed, 3);
  const retry = events.find((e) => e.type === "retry");
  assert.equal(retry.reason, "rate_limited");
  assert.ok(retry.delayMs >= 1000);
  for (const e of events) {
    const optional = ["latencyMs", "status", "usage"]; // once a response arrived / usage settled
    assert.deepEqual(
      Object.keys(e)
        .filter((k) => !optional.includes(k))
        .sort(),
      ["at", "attempt", "delayMs", "id", "key", "model", "reason", "type"],
    );
  }
  assert.equal(retry.status, 429);
});

test("an SSE stream is delivered at once and its usage read from the events", async () => {
  const pacer = new Pacer({ clock: fakeClock() });
  const res = await pacer.fetch(`${base}/stream`, post({ max_tokens: 50, stream: true, messages: [] }));
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const text = await res.text();
  assert.match(text, /message_stop/);
  await until(() => pacer.stats().inFlight === 0, "the stream's usage");
  assert.equal(pacer.stats().inputTokensUsed, 20);
  assert.equal(pacer.stats().outputTokensUsed, 9);
});

test("abort, close and errors", async () => {
  const clock = fakeClock();
  const pacer = new Pacer({ clock, limits: { rpm: 1 } });
  // An already aborted signal rejects at once with its reason.
  const reason = new Error("stop");
  await assert.rejects(pacer.fetch(`${base}/ok`, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
  assert.equal(pacer.stats().requests, 0);

  // rpm 1: the first call goes, the second waits in the queue; close rejects it with CLOSED.
  const first = pacer.fetch(`${base}/ok`, post());
  const second = pacer.fetch(`${base}/ok`, post());
  await until(() => pacer.stats().queued === 1 && pacer.stats().inFlight === 1, "one queued, one in flight");
  pacer.close();
  await assert.rejects(second, (e) => e instanceof ClosedError && e instanceof PacerError && e.code === "CLOSED");
  assert.equal((await first).status, 200); // the in-flight one finishes
  await assert.rejects(pacer.fetch(`${base}/ok`), (e) => e.code === "CLOSED");
});

test("timeoutMs aborts the attempt on the wire; a caller abort rejects with its reason", async () => {
  const pacer = new Pacer({ clock: fakeClock(), timeoutMs: 5000 });
  await assert.rejects(
    pacer.fetch(`${base}/hang`),
    (e) => e instanceof PacerTimeoutError && e.code === "TIMEOUT" && e.timeoutMs === 5000,
  );
  assert.equal(pacer.stats().inFlight, 0);

  const controller = new AbortController();
  const call = pacer.fetch(`${base}/hang`, { signal: controller.signal });
  await until(() => pacer.stats().inFlight === 1, "the attempt to start");
  const reason = new Error("user stop");
  controller.abort(reason);
  await assert.rejects(call, (e) => e === reason);
  assert.equal(pacer.stats().inFlight, 0);
});

test("request bodies: a Request is cloned per attempt, a stream is sent only once", async () => {
  const pacer = new Pacer({ clock: fakeClock(), seed: 3 });
  const request = new Request(`${base}/503-once`, { method: "POST", body: '{"a":1}' });
  const res = await pacer.fetch(request);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).echo, '{"a":1}'); // the retry sent the body again
  assert.equal(pacer.stats().retries, 1);
  assert.equal(request.bodyUsed, false); // the caller's Request is untouched

  hits.delete("/503-once");
  const body = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode("x"));
      c.close();
    },
  });
  const once = await pacer.fetch(`${base}/503-once`, { method: "POST", body, duplex: "half" });
  assert.equal(once.status, 503); // returned as it is: the body cannot be sent again
  assert.equal(hits.get("/503-once"), 1);
});

test("network errors are retried, then the fetch error itself rejects", async () => {
  const pacer = new Pacer({ clock: fakeClock(), retry: { maxRetries: 2 } });
  await assert.rejects(pacer.fetch(`${base}/reset`), (e) => e instanceof TypeError && !(e instanceof PacerError));
  assert.equal(pacer.stats().attempts, 3);
  assert.equal(pacer.stats().networkErrors, 3);
});

test("with a clock, the pacer never reads Date.now nor calls setTimeout", async () => {
  let n = 0;
  const fetch = async () =>
    ++n === 1
      ? new Response("{}", { status: 503, headers: { "retry-after": "2" } })
      : new Response('{"usage":{"input_tokens":1,"output_tokens":1}}', {
          headers: { "content-type": "application/json" },
        });
  const clock = fakeClock();
  const real = { now: Date.now, setTimeout: globalThis.setTimeout };
  const used = [];
  Date.now = () => (used.push("Date.now"), real.now());
  globalThis.setTimeout = (...args) => (used.push("setTimeout"), real.setTimeout(...args));
  try {
    const pacer = new Pacer({ clock, fetch, timeoutMs: 120_000, limits: { rpm: 1 } });
    const res = await pacer.fetch("https://api.example/v1/messages", post());
    assert.equal(res.status, 200);
    await res.text();
    await until(() => pacer.stats().inFlight === 0, "the usage");
    assert.equal(pacer.stats().retries, 1);
  } finally {
    Date.now = real.now;
    globalThis.setTimeout = real.setTimeout;
  }
  assert.deepEqual(used, []);
  assert.ok(clock.sleeps.length > 0);
});

test("a bad option throws TypeError or RangeError naming it", () => {
  assert.throws(
    () => new Pacer({ retry: { maxRetries: "3" } }),
    (e) => e instanceof TypeError && /retry\.maxRetries/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ concurrency: 0 }),
    (e) => e instanceof RangeError && /concurrency/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ retry: { jitter: "wild" } }),
    (e) => e instanceof RangeError && /retry\.jitter/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ clock: { now: () => 0 } }),
    (e) => e instanceof TypeError && /clock\.sleep/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ budget: true }),
    (e) => e instanceof TypeError && /budget/.test(e.message),
  );
  // Unknown keys throw, naming the closest option.
  assert.throws(
    () => new Pacer({ budgte: false }),
    (e) => e instanceof TypeError && /"budgte"; did you mean "budget"/.test(e.message),
  );
});
