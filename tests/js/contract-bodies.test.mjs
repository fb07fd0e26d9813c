// Request bodies of every kind through `pacer.fetch` (DESIGN.md section 3: "same signature as
// `fetch`"): a string (JSON or not), an ArrayBuffer, typed arrays and a DataView, a Blob with
// and without a type, FormData with a text field and a file, URLSearchParams, a ReadableStream,
// a Request with its own body and signal, and bodies of tens of megabytes.
//
// For each: the bytes and content-type the server receives are exactly what plain `fetch`
// sends; a retry after a 429 or a 529 sends them again, identical (a stream is sent once and
// never retried); the caller's object is left as it was; the estimate reserved is sane (the
// same for the same JSON bytes, nothing for bodies the estimate does not read), and its work
// and memory are bounded whatever the size.
//
// A small capture server (raw bytes, any body, scripted replies) stands in where the mock
// servers would refuse a body that is not JSON; the JSON kinds also go through the Anthropic
// mock. Virtual time: the pacer's clock is a VirtualClock.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { startAnthropicMock } from "./mock/index.mjs";
import {
  VirtualClock,
  trackedFetch,
  drained,
  outcome,
  isSettled,
  until,
  mockEnv,
  anthropicInit,
  gap,
  bounded,
  importWithWasmMemory,
} from "./lib/harness.mjs";

// The package's Wasm memory, caught as it is instantiated (it grows and never shrinks, so its
// size after a call is the most the call ever needed).
const {
  api: { Pacer },
  memory: wasmMemory,
} = await importWithWasmMemory();

/**
 * A server that records every request's raw bytes and answers from a script: each item
 * `{ status = 200, headers, body, stall, hang }` (`stall`: the head, then a body that never
 * ends; `hang`: no answer at all).
 * An exhausted script answers 200 with an Anthropic-shaped JSON body and its usage.
 */
