// The life of a call against the contract (DESIGN.md section 3): abort (before, while queued,
// while backing off, in flight), `timeoutMs` (never sleeps past it; the last Response or
// TIMEOUT), and `close()` (queued calls reject with CLOSED, in-flight ones finish without
// retries, later calls reject, no timer left: a child process exits by itself). Virtual time
// through a VirtualClock shared with the mock servers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { getEventListeners } from "node:events";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { Pacer, PacerError, ClosedError, PacerTimeoutError } from "llm-pacer";
import { startAnthropicMock } from "./mock/index.mjs";
import { T0, VirtualClock, anthropicInit, mockEnv, drained, outcome, isSettled, until } from "./lib/harness.mjs";

/** A `fetch` that waits for `open()` before it sends. */
function gatedFetch() {
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  return { open: () => open(), fetch: async (input, init) => (await gate, globalThis.fetch(input, init)) };
}

/**
 * What a child script of `lib/` (run with `--expose-gc`) prints as JSON; it must exit 0.
 * @param {string} name
 */
async function collectedChild(name) {
  const child = fileURLToPath(new URL(`./lib/${name}`, import.meta.url));
  const p = spawn(process.execPath, ["--expose-gc", child], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (err += d));
  const code = await new Promise((resolve) => p.on("exit", resolve));
  assert.equal(code, 0, err);
  return JSON.parse(out);
}