async function captureServer(t) {
  const s = {
    log: [],
    queue: [],
    inFlight: 0,
    stalled: [],
    script(items) {
      s.queue.push(...items);
    },
  };
  const server = createServer(async (req, res) => {
    s.inFlight++;
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const entry = { method: req.method, headers: req.headers, raw: Buffer.concat(chunks) };
      s.log.push(entry);
      const item = s.queue.shift() ?? {};
      if (item.hang) {
        s.stalled.push(res);
        return;
      }
      const status = item.status ?? 200;
      const body =
        item.body ??
        JSON.stringify(
          status === 200
            ? { type: "message", usage: { input_tokens: 7, output_tokens: 3 } }
            : {
                type: "error",
                error: { type: status === 429 ? "rate_limit_error" : "overloaded_error", message: "x" },
              },
        );
      res.writeHead(status, { "content-type": "application/json", ...item.headers });
      if (item.stall) {
        res.write(body.slice(0, 5));
        s.stalled.push(res);
        return;
      }
      res.end(body);
    } finally {
      s.inFlight--;
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const r of s.stalled) r.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  s.url = `http://127.0.0.1:${server.address().port}/v1/messages`;
  return s;
}

/** A capture server, a virtual clock, and pacers that record their events. */
async function env(t) {
  const server = await captureServer(t);
  const tf = trackedFetch();
  const clock = new VirtualClock({ busy: () => tf.pending > 0 || server.inFlight > 0, quietTurns: 5 });
  const events = [];
  const make = (options = {}) =>
    new Pacer({ clock, fetch: tf.fetch, seed: 1, onEvent: (e) => events.push(e), ...options });
  return { server, tf, clock, events, make, url: server.url };
}

const sha = (buf) => createHash("sha256").update(buf).digest("hex");

/** The body and content-type of a request, with a multipart boundary (random per send) named alike. */
function normalized(entry) {
  const ct = entry.headers["content-type"] ?? "";
  const boundary = /boundary=(.+)$/.exec(ct)?.[1];
  let raw = entry.raw.toString("latin1");
  if (boundary) raw = raw.split(boundary).join("BOUNDARY");
  return {
    contentType: boundary ? ct.replace(boundary, "BOUNDARY") : ct,
    length: entry.headers["content-length"],
    raw,
  };
}

const CONTENT = "x".repeat(3000);
const JSON_TEXT = JSON.stringify({
  model: "claude-test",
  max_tokens: 77,
  messages: [{ role: "user", content: CONTENT }],
});
const JSON_BYTES = new TextEncoder().encode(JSON_TEXT);

/** Every kind of body, each with what the estimate should make of it. */
const KINDS = [
  { name: "a JSON string", make: () => JSON_TEXT, json: true },
  { name: "a string that is not JSON", make: () => "plain words, not JSON", json: false, sized: true },
  {
    name: "an ArrayBuffer",
    make: () => JSON_BYTES.slice().buffer,
    json: true,
    intact: (b) => assert.equal(Buffer.from(b).toString(), JSON_TEXT, "not detached, not changed"),
  },
  {
    name: "a Uint8Array",
    make: () => JSON_BYTES.slice(),
    json: true,
    intact: (b) => assert.equal(Buffer.from(b).toString(), JSON_TEXT),
  },
  {
    name: "a Uint8Array view at an offset into a larger buffer",
    make: () => {
      const big = new Uint8Array(JSON_BYTES.length + 64).fill(0x7b);
      big.set(JSON_BYTES, 32);
      return big.subarray(32, 32 + JSON_BYTES.length);
    },
    json: true,
    intact: (b) => assert.equal(Buffer.from(b).toString(), JSON_TEXT),
  },
  {
    name: "a DataView",
    make: () => new DataView(JSON_BYTES.slice().buffer),
    json: true,
    intact: (b) => assert.equal(Buffer.from(b.buffer).toString(), JSON_TEXT),
  },
  {
    name: "a Blob with a type",
    make: () => new Blob([JSON_TEXT], { type: "application/json" }),
    json: false, // read asynchronously only: the estimate does not wait for it
    sized: true, // but its size is known: priced by it
    intact: async (b) => assert.equal(await b.text(), JSON_TEXT, "still readable"),
  },
  {
    name: "a Blob without a type",
    sized: true,
    make: () => new Blob([JSON_BYTES]),
    json: false,
    intact: async (b) => assert.equal(await b.text(), JSON_TEXT),
  },
  {
    name: "FormData with a text field and a file",
    make: () => {
      const form = new FormData();
      form.append("purpose", "batch");
      form.append(
        "file",
        new Blob(['{"a":1}\n', new Uint8Array([0, 255, 128])], { type: "application/jsonl" }),
        "in.jsonl",
      );
      return form;
    },
    json: false,
    intact: async (f) => {
      assert.equal(f.get("purpose"), "batch");
      assert.equal((await f.get("file").arrayBuffer()).byteLength, 11);
    },
  },
  {
    name: "URLSearchParams",
    make: () => new URLSearchParams({ q: "a b&c", n: "é" }),
    json: false,
    intact: (p) => assert.equal(p.toString(), "q=a+b%26c&n=%C3%A9"),
  },
];

describe("every replayable body is sent as plain fetch sends it, and again on each retry", () => {
  let reference; // the estimate of JSON_TEXT, per attempt

  for (const kind of KINDS) {
    test(kind.name, async (t) => {
      const e = await env(t);
      const pacer = e.make();
      e.server.script([{ status: 429, headers: { "retry-after": "1" } }, { status: 529 }, {}]);
      const body = kind.make();
      const res = await pacer.fetch(e.url, { method: "POST", body, headers: { "x-api-key": "k" } });
      assert.equal(res.status, 200);
      await res.text();
      await drained(pacer);
      assert.equal(e.server.log.length, 3, "two retries");

      // Plain fetch, the same kind of body, to the same server.
      await (await fetch(e.url, { method: "POST", body: kind.make(), headers: { "x-api-key": "k" } })).text();
      const plain = normalized(e.server.log[3]);
      for (let i = 0; i < 3; i++) {
        const sent = normalized(e.server.log[i]);
        assert.equal(sent.contentType, plain.contentType, `attempt ${i + 1}: content-type`);
        assert.equal(sent.length, plain.length, `attempt ${i + 1}: content-length`);
        assert.equal(sent.raw, plain.raw, `attempt ${i + 1}: the bytes`);
      }
      await kind.intact?.(body);

      const s = pacer.stats();
      assert.deepEqual([s.attempts, s.retries], [3, 2]);
      if (kind.json) {
        const perAttempt = s.inputTokensReserved / 3;
        // ASCII text at 3 characters a token, plus a little for the structure.
        assert.ok(perAttempt >= CONTENT.length / 3 && perAttempt <= CONTENT.length / 3 + 20, `input ${perAttempt}`);
        reference ??= perAttempt;
        assert.equal(perAttempt, reference, "the same JSON bytes, the same estimate");
        assert.equal(s.outputTokensReserved, 3 * 77, "max_tokens reserved on each attempt");
      } else if (kind.sized) {
        // Not read, but its length is known: priced as ASCII text of that length (issue 14).
        const cost = Math.ceil(Number(plain.length) / 3);
        assert.ok(cost > 0);
        assert.deepEqual([s.inputTokensReserved, s.outputTokensReserved], [3 * cost, 0], "a body priced by its length");
      } else {
        assert.deepEqual([s.inputTokensReserved, s.outputTokensReserved], [0, 0], "a body of unknown length");
      }
      // The admitted events tell the attempts apart, and nothing else went on.
      assert.equal(e.events.filter((ev) => ev.type === "admitted").length, 3);
    });
  }
});

describe("a ReadableStream body", () => {
  test("is never read before it is sent, is sent once, and is never retried", async (t) => {
    const e = await env(t);
    const pacer = e.make({ limits: { rpm: 1 } });
    assert.equal((await pacer.fetch(e.url, { method: "POST", body: "{}" })).status, 200);
    let pulls = 0;
    // No high-water mark: the stream is pulled only when someone reads it.
    const stream = () =>
      new ReadableStream(
        {
          pull(c) {
            pulls++;
            c.enqueue(JSON_BYTES.slice());
            c.close();
          },
        },
        { highWaterMark: 0 },
      );
    const body = stream();
    e.clock.hold = true;
    e.server.script([{ status: 429, headers: { "retry-after": "1" } }]);
    const p = pacer.fetch(e.url, { method: "POST", body, duplex: "half" });
    await until(() => pacer.stats().queued === 1, "the call to queue behind the RPM limit");
    await e.clock.settle();
    assert.equal(body.locked, false, "not locked while queued");
    assert.equal(pulls, 0, "not read by the estimate");
    e.clock.hold = false;
    await e.clock.advance(61_000);
    const res = await p;
    assert.equal(res.status, 429, "the first response, whatever it is");
    assert.equal(pulls, 1);
    assert.equal(e.server.log.length, 2);
    await drained(pacer);
    const s = pacer.stats();
    assert.deepEqual([s.attempts, s.retries, s.inputTokensReserved], [2, 0, 0]);
    assert.ok(!e.events.some((ev) => ev.type === "retry"), "no retry planned");

    // Plain fetch sends the same bytes, the same way (chunked, no content-type).
    const plainBody = stream();
    await (await fetch(e.url, { method: "POST", body: plainBody, duplex: "half" })).text();
    const [sent, plain] = [normalized(e.server.log[1]), normalized(e.server.log[2])];
    assert.deepEqual(sent, plain);
    assert.equal(e.server.log[1].headers["transfer-encoding"], e.server.log[2].headers["transfer-encoding"]);
    assert.equal(body.locked, plainBody.locked, "consumed as plain fetch consumes it");
  });
});

describe("a Request with its own body and signal", () => {
  const request = (url, init = {}) =>
    new Request(url, { method: "POST", body: JSON_TEXT, headers: { "content-type": "application/json" }, ...init });

  test("each attempt sends a fresh clone; the caller's Request is never consumed", async (t) => {
    const e = await env(t);
    const pacer = e.make();
    e.server.script([{ status: 429, headers: { "retry-after": "1" } }, { status: 529 }]);
    const req = request(e.url);
    const res = await pacer.fetch(req);
    assert.equal(res.status, 200);
    await res.text();
    await drained(pacer);
    await (await fetch(request(e.url))).text();
    const plain = normalized(e.server.log[3]);
    for (let i = 0; i < 3; i++) assert.deepEqual(normalized(e.server.log[i]), plain, `attempt ${i + 1}`);
    assert.equal(req.bodyUsed, false);
    assert.equal(await req.text(), JSON_TEXT, "still readable");
  });

  // The package reads a clone of a Request input's body (at most 32 MiB) before queuing it.
  test("its body is estimated from a clone, as the same body given in init would be", async (t) => {
    const e = await env(t);
    const seen = [];
    const pacer = e.make();
    const custom = e.make({ estimate: (r) => (seen.push(r), { input: 5, output: 6 }) });
    await (await pacer.fetch(e.url, { method: "POST", body: JSON_TEXT })).text();
    const fromInit = pacer.stats().inputTokensReserved;
    assert.ok(fromInit > 1000, `${fromInit}`);
    const req = request(e.url);
    await (await pacer.fetch(req)).text();
    assert.equal(pacer.stats().inputTokensReserved, 2 * fromInit);
    assert.equal(pacer.stats().outputTokensReserved, 2 * 77);
    assert.equal(req.bodyUsed, false);
    // The `estimate` option gets it parsed too; a body in init replaces the Request's.
    await (await custom.fetch(request(e.url))).text();
    await (await custom.fetch(request(e.url), { method: "POST", body: "not json" })).text();
    assert.equal(seen[0].body.max_tokens, 77);
    assert.equal(seen[0].url, e.url);
    assert.equal(seen[1].body, undefined);
    assert.equal(e.server.log.at(-1).raw.toString(), "not json");
    await drained(pacer);
    await drained(custom);
  });

  test("a Request whose body was already read rejects at once with fetch's TypeError, no retry", async (t) => {
    const e = await env(t);
    const pacer = e.make();
    const used = request(e.url);
    await used.text();
    const plain = await outcome(fetch(used));
    const r = await outcome(pacer.fetch(used));
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof TypeError, String(r.error));
    assert.equal(r.error.constructor, plain.error.constructor);
    assert.equal(e.server.log.length, 0);
    assert.equal(e.clock.elapsed, 0, "no backoff slept");
    assert.equal(pacer.stats().retries, 0);
    assert.ok(!e.events.some((ev) => ev.type === "retry"));
  });

  test("its signal aborts the call while queued", async (t) => {
    const e = await env(t);
    const pacer = e.make({ limits: { rpm: 1 } });
    // The same model as the Request's: the same limit key, whose one request is taken.
    await (await pacer.fetch(e.url, { method: "POST", body: JSON_TEXT })).text();
    e.clock.hold = true;
    const ac = new AbortController();
    const p = pacer.fetch(request(e.url, { signal: ac.signal }));
    await until(() => pacer.stats().queued === 1, "the call to queue");
    assert.equal(await isSettled(p), false);
    const reason = new Error("stop");
    ac.abort(reason);
    assert.ok(await isSettled(p, 2), "settled at once");
    await assert.rejects(p, (err) => err === reason);
    e.clock.hold = false;
    await e.clock.advance(120_000);
    assert.equal(e.server.log.length, 1, "never sent");
  });

  test("its signal aborts the call in the backoff after a 429", async (t) => {
    const e = await env(t);
    const pacer = e.make();
    e.server.script([{ status: 429, headers: { "retry-after": "30" } }]);
    e.clock.hold = true;
    const ac = new AbortController();
    const p = pacer.fetch(request(e.url, { signal: ac.signal }));
    await until(() => pacer.stats().rateLimited === 1 && e.clock.pending.size > 0, "the 429 and its backoff");
    ac.abort();
    await assert.rejects(p, (err) => err === ac.signal.reason && err.name === "AbortError");
    assert.equal(e.clock.elapsed, 0);
    e.clock.hold = false;
    await e.clock.advance(60_000);
    assert.equal(e.server.log.length, 1, "no retry after the abort");
    assert.equal(pacer.stats().queued, 0);
  });

  test("its signal aborts the call in flight; a signal in init takes its place", async (t) => {
    const e = await env(t);
    e.clock.busy = () => false; // the stalled responses must not hold virtual time still
    const pacer = e.make();
    e.server.script([{ hang: true }, { hang: true }]);
    const own = new AbortController();
    const p = pacer.fetch(request(e.url, { signal: own.signal }));
    await until(() => e.server.log.length === 1, "the request to arrive");
    const reason = new Error("user left");
    own.abort(reason);
    await assert.rejects(p, (err) => err === reason);

    // `fetch(request, { signal })` follows `init.signal`, not the Request's.
    const ignored = new AbortController();
    const given = new AbortController();
    const q = pacer.fetch(request(e.url, { signal: ignored.signal }), { signal: given.signal });
    await until(() => e.server.log.length === 2, "the second request to arrive");
    ignored.abort();
    assert.equal(await isSettled(q), false, "the Request's own signal is replaced by init.signal");
    given.abort(reason);
    await assert.rejects(q, (err) => err === reason);
    assert.equal(pacer.stats().inFlight, 0);
  });
});

describe("huge bodies: the estimate's work and memory stay bounded", () => {
  const MB = 1 << 20;
  /** One call through a pacer whose fetch only checks what it was given. */
  async function estimateOf(body, t) {
    const e = await env(t);
    const pacer = e.make();
    const before = wasmMemory().buffer.byteLength;
    const started = performance.now();
    const res = await pacer.fetch(e.url, { method: "POST", body });
    const ms = performance.now() - started;
    assert.equal(res.status, 200);
    await res.text();
    await drained(pacer);
    const raw = e.server.log[0].raw;
    const want =
      typeof body === "string" ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    assert.equal(raw.length, want.length);
    assert.equal(sha(raw), sha(want), "the bytes arrive intact");
    const s = pacer.stats();
    return {
      input: s.inputTokensReserved,
      output: s.outputTokensReserved,
      grew: wasmMemory().buffer.byteLength - before,
      ms,
    };
  }

  const big = (n) =>
    JSON.stringify({ model: "m", max_tokens: 9, messages: [{ role: "user", content: "a".repeat(n) }] });

  test("a 30 MB JSON string is estimated a piece at a time, never whole in the Wasm memory", async (t) => {
    const body = big(30 * MB);
    const r = await estimateOf(body, t);
    assert.ok(Math.abs(r.input - (30 * MB) / 3) < 50, `input ${r.input}`);
    assert.equal(r.output, 9);
    assert.ok(r.grew <= 4 * MB, `the Wasm memory grew by ${r.grew} bytes`);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`); // wide: a bound, not a benchmark
  });

  test("30 MB of JSON bytes is read a piece at a time too", async (t) => {
    const r = await estimateOf(new TextEncoder().encode(big(30 * MB)), t);
    assert.ok(Math.abs(r.input - (30 * MB) / 3) < 50, `input ${r.input}`);
    assert.ok(r.grew <= 4 * MB, `the Wasm memory grew by ${r.grew} bytes`);
  });

  test("a 30 MB data: URL is one image, recognised without reading it all", async (t) => {
    const body = JSON.stringify({
      max_tokens: 9,
      messages: [
        {
          role: "user",
          content: [{ type: "text", text: "What is it?" }, "data:image/png;base64," + "A".repeat(30 * MB)],
        },
      ],
    });
    const r = await estimateOf(body, t);
    assert.ok(r.input >= 1600 && r.input < 1700, `input ${r.input}`);
    assert.ok(r.grew <= 4 * MB, `the Wasm memory grew by ${r.grew} bytes`);
  });

  test("past 32 MiB the body is sent but not parsed: priced by its length, as ASCII text", async (t) => {
    const body = big(33 * MB);
    const r = await estimateOf(body, t);
    assert.deepEqual([r.input, r.output], [Math.ceil(body.length / 3), 0]);
    assert.ok(r.grew <= 1 * MB, `the Wasm memory grew by ${r.grew} bytes`);
  });

  test("a body of more values than the walk looks at is priced as its whole text", async (t) => {
    const messages = Array.from({ length: 150_000 }, (_, i) => ({ role: "user", content: `m${i}` }));
    const body = JSON.stringify({ max_tokens: 9, messages });
    const r = await estimateOf(body, t);
    assert.ok(
      r.input >= body.length / 3 && r.input <= body.length / 3 + 1,
      `input ${r.input} for ${body.length} characters`,
    );
    assert.equal(r.output, 9);
    assert.ok(r.grew <= 8 * MB, `the Wasm memory grew by ${r.grew} bytes`);
  });
});

describe("JSON bodies of every kind through the Anthropic mock", () => {
  const body = JSON.stringify(
    JSON.parse(anthropicInit({ body: { max_tokens: 50, messages: [{ role: "user", content: CONTENT }] } }).body),
  );
  const kinds = {
    string: () => body,
    ArrayBuffer: () => new TextEncoder().encode(body).buffer,
    Uint8Array: () => new TextEncoder().encode(body),
  };
  for (const [name, make] of Object.entries(kinds)) {
    test(`${name}: retried after a 429, the same body each time, an estimate at least the server's count`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, retryAfter: 1 }, "ok"]);
      const pacer = env.make({ seed: 3 });
      const init = { ...anthropicInit(), body: make() };
      const res = await (init.body === undefined
        ? pacer.fetch(new Request(env.url, { ...init, body }))
        : pacer.fetch(env.url, init));
      assert.equal(res.status, 200);
      await res.text();
      await drained(pacer);
      assert.equal(env.mock.log.length, 2);
      for (const entry of env.mock.log) assert.deepEqual(entry.body, JSON.parse(body));
      const counted = env.mock.log[1].usage.input;
      const perAttempt = pacer.stats().inputTokensReserved / 2;
      assert.ok(
        perAttempt >= counted && perAttempt <= 2 * counted,
        `estimated ${perAttempt}, the server counted ${counted}`,
      );
      assert.equal(pacer.stats().outputTokensReserved, 2 * 50);
    });
  }
});