describe("abort", () => {
  test("an already aborted signal rejects at once with its reason; nothing is sent or counted", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const reason = new Error("changed my mind");
    const p = pacer.fetch(env.url, anthropicInit({ signal: AbortSignal.abort(reason) }));
    assert.ok(await isSettled(p, 1), "settled within one turn");
    await assert.rejects(p, (e) => e === reason);

    // No reason given: the signal's own AbortError.
    const signal = AbortSignal.abort();
    await assert.rejects(
      pacer.fetch(env.url, anthropicInit({ signal })),
      (e) => e === signal.reason && e.name === "AbortError",
    );

    // The signal of a Request input counts too.
    const request = new Request(env.url, { ...anthropicInit(), signal: AbortSignal.abort(reason) });
    await assert.rejects(pacer.fetch(request), (e) => e === reason);

    assert.equal(env.mock.log.length, 0);
    assert.equal(pacer.stats().requests, 0);
    assert.equal(env.events.length, 0);
  });

  test("abort while queued settles at once with the reason; the call is never sent", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.hold = true;
    const pacer = env.make({ limits: { rpm: 1 } });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
    const controller = new AbortController();
    const p = pacer.fetch(env.url, anthropicInit({ signal: controller.signal }));
    await until(() => pacer.stats().queued === 1, "the second call to queue");
    assert.ok(env.events.some((e) => e.id === 2 && e.type === "wait" && e.reason === "requests"));
    assert.equal(await isSettled(p), false);
    const reason = new Error("user left");
    controller.abort(reason);
    assert.ok(await isSettled(p, 1), "settled at once");
    await assert.rejects(p, (e) => e === reason);
    assert.equal(pacer.stats().queued, 0);
    await env.clock.advance(120_000);
    assert.equal(env.mock.log.length, 1, "never sent");
    assert.equal(env.clock.pending.size, 0, "no timer left");
    assert.deepEqual(
      env.events.filter((e) => e.id === 2).map((e) => e.type),
      ["queued", "wait", "giveup"],
    );
  });

  test("abort while backing off settles at once with the reason; no further attempt", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.hold = true;
    env.mock.script([{ status: 429, retryAfter: 30 }, "ok"]);
    const pacer = env.make();
    const controller = new AbortController();
    const p = pacer.fetch(env.url, anthropicInit({ signal: controller.signal }));
    await until(() => env.events.some((e) => e.type === "retry"), "the retry to be scheduled");
    assert.equal(pacer.stats().queued, 1);
    assert.equal(env.clock.pending.size, 1, "the backoff timer");
    const reason = new Error("enough");
    controller.abort(reason);
    assert.ok(await isSettled(p, 1));
    await assert.rejects(p, (e) => e === reason);
    await env.clock.settle();
    assert.equal(env.clock.pending.size, 0, "the timer is cancelled");
    await env.clock.advance(60_000);
    assert.equal(env.mock.log.length, 1);
    assert.equal(pacer.stats().queued, 0);
  });

  test("abort in flight aborts the fetch on the wire", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const controller = new AbortController();
    const p = pacer.fetch(env.url, anthropicInit({ signal: controller.signal, headers: { "x-mock-fault": "stall" } }));
    await until(() => env.mock.log.length === 1 && pacer.stats().inFlight === 1, "the attempt to reach the server");
    const reason = new Error("cancelled by the user");
    controller.abort(reason);
    await assert.rejects(p, (e) => e === reason);
    // The attempt's own fetch was aborted (with the same reason) and the connection closed.
    await until(() => env.tf.errors.length === 1, "the inner fetch to reject");
    assert.equal(env.tf.errors[0], reason);
    await until(() => env.mock.log[0].finishedAt !== null, "the server to see the request end");
    assert.equal(pacer.stats().inFlight, 0);
    assert.equal(pacer.stats().attempts, 1);
    assert.equal(pacer.stats().networkErrors, 0, "an abort is not a network error");
  });

  test("abort after a stream is delivered stops its body, as with fetch; the slot is freed", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { eventDelayMs: 20 });
    const pacer = env.make({ concurrency: 1 });
    const controller = new AbortController();
    const res = await pacer.fetch(env.url, anthropicInit({ signal: controller.signal, body: { stream: true } }));
    assert.equal(res.status, 200);
    assert.equal(pacer.stats().inFlight, 1);
    controller.abort(new Error("stop streaming"));
    // The body errors (which error is undici's: after a clone it says "Body is unusable", the
    // same as `fetch` itself with a cloned response).
    await assert.rejects(res.text());
    await drained(pacer);
    assert.equal(pacer.stats().inFlight, 0);
    // The slot is free: the next call goes.
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
  });

  test("abort after a body with no usage in it is delivered (text, audio) fails its read, as with fetch", async () => {
    // A `fetch` whose body, like undici's, errors with the signal's reason when its signal
    // aborts; its first chunk comes at once, the rest never.
    for (const type of ["text/plain", "audio/mpeg", "application/octet-stream"]) {
      const fetch = async (_input, init) => {
        let body;
        const stream = new ReadableStream({
          start(c) {
            body = c;
            c.enqueue(new TextEncoder().encode("part 1 "));
          },
        });
        init?.signal?.addEventListener("abort", () => body.error(init.signal.reason));
        return new Response(stream, { headers: { "content-type": type } });
      };
      const pacer = new Pacer({ fetch });
      const controller = new AbortController();
      const res = await pacer.fetch("https://api.openai.com/v1/audio/speech", { signal: controller.signal });
      assert.equal(res.status, 200);
      const text = res.text();
      controller.abort(new Error("stop reading"));
      // (Bounded: before the fix the read never ended.)
      const hung = new Promise((_, reject) => setTimeout(() => reject(new Error("never ended")), 5000).unref());
      await assert.rejects(Promise.race([text, hung]), /stop reading/, type);
      assert.equal(pacer.stats().inFlight, 0, "the call was done at its delivery");
      pacer.close();
    }
  });

  test("abort after a JSON body is delivered, read only later: its read rejects with the signal's reason, as with fetch", async (t) => {
    // Past the next macrotask the pacer reads a clone of an unread JSON body for its usage;
    // undici then cancels the original on abort, whose read would say "Body has already been
    // read". Real fetch, a real server: the body's first half comes at once, the rest later.
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"usage":{"input_tokens":3,');
      setTimeout(() => res.end('"output_tokens":4}}'), 2000).unref();
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const pacer = new Pacer();
    t.after(() => pacer.close());
    const url = `http://127.0.0.1:${server.address().port}/v1/messages`;
    for (const read of ["json", "text", "arrayBuffer", "blob"]) {
      const controller = new AbortController();
      const res = await pacer.fetch(url, { method: "POST", body: "{}", signal: controller.signal });
      await new Promise((r) => setTimeout(r, 20));
      const reason = new Error("stop reading");
      controller.abort(reason);
      await assert.rejects(res[read](), (e) => e === reason, read);
    }
  });

  test("a long-lived signal shared by many calls keeps no listener from the pacer", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const controller = new AbortController();
    env.mock.script([503, "ok", { status: 429, retryAfter: 1 }, "ok", 400]);
    for (let i = 0; i < 20; i++) {
      const res = await pacer.fetch(env.url, anthropicInit({ signal: controller.signal }));
      await res.text();
    }
    await assert.rejects(
      env
        .make({ limits: { itpm: 1 }, estimate: () => ({ input: 10, output: 0 }) })
        .fetch(env.url, anthropicInit({ signal: controller.signal })),
      (e) => e.code === "REQUEST_TOO_LARGE",
    );
    await drained(pacer);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  test("a batch of calls sharing one signal draws no MaxListenersExceededWarning (as fetch draws none)", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const controller = new AbortController();
    const warnings = [];
    const onWarning = (w) => warnings.push(w.name);
    process.on("warning", onWarning);
    t.after(() => process.off("warning", onWarning));
    const calls = Array.from({ length: 16 }, () => pacer.fetch(env.url, anthropicInit({ signal: controller.signal })));
    assert.equal(getEventListeners(controller.signal, "abort").length, 16, "each call listens while it waits");
    for (const res of await Promise.all(calls)) await res.text();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  test("aborting after the response is delivered does not reject or retry", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const controller = new AbortController();
    const res = await pacer.fetch(env.url, anthropicInit({ signal: controller.signal }));
    assert.equal(res.status, 200);
    await res.text();
    controller.abort(new Error("late"));
    await drained(pacer);
    assert.equal(env.mock.log.length, 1);
  });
});