describe("error bodies: the retry decision never waits long on one", () => {
  for (const status of [429, 529, 503]) {
    test(`a ${status} whose body starts and never ends is decided on its status and headers`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.clock.busy = () => env.tf.pending > 0; // the stalled body must not hold virtual time still
      env.mock.script([{ status, retryAfter: 1, bodyStall: true }, "ok"]);
      const pacer = env.make({ seed: 9 });
      const res = await bounded(pacer.fetch(env.url, anthropicInit()), `a stalled ${status} body`);
      assert.equal(res.status, 200, "retried");
      await res.text();
      assert.equal(env.mock.log.length, 2);
      assert.equal(env.mock.log[0].outcome, "stalled");
      // Waited the hint and the error body's time bound, no more.
      const waited = gap(env.mock, 0);
      assert.ok(waited >= 1000 && waited <= 5_000 + 1_100, `retried after ${waited} ms`);
      await drained(pacer);
    });
  }

  test("the last response with a stalled body is delivered; its caller reads what came", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.clock.busy = () => env.tf.pending > 0;
    env.mock.script([{ status: 429, retryAfter: 1, bodyStall: true }]);
    const pacer = env.make({ retry: { maxRetries: 0 } });
    const res = await bounded(pacer.fetch(env.url, anthropicInit()), "a stalled 429 body, no retries");
    assert.equal(res.status, 429);
    const reader = res.body.getReader();
    const first = await reader.read();
    assert.ok(first.value.length > 0, "the part of the body that came");
    await reader.cancel();
    await drained(pacer);
  });

  test("an error body larger than the pacer reads is still delivered whole", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const big = JSON.stringify({ type: "error", error: { type: "api_error", message: "x".repeat(1 << 20) } });
    env.mock.script([
      { status: 503, body: big },
      { status: 503, body: big },
    ]);
    const pacer = env.make({ retry: { maxRetries: 1 } });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 503);
    assert.equal(await res.text(), big);
    assert.equal(env.mock.log.length, 2);
  });
});