describe("timeoutMs", () => {
  test("a hint that would cross the deadline returns the 429 at once", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 10 }, "ok"]);
    const pacer = env.make({ timeoutMs: 5000 });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 429);
    assert.equal(env.clock.elapsed, 0);
    assert.equal(env.mock.log.length, 1);
    assert.deepEqual(
      env.events.filter((e) => e.type === "giveup").map((e) => e.reason),
      ["timeout"],
    );
  });

  test("backoff: retried while the next wait fits, then the last Response at once", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([503, 503, 503, 503, "ok"]);
    const pacer = env.make({ timeoutMs: 4000, retry: { jitter: "none", initialDelayMs: 1000, multiplier: 2 } });
    const res = await pacer.fetch(env.url, anthropicInit());
    // Attempts at 0, 1000, 3000; the next (at 7000) would cross 4000.
    assert.equal(res.status, 503);
    assert.deepEqual(
      env.mock.log.map((e) => e.at - env.clock.start),
      [0, 1000, 3000],
    );
    assert.equal(env.clock.elapsed, 3000);
    for (const s of env.clock.sleeps)
      assert.ok(s.at + s.ms <= env.clock.start + 4000, `slept to ${s.at + s.ms - env.clock.start}`);
  });

  test("a call queued behind a limit rejects with TIMEOUT at the deadline, not later", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ limits: { rpm: 1 }, timeoutMs: 5000 });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
    const started = env.clock.t;
    const r = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof PacerTimeoutError);
    assert.ok(r.error instanceof PacerError);
    assert.equal(r.error.code, "TIMEOUT");
    assert.equal(r.error.timeoutMs, 5000);
    assert.equal(env.clock.t - started, 5000, "rejected exactly at the deadline");
    assert.equal(env.mock.log.length, 1);
    for (const s of env.clock.sleeps) assert.ok(s.at + s.ms <= started + 5000);
  });

  test("a call a server-stated pause holds past its deadline rejects with TIMEOUT at once", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 20 }, "ok"]);
    const pacer = env.make({ timeoutMs: 1500 });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 429);
    const started = env.clock.t;
    const r = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(r.ok, false);
    assert.equal(r.error.code, "TIMEOUT");
    assert.ok(r.error instanceof PacerTimeoutError);
    assert.equal(env.clock.t - started, 0, "not slept to the deadline first");
    assert.equal(env.mock.log.length, 1);
    // Why, in its own words: the server's wait, not a deadline that has not passed.
    assert.equal(r.error.hintMs, 20_000);
    assert.equal(r.error.timeoutMs, 1500);
    assert.match(r.error.message, /server asked to wait 20000 ms, past this call's timeoutMs \(1500 ms\)/);
  });

  test("a pause longer than maxRetryAfterMs holds a call with a deadline: RETRY_AFTER_TOO_LONG, the server's wait", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 400 }, "ok"]);
    const pacer = env.make({ timeoutMs: 15_000 });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 429);
    const started = env.clock.t;
    const r = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(r.ok, false);
    assert.equal(r.error.code, "RETRY_AFTER_TOO_LONG");
    assert.equal(r.error.hintMs, 400_000);
    assert.equal(env.clock.t - started, 0);
    assert.equal(env.mock.log.length, 1);
  });

  test("network errors only: TIMEOUT when the next wait would cross the deadline, the network error its cause", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script(["reset", "reset", "reset", "ok"]);
    const pacer = env.make({ timeoutMs: 2500, retry: { jitter: "none", initialDelayMs: 1000 } });
    const r = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(r.ok, false);
    assert.equal(r.error.code, "TIMEOUT");
    assert.ok(r.error instanceof PacerTimeoutError);
    assert.ok(r.error.cause instanceof TypeError, `the network error as its cause: ${r.error.cause}`);
    assert.equal(env.mock.log.length, 2, "attempts at 0 and 1000; the next at 3000 would cross 2500");
    assert.equal(env.clock.elapsed, 1000);
  });

  test("an attempt still on the wire at the deadline is aborted and TIMEOUT rejects", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.busy = () => false; // the stalled request must not hold time still
    const pacer = env.make({ timeoutMs: 5000 });
    const r = await outcome(pacer.fetch(env.url, anthropicInit({ headers: { "x-mock-fault": "stall" } })));
    assert.equal(r.ok, false);
    assert.equal(r.error.code, "TIMEOUT");
    assert.equal(env.clock.elapsed, 5000);
    await until(() => env.tf.errors.length === 1, "the attempt to be aborted");
    await until(() => env.mock.log[0].finishedAt !== null, "the server to see it end");
    assert.equal(pacer.stats().inFlight, 0);
  });

  test("a retry still on the wire at the deadline: the response that arrived, the retry aborted", async (t) => {
    // A response arrived (the 429), so the call resolves with it, as when a wait would cross
    // the deadline; TIMEOUT says "before any response arrived".
    for (const first of [{ status: 429, retryAfter: 1 }, { status: 529 }]) {
      const env = await mockEnv(t, startAnthropicMock);
      env.clock.busy = () => false; // the stalled retry must not hold time still
      env.mock.script([first, "stall"]);
      const pacer = env.make({ timeoutMs: 5000, retry: { jitter: "none", initialDelayMs: 1000 } });
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, first.status);
      assert.equal(env.clock.elapsed, 5000, "returned at the deadline");
      assert.match(await res.text(), /error/, "its body, whole");
      await until(() => env.tf.errors.length === 1, "the retry to be aborted");
      await until(() => env.mock.log[1]?.finishedAt != null, "the server to see the retry end");
      assert.equal(env.mock.log.length, 2);
      assert.equal(pacer.stats().inFlight, 0);
      assert.deepEqual(
        env.events.filter((e) => e.type === "giveup").map((e) => e.reason),
        ["timeout"],
      );
    }
  });

  test("a retry still queued behind a limit at the deadline: the last Response, not TIMEOUT", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([503, "ok"]);
    const pacer = env.make({ limits: { rpm: 1 }, timeoutMs: 1500, retry: { jitter: "none", initialDelayMs: 1000 } });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 503);
    assert.equal(env.clock.elapsed, 1500, "returned at the deadline");
    assert.equal(env.mock.log.length, 1);
    assert.match(await res.text(), /api_error/);
  });

  test("a response that arrived in time is delivered; the deadline does not cut it", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 2 }, "ok"]);
    const pacer = env.make({ timeoutMs: 5000 });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 200);
    await env.clock.advance(10_000);
    assert.equal((await res.json()).type, "message");
    await drained(pacer);
  });

  test("a stream whose head came but not its first event by the deadline: the 200, every time", async () => {
    // The read of the first event ends just before the deadline, whose timer would otherwise
    // race it (the call then rejected with TIMEOUT "before any response arrived", or not).
    for (let i = 0; i < 5; i++) {
      const clock = new VirtualClock();
      const fetch = async () =>
        new Response(new ReadableStream({ pull: () => new Promise(() => {}) }), {
          headers: { "content-type": "text/event-stream" },
        });
      const pacer = new Pacer({ clock, fetch, timeoutMs: 200 });
      const res = await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit());
      assert.equal(res.status, 200);
      assert.ok(clock.t - T0 <= 200, `returned at ${clock.t - T0} ms`);
      await res.body.cancel();
      pacer.close();
    }
  });
});