describe("the arguments are taken as they are at the call, as fetch takes them", () => {
  test("a batch loop that reuses one URL, headers, init and byte buffer sends each call as it was made", async () => {
    /** What each attempt sent: its URL, one header and its body's text. */
    const sent = [];
    const refused = new Set();
    const pacer = new Pacer({
      concurrency: 1,
      retry: { initialDelayMs: 1, jitter: "none" },
      fetch: async (input, init) => {
        const body = init.body instanceof URLSearchParams ? init.body.toString() : new TextDecoder().decode(init.body);
        sent.push([String(input), new Headers(init.headers).get("x-n"), body]);
        // Each call's first attempt is refused: its retry is sent later still.
        const first = !refused.has(String(input));
        refused.add(String(input));
        return new Response("{}", { status: first ? 503 : 200 });
      },
    });
    const url = new URL("https://api.example.invalid/v1/x");
    const headers = new Headers();
    const bytes = new Uint8Array(1);
    const params = new URLSearchParams();
    const init = { method: "POST", headers, body: bytes };
    const calls = [];
    for (let n = 1; n <= 3; n++) {
      url.searchParams.set("n", String(n));
      headers.set("x-n", String(n));
      bytes[0] = 48 + n; // "1", "2", "3"
      init.body = n == 3 ? params : bytes;
      params.set("n", String(n));
      calls.push(pacer.fetch(url, init));
    }
    // Changed after the last call too.
    url.searchParams.set("n", "9");
    headers.set("x-n", "9");
    bytes[0] = 57;
    params.set("n", "9");
    for (const res of await Promise.all(calls)) assert.equal(res.status, 200);
    const want = (n, body) => [`https://api.example.invalid/v1/x?n=${n}`, String(n), body];
    const each = [want(1, "1"), want(2, "2"), want(3, "n=3")];
    assert.deepEqual(sent.map(String).sort(), [...each, ...each].map(String).sort());
    pacer.close();
  });
});