describe("close()", () => {
  test("queued calls reject with CLOSED; the one in flight finishes with no retry; later calls reject", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const gate = gatedFetch();
    env.mock.script([503, "ok"]);
    const pacer = new Pacer({ clock: env.clock, fetch: gate.fetch, concurrency: 1 });
    const inFlight = pacer.fetch(env.url, anthropicInit());
    const queued = pacer.fetch(env.url, anthropicInit());
    await until(() => pacer.stats().inFlight === 1 && pacer.stats().queued === 1, "one in flight, one queued");
    pacer.close();
    assert.ok(await isSettled(queued, 1), "the queued call settles at once");
    await assert.rejects(queued, (e) => e instanceof ClosedError && e instanceof PacerError && e.code === "CLOSED");
    gate.open();
    const res = await inFlight;
    assert.equal(res.status, 503, "its response, not retried");
    assert.equal(env.mock.log.length, 1);
    await assert.rejects(pacer.fetch(env.url, anthropicInit()), (e) => e instanceof ClosedError);
    assert.equal(env.mock.log.length, 1);
    pacer.close(); // idempotent
    assert.equal(pacer.stats().queued, 0);
    assert.equal(pacer.stats().inFlight, 0);
    assert.equal(env.mock.pending(), 1, "the 'ok' meant for a retry was never used");
  });

  test("a call backing off gets its last Response; its timer is cleared", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.hold = true;
    env.mock.script([{ status: 429, retryAfter: 30 }, "ok"]);
    const pacer = env.make();
    const p = pacer.fetch(env.url, anthropicInit());
    await until(() => env.events.some((e) => e.type === "retry"), "the retry to be scheduled");
    assert.equal(env.clock.pending.size, 1);
    pacer.close();
    const res = await p;
    assert.equal(res.status, 429);
    await env.clock.settle();
    assert.equal(env.clock.pending.size, 0, "no timer left");
    await env.clock.advance(60_000);
    assert.equal(env.mock.log.length, 1);
  });

  test("a streamed response delivered before close still settles its usage", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make();
    const res = await pacer.fetch(
      env.url,
      anthropicInit({ body: { stream: true }, headers: { "x-mock-output-tokens": "7" } }),
    );
    pacer.close();
    assert.match(await res.text(), /message_stop/);
    await drained(pacer);
    assert.equal(pacer.stats().outputTokensUsed, 7);
  });

  test("a pacer the program drops is freed, closed or not; a call in flight still settles", async () => {
    const r = await collectedChild("gc-child.mjs");
    // The module held every pacer through its own callbacks (200 of 200 held); a few may
    // still be waiting for the collector's finalization.
    assert.ok(r.held <= r.pacers / 10, `pacers still held: ${r.held} of ${r.pacers}`);
    assert.equal(r.dropped, 200, "the call of a pacer dropped while it was in flight");
    assert.equal(r.streamed, true, "a stream of a dropped pacer, read after the collections, whole");
  });

  test("a delivered response is collected though the fetch option keeps a listener on the signal it was given", async () => {
    // The listener that makes a text body follow the caller's signal was held, with what it
    // reached (the option's listener, its promise, the response), from a FinalizationRegistry
    // keyed on that very response: none was ever collected (5.6 KB a call).
    const r = await collectedChild("signal-gc-child.mjs");
    assert.ok(r.collected >= r.responses * 0.9, `responses collected: ${r.collected} of ${r.responses}`);
  });

  test("calls that end in a network error leave no listener on a long-lived signal", async () => {
    // The check whether `fetch` would refuse the request for good built a `Request` with the
    // caller's signal, which undici follows until that `Request` is collected: hundreds
    // gathered, and Node's MaxListenersExceededWarning.
    const controller = new AbortController();
    const pacer = new Pacer({
      fetch: async () => {
        throw new TypeError("fetch failed");
      },
      retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 },
    });
    for (let i = 0; i < 20; i++)
      await assert.rejects(
        pacer.fetch("http://localhost/v1/messages", { method: "POST", body: "{}", signal: controller.signal }),
      );
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
    pacer.close();
  });

  test("after close nothing keeps the event loop alive: the process exits by itself", async () => {
    const child = fileURLToPath(new URL("./lib/close-child.mjs", import.meta.url));
    const run = (args, killAfterMs) =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, [child, ...args], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (err += d));
        const timer = setTimeout(() => p.kill("SIGKILL"), killAfterMs);
        p.on("error", reject);
        p.on("exit", (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, out, err });
        });
      });
    const closed = await run([], 8000);
    assert.equal(closed.signal, null, `the child had to be killed: ${closed.out}${closed.err}`);
    assert.equal(closed.code, 0, closed.err);
    const report = JSON.parse(closed.out);
    assert.equal(report.queued, "rejected CLOSED");
    assert.equal(report.retrying, "resolved 503");
    assert.equal(report.stats.queued, 0);
    assert.equal(report.stats.inFlight, 0);

    // The control: without close() the queued call's timer keeps the process alive.
    const open = await run(["no-close"], 2000);
    assert.equal(open.signal, "SIGKILL", "without close() the process should still be waiting");
    assert.match(open.out, /not closing/);
  });
});
