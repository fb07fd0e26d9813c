// The scenarios every runtime runs against the built package (workerd, Deno, Bun, Chromium),
// written once. Web APIs only: this file is loaded as it is by each runtime. It returns plain
// JSON-able observations; the Node driver (tests/runtimes/harness.mjs) asserts them, and also
// checks the mock servers' side.
//
// Time: every scenario but `realTimers` runs the pacer on a virtual clock, and the mock servers
// (in the Node driver) share that virtual time: before each request the pacer's `fetch` tells
// the driver's control endpoint what time it is. So a `retry-after: 2` or a 15 s wait for the
// ITPM bucket costs no real time, and the mock's buckets refill exactly as the pacer's do.

const HOUR = 3_600_000;
/** A bound on each scenario, real ms: a pacer whose waits never end fails instead of hanging. */
const SCENARIO_TIMEOUT_MS = 15_000;

/**
 * A virtual clock for the pacer's `clock` option. `sleep(ms)` is due at `now + ms`; pending
 * sleeps fire one per macrotask, earliest first, and time jumps to each one's due time (never
 * backwards). Time stands still while a request is on the wire (`during`): the network takes
 * no virtual time, so the mocks see each request at the time the pacer sent it. `hold()` stops
 * time, so a test can act while a sleep is pending.
 * @param {number} start epoch ms
 */
export function virtualClock(start) {
  let t = start;
  let running = true;
  let scheduled = false;
  let inFlight = 0;
  /** @type {{ at: number, resolve: () => void, signal?: AbortSignal, onAbort?: () => void }[]} */
  const pending = [];
  const schedule = () => {
    if (!running || scheduled || inFlight > 0 || pending.length === 0) return;
    scheduled = true;
    setTimeout(fire, 0);
  };
  const fire = () => {
    scheduled = false;
    if (!running || inFlight > 0 || pending.length === 0) return;
    pending.sort((a, b) => a.at - b.at);
    const due = /** @type {(typeof pending)[number]} */ (pending.shift());
    due.signal?.removeEventListener("abort", /** @type {() => void} */ (due.onAbort));
    t = Math.max(t, due.at);
    due.resolve();
    schedule();
  };
  return {
    now: () => t,
    /** @param {number} ms @param {AbortSignal} [signal] */
    sleep(ms, signal) {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        /** @type {(typeof pending)[number]} */
        const entry = { at: t + ms, resolve };
        if (signal) {
          entry.signal = signal;
          entry.onAbort = () => {
            pending.splice(pending.indexOf(entry), 1);
            reject(signal.reason);
          };
          signal.addEventListener("abort", entry.onAbort, { once: true });
        }
        pending.push(entry);
        schedule();
      });
    },
    /**
     * Runs `io()` with time standing still until its promise settles.
     * @template T @param {() => Promise<T>} io @returns {Promise<T>}
     */
    async during(io) {
      inFlight++;
      try {
        return await io();
      } finally {
        inFlight--;
        schedule();
      }
    },
    /** Sleeps not yet due. */
    pending: () => pending.length,
    hold() {
      running = false;
    },
    release() {
      running = true;
      schedule();
    },
  };
}

/**
 * Let the event loop turn until `cond()` holds: first bare macrotask turns, then 5 ms sleeps,
 * for about `ms` in all. A condition that waits on a real round trip to the mock servers needs
 * the sleeps on a loaded machine: 500 bare turns took less than the trip in one CI run
 * (workerd). Turns are counted, not the clock read: workerd's clock stands still between I/O.
 */
async function until(cond, what, ms = 10_000) {
  const bare = 100;
  for (let i = 0; i < bare + ms / 5; i++) {
    if (cond()) return;
    await new Promise((resolve) => setTimeout(resolve, i < bare ? 0 : 5));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * The environment the driver passes in: the mock servers' base URLs and the control endpoint
 * that holds the shared virtual time.
 * @typedef {{ anthropic: string, openai: string, control: string }} Env
 */

/** @param {Env} env @param {string} path */
async function control(env, path) {
  const res = await fetch(`${env.control}${path}`);
  if (!res.ok) throw new Error(`control ${path}: ${res.status}`);
  return /** @type {{ t: number }} */ (await res.json()).t;
}

/** Move the mocks' virtual time on by an hour (every bucket full again); returns the new now. */
const freshStart = (/** @type {Env} */ env) => control(env, `/advance?ms=${HOUR}`);

/**
 * The `fetch` the pacer gets: tells the mocks the virtual time (if a clock is given; time
 * stands still until the whole response is in: its body is read here and handed over in a
 * JavaScript stream, so no part of the network takes virtual time, and the pacer's bounded
 * read of an error body never races the clock), adds `headersFor(n)` to the n-th send
 * (1-based), and counts the sends.
 * @param {Env} env
 * @param {{ clock?: ReturnType<typeof virtualClock>, headersFor?: (n: number) => Record<string, string> | undefined, whole?: boolean }} [o]
 */
function sender(env, { clock, headersFor, whole = true } = {}) {
  const f = async (/** @type {RequestInfo | URL} */ input, /** @type {RequestInit} */ init) => {
    const req = new Request(input, init);
    const n = ++f.sent;
    for (const [k, v] of Object.entries(headersFor?.(n) ?? {})) req.headers.set(k, v);
    if (!clock) return fetch(req);
    return clock.during(async () => {
      await control(env, `/now?t=${clock.now()}`);
      const res = await fetch(req);
      // `whole: false` hands over the runtime's own Response (its `type`, say `cors`).
      if (!whole) return res;
      // A body in a JavaScript stream reads in microtasks (a native one may take turns of the
      // event loop, so a virtual timer could fire before a body already here was read).
      const bytes = new Uint8Array(await res.arrayBuffer());
      const body = new ReadableStream({
        start(c) {
          if (bytes.length > 0) c.enqueue(bytes);
          c.close();
        },
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    });
  };
  f.sent = 0;
  return f;
}

/** An Anthropic Messages request. */
export function anthropicInit(/** @type {Record<string, string>} */ headers = {}, maxTokens = 16) {
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-api-key": "sk-ant-test",
      "anthropic-version": "2023-06-01",
      ...headers,
    },
    body: JSON.stringify({ model: "claude-test", max_tokens: maxTokens, messages: [{ role: "user", content: "Hi" }] }),
  };
}

/** An OpenAI Chat Completions request. */
function openaiInit(/** @type {Record<string, string>} */ headers = {}, maxTokens = 100) {
  return {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test", ...headers },
    body: JSON.stringify({ model: "gpt-test", max_tokens: maxTokens, messages: [{ role: "user", content: "Hi" }] }),
  };
}

/** Status after reading the whole body (so the pacer settles the usage). */
async function statusOf(/** @type {Promise<Response>} */ p) {
  const res = await p;
  await res.text();
  return res.status;
}

/** The dimensions of the pacer's one limit key (`pacer.limits()[0]` without `key` and `model`; `{}` before any). */
const oneKey = (/** @type {any} */ pacer) => {
  const { key, model, ...dims } = pacer.limits()[0] ?? {};
  return dims;
};
const errorInfo = (/** @type {any} */ e) => ({ name: e?.name, message: e?.message, code: e?.code });

/** @typedef {new (options?: object) => { fetch: typeof fetch, stats(): any, limits(): any, close(): void }} PacerClass */

/**
 * The scenarios, each `(Pacer, env) => observations`.
 * @type {Record<string, (Pacer: PacerClass, env: Env) => Promise<object>>}
 */
export const scenarios = {
  /** A 429 with `retry-after: 2`, then a 200: one retry after the hint, in virtual time. */
  async retryAfter(Pacer, env) {
    const start = await freshStart(env);
    const clock = virtualClock(start);
    const send = sender(env, {
      clock,
      headersFor: (n) => (n === 1 ? { "x-mock-fault": "429; retry-after=2" } : undefined),
    });
    /** @type {number[]} */
    const sentAt = [];
    const pacer = new Pacer({
      clock,
      seed: 7,
      fetch: (/** @type {any} */ i, /** @type {any} */ o) => (sentAt.push(clock.now() - start), send(i, o)),
    });
    const status = await statusOf(pacer.fetch(`${env.anthropic}/v1/messages`, anthropicInit()));
    const { retries, rateLimited, attempts } = pacer.stats();
    return { status, sent: send.sent, sentAt, retries, rateLimited, attempts };
  },

  /**
   * A burst of 10 requests of 500 input tokens each under ITPM 2000 (Anthropic): 4 fit the
   * full bucket, then one every 15 s. The mock enforces the same limit in the same virtual
   * time, so a request sent early would be refused.
   */
  async burstItpm(Pacer, env) {
    const start = await freshStart(env);
    const clock = virtualClock(start);
    const send = sender(env, { clock });
    /** @type {number[]} */
    const admittedAt = [];
    const pacer = new Pacer({
      clock,
      seed: 1,
      limits: { itpm: 2000 },
      estimate: () => ({ input: 500, output: 16 }),
      fetch: send,
      onEvent: (/** @type {any} */ e) => e.type === "admitted" && admittedAt.push(e.at - start),
    });
    const url = `${env.anthropic}/v1/messages`;
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => statusOf(pacer.fetch(url, anthropicInit({ "x-mock-input-tokens": "500" })))),
    );
    return { statuses, sent: send.sent, admittedAt };
  },

  /**
   * A burst of 10 requests of 500 prompt + 100 max tokens under TPM 3000 (OpenAI): 5 fit the
   * full bucket, the rest are paced (faster than 12 s each once unused output is given back).
   */
  async burstTpm(Pacer, env) {
    const start = await freshStart(env);
    const clock = virtualClock(start);
    const send = sender(env, { clock });
    /** @type {number[]} */
    const admittedAt = [];
    const pacer = new Pacer({
      clock,
      seed: 1,
      limits: { tpm: 3000 },
      estimate: () => ({ input: 500, output: 100 }),
      fetch: send,
      onEvent: (/** @type {any} */ e) => e.type === "admitted" && admittedAt.push(e.at - start),
    });
    const url = `${env.openai}/v1/chat/completions`;
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => statusOf(pacer.fetch(url, openaiInit({ "x-mock-input-tokens": "500" }, 100)))),
    );
    return { statuses, sent: send.sent, admittedAt };
  },

  /**
   * Aborts while a call waits: in the queue (RPM 1 used up), in the backoff after a 429, and a
   * signal aborted before the call. Each settles at once with the signal's reason.
   */
  async abort(Pacer, env) {
    const start = await freshStart(env);
    const url = `${env.anthropic}/v1/messages`;

    // 1. Queued behind the RPM limit.
    const clock = virtualClock(start);
    const send = sender(env, { clock });
    const pacer = new Pacer({ clock, seed: 3, limits: { rpm: 1 }, fetch: send });
    const first = await statusOf(pacer.fetch(url, anthropicInit()));
    clock.hold();
    const ac = new AbortController();
    const queued = pacer.fetch(url, { ...anthropicInit(), signal: ac.signal });
    await until(() => pacer.stats().queued === 1 && clock.pending() > 0, "the second call to wait for the RPM bucket");
    const reason = new Error("stop waiting");
    ac.abort(reason);
    const outcome = await queued.then(
      () => "resolved",
      (e) => e,
    );
    const queuedResult = {
      first,
      rejectedWithReason: outcome === reason,
      outcome: outcome === reason ? "reason" : errorInfo(outcome),
      queuedAfter: pacer.stats().queued,
      sent: send.sent,
      clockMoved: clock.now() - start,
    };
    clock.release();

    // 2. In the backoff after a 429 (retry-after: 30), aborted with no reason (AbortError).
    const clock2 = virtualClock(start);
    const send2 = sender(env, { clock: clock2, headersFor: () => ({ "x-mock-fault": "429; retry-after=30" }) });
    const pacer2 = new Pacer({ clock: clock2, seed: 4, fetch: send2 });
    const ac2 = new AbortController();
    clock2.hold();
    const backingOff = pacer2.fetch(url, { ...anthropicInit(), signal: ac2.signal });
    await until(
      () => send2.sent === 1 && pacer2.stats().rateLimited === 1 && clock2.pending() > 0,
      "the 429 and its backoff",
    );
    ac2.abort();
    const outcome2 = await backingOff.then(
      () => "resolved",
      (e) => e,
    );
    const backoffResult = {
      rejectedWithReason: outcome2 === ac2.signal.reason,
      name: outcome2?.name,
      sent: send2.sent,
      clockMoved: clock2.now() - start,
    };
    clock2.release();

    // 3. Already aborted: never sent.
    const send3 = sender(env);
    const pacer3 = new Pacer({ clock: virtualClock(start), fetch: send3 });
    const reason3 = new Error("too late");
    const outcome3 = await pacer3.fetch(url, { ...anthropicInit(), signal: AbortSignal.abort(reason3) }).then(
      () => "resolved",
      (e) => e,
    );
    const preAborted = { rejectedWithReason: outcome3 === reason3, sent: send3.sent };
    return { queued: queuedResult, backoff: backoffResult, preAborted };
  },

  /**
   * Rate-limit headers hidden by CORS: one pacer gets responses whose headers the server does
   * not expose (`expose=none`), another gets the exposing ones. In a browser the first says so
   * in one `limits` event (`headers_hidden`), however many such responses it sees; elsewhere
   * (no CORS filter) neither does.
   */
  async corsHidden(Pacer, env) {
    const start = await freshStart(env);
    const url = `${env.anthropic}/v1/messages`;
    const out = {};
    for (const [name, headers] of [
      ["hidden", { "x-mock-fault": "ok; expose=none" }],
      ["exposed", {}],
    ]) {
      const clock = virtualClock(start);
      /** @type {string[]} */
      const reasons = [];
      const pacer = new Pacer({
        clock,
        fetch: sender(env, { clock, whole: false }),
        onEvent: (/** @type {any} */ e) => e.type === "limits" && reasons.push(e.reason),
      });
      let type;
      for (let i = 0; i < 2; i++) {
        const r = await pacer.fetch(url, anthropicInit(headers));
        await r.arrayBuffer();
        type = r.type;
      }
      out[name] = { type, reasons, limits: oneKey(pacer) };
    }
    return out;
  },

  /**
   * Request bodies of every kind the runtime's fetch takes (not a stream: Chromium sends those
   * only over HTTP/2), each refused once with a 429 and retried: the same body each time (the
   * driver compares them in the mock's log, by the `x-body-kind` header), the caller's object
   * left readable, and the estimate reserved per attempt.
   */
  async bodies(Pacer, env) {
    const start = await freshStart(env);
    const json = JSON.stringify({
      model: "claude-test",
      max_tokens: 33,
      messages: [{ role: "user", content: "x".repeat(300) }],
    });
    const url = `${env.anthropic}/v1/messages`;
    /** @type {Record<string, () => any>} */
    const kinds = {
      string: () => json,
      Uint8Array: () => new TextEncoder().encode(json),
      ArrayBuffer: () => new TextEncoder().encode(json).buffer,
      Blob: () => new Blob([json], { type: "application/json" }),
      Request: () => undefined,
    };
    /** @type {Record<string, object>} */
    const out = {};
    for (const [kind, make] of Object.entries(kinds)) {
      const clock = virtualClock(start);
      const send = sender(env, {
        clock,
        headersFor: (n) => (n === 1 ? { "x-mock-fault": "429; retry-after=1" } : undefined),
      });
      const pacer = new Pacer({ clock, seed: 2, fetch: send });
      const init = anthropicInit({ "x-body-kind": kind });
      const body = make();
      const request = body === undefined ? new Request(url, { ...init, body: json }) : undefined;
      const status = await statusOf(request ? pacer.fetch(request) : pacer.fetch(url, { ...init, body }));
      const s = pacer.stats();
      out[kind] = {
        status,
        sent: send.sent,
        retries: s.retries,
        inputReserved: s.inputTokensReserved,
        outputReserved: s.outputTokensReserved,
        callerBody: kind === "Blob" ? await body.text() : request ? await request.text() : null,
      };
    }
    return { json, kinds: out };
  },

  /** No configured limits: one call each to Anthropic and OpenAI, then `pacer.limits()`. */
  async learnedLimits(Pacer, env) {
    const start = await freshStart(env);
    const out = {};
    for (const [name, url, init] of [
      ["anthropic", `${env.anthropic}/v1/messages`, anthropicInit()],
      ["openai", `${env.openai}/v1/chat/completions`, openaiInit()],
    ]) {
      const clock = virtualClock(start);
      const pacer = new Pacer({ clock, fetch: sender(env, { clock }) });
      const before = oneKey(pacer);
      const status = await statusOf(pacer.fetch(/** @type {string} */ (url), /** @type {RequestInit} */ (init)));
      out[name] = { status, before, after: oneKey(pacer), now: clock.now() };
    }
    return out;
  },

  /**
   * The real clock (`Date.now`, `setTimeout`): waits that span no I/O must end. A 429 with
   * `retry-after-ms: 40`, then a call queued 40 ms behind the ITPM bucket while the first
   * call's response is still 500 ms away (so only a timer can end that wait).
   */
  async realTimers(Pacer, env) {
    await freshStart(env);
    const url = `${env.anthropic}/v1/messages`;
    const send = sender(env, {
      headersFor: (n) => (n === 1 ? { "x-mock-fault": "429; retry-after-ms=40" } : undefined),
    });
    const pacer = new Pacer({ seed: 5, fetch: send });
    const t0 = Date.now();
    const status = await statusOf(pacer.fetch(url, anthropicInit()));
    const retry = { status, sent: send.sent, elapsed: Date.now() - t0 };

    let n = 0;
    /** @type {string[]} */
    const order = [];
    const pacer2 = new Pacer({
      seed: 6,
      limits: { itpm: 60_000 },
      outputReservation: "none",
      // The first call takes the whole bucket (capacity 60000, 1 token per ms back).
      estimate: () => ({ input: n++ === 0 ? 60_000 : 40, output: 0 }),
      onEvent: (/** @type {any} */ e) => e.type === "admitted" && order.push(`admitted ${e.id}`),
    });
    const settle = async (/** @type {Promise<Response>} */ p, /** @type {number} */ id) => {
      const res = await p;
      order.push(`response ${id}`);
      return statusOf(Promise.resolve(res));
    };
    const statuses = await Promise.all([
      settle(pacer2.fetch(url, anthropicInit({ "x-mock-latency-ms": "500" })), 1),
      settle(pacer2.fetch(url, anthropicInit()), 2),
    ]);
    return { retry, paced: { statuses, order } };
  },

  /**
   * The usage of JSON answers, with the runtime's own timers (no clock): read as the caller
   * reads the body (`json()`, `text()`), from a clone when it is read as a stream, and from a
   * clone after a macrotask when it is never read. Every call ends, its usage counted.
   */
  async usageRead(Pacer, env) {
    await freshStart(env);
    const url = `${env.anthropic}/v1/messages`;
    const pacer = new Pacer({ seed: 8, fetch: sender(env, {}) });
    const out = (/** @type {number} */ n) => anthropicInit({ "x-mock-output-tokens": String(n) }, 64);
    const asJson = (await (await pacer.fetch(url, out(7))).json()).usage?.output_tokens;
    const asText = JSON.parse(await await pacer.fetch(url, out(5)).then((r) => r.text())).usage?.output_tokens;
    const streamed = await pacer.fetch(url, out(3));
    const reader = /** @type {ReadableStream} */ (streamed.body).getReader();
    while (!(await reader.read()).done);
    await pacer.fetch(url, out(2)); // never read
    let stats = pacer.stats();
    for (let i = 0; i < 100 && stats.inFlight > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      stats = pacer.stats();
    }
    return { asJson, asText, outputUsed: stats.outputTokensUsed, inFlight: stats.inFlight };
  },

  /**
   * Event streams, with the runtime's own streams and timers (a `fetch` of the scenario's own,
   * no network, that never looks at the signal): one read to its end reaches the caller byte
   * for byte, its usage counted; one whose caller cancels its reader early, and one its
   * caller's signal aborts, are cancelled themselves (not read on by the pacer), the aborted
   * one's read rejected with the signal's reason.
   */
  async streamRead(Pacer) {
    const enc = new TextEncoder();
    const ev = (/** @type {string} */ name, /** @type {object} */ data) =>
      `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
    const head = ev("message_start", { message: { usage: { input_tokens: 9, output_tokens: 1 } } });
    const delta = ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hi" } });
    const tail = ev("message_delta", { delta: {}, usage: { output_tokens: 4 } }) + ev("message_stop", {});
    /** Each call's stream: how much was pulled, whether it was cancelled. */
    const sources = [];
    let whole = true;
    const pacer = new Pacer({
      seed: 9,
      // It never looks at the signal: an abort is the pacer's to carry out.
      fetch: async () => {
        const short = whole;
        const source = { pulls: 0, cancelled: false };
        sources.push(source);
        const body = new ReadableStream({
          start: (c) => c.enqueue(enc.encode(head)),
          pull(c) {
            if (short) return void (c.enqueue(enc.encode(delta + tail)), c.close());
            source.pulls++;
            if (source.pulls < 20_000) c.enqueue(enc.encode(delta));
            else c.close();
          },
          cancel: () => void (source.cancelled = true),
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      },
    });
    const url = "https://api.anthropic.com/v1/messages";
    const init = { ...anthropicInit(), body: JSON.stringify({ model: "claude-test", max_tokens: 16, stream: true }) };
    const text = await (await pacer.fetch(url, init)).text();
    whole = false;
    const reader = /** @type {ReadableStream} */ ((await pacer.fetch(url, init)).body).getReader();
    await reader.read();
    await reader.cancel();
    // Aborted mid-stream by the caller's signal.
    const ac = new AbortController();
    const reason = new Error("stop");
    const aborted = /** @type {ReadableStream} */ (
      (await pacer.fetch(url, { ...init, signal: ac.signal })).body
    ).getReader();
    await aborted.read();
    ac.abort(reason);
    let abortRead = "read on to the end";
    try {
      while (!(await aborted.read()).done);
    } catch (e) {
      abortRead = e === reason ? "rejected with the reason" : `rejected with ${e}`;
    }
    const over = () => sources.slice(1).every((s) => s.cancelled || s.pulls >= 20_000);
    let stats = pacer.stats();
    for (let i = 0; i < 100 && (stats.inFlight > 0 || !over()); i++) {
      await new Promise((r) => setTimeout(r, 10));
      stats = pacer.stats();
    }
    return {
      whole: text === head + delta + tail,
      outputUsed: stats.outputTokensUsed,
      inFlight: stats.inFlight,
      cancelled: sources.slice(1).map((s) => s.cancelled),
      pulls: sources.slice(1).map((s) => s.pulls),
      abortRead,
    };
  },

  /**
   * The runtime's own errors never carry the caller's key: a malformed URL with `?key=`, a
   * header value holding the key (a NUL), a refused connection to a URL with `?key=`, and a
   * resumed stream whose read fails with an error that shows the URL. Each reports the error's
   * name and where the key is in it (none).
   */
  /** Requests `fetch` refuses itself: rejected at once, not retried as network errors. */
  async invalidRequests(Pacer) {
    /** @type {Record<string, string>} */
    const out = {};
    for (const [name, input, init] of [
      ["getWithBody", "http://127.0.0.1:9/v1/messages", { method: "GET", body: "{}" }],
      ["ftp", "ftp://127.0.0.1:9/v1/messages", { method: "POST", body: "{}" }],
      ["malformed", "http://[::1/v1/messages", { method: "POST", body: "{}" }],
    ]) {
      /** @type {string[]} */
      const events = [];
      const pacer = new Pacer({ onEvent: (/** @type {any} */ e) => events.push(`${e.type}:${e.reason}`) });
      try {
        await pacer.fetch(input, init);
        out[name] = "resolved";
      } catch {
        out[name] = `${events.at(-1)} after ${pacer.stats().attempts} attempt(s)`;
      }
    }
    return out;
  },

  async secretErrors(Pacer) {
    const KEY = "sk-SECRETKEY-0123456789abcdef";
    /** The paths in `e` (own properties, message, stack, cause, errors) whose string holds the key. */
    const leaks = (/** @type {unknown} */ e) => {
      /** @type {string[]} */
      const out = [];
      const seen = new Set();
      /** @param {any} v @param {string} at @param {number} depth */
      const walk = (v, at, depth) => {
        if (typeof v == "string") {
          if (v.includes(KEY) || v.includes("SECRETKEY")) out.push(at);
          return;
        }
        if (depth > 5 || typeof v != "object" || v === null || seen.has(v)) return;
        seen.add(v);
        for (const k of new Set([...Object.getOwnPropertyNames(v), "message", "stack", "cause", "path", "errors"])) {
          let x;
          try {
            x = v[k];
          } catch {
            continue;
          }
          walk(x, `${at}.${k}`, depth + 1);
        }
      };
      walk(e, "err", 0);
      return out;
    };
    const failure = async (/** @type {Promise<any>} */ p) => {
      try {
        await p;
        return "resolved";
      } catch (e) {
        return { name: /** @type {any} */ (e)?.name, leaks: leaks(e) };
      }
    };
    const pacer = new Pacer({ retry: { maxRetries: 0 } });
    const enc = new TextEncoder();
    // (One attempt: a read error before the first event is retried, and a lone call now
    // takes its whole retry schedule where a spent budget once stopped it at the fifth.)
    const streams = new Pacer({
      retry: { maxRetries: 0 },
      fetch: async (/** @type {unknown} */ input) =>
        new Response(
          new ReadableStream({
            start: (c) => c.enqueue(enc.encode('event: message_start\ndata: {"type":"message_start"}\n\n')),
            pull(c) {
              const e = new TypeError(`read failed: ${input}`);
              /** @type {any} */ (e).path = String(input);
              c.error(e);
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    });
    return {
      malformed: await failure(pacer.fetch(`http://exa mple.com/v1/messages?key=${KEY}`, anthropicInit())),
      header: await failure(pacer.fetch("http://127.0.0.1:9/v1/messages", anthropicInit({ "x-api-key": `${KEY}\0` }))),
      refused: await failure(pacer.fetch(`http://127.0.0.1:9/v1/messages?key=${KEY}`, anthropicInit())),
      body: await failure(
        streams.fetch(`https://api.anthropic.com/v1/messages?key=${KEY}`, anthropicInit()).then((r) => r.text()),
      ),
    };
  },
};

/**
 * `llm-pacer/slim`: using it before `init` throws a clear error; after `load()` it works.
 * @param {{ Pacer: PacerClass }} slim
 * @param {() => unknown} load runs `init` / `initSync` the runtime's way
 * @param {Env} env
 */
export async function slimScenario(slim, load, env) {
  let before = "no error";
  try {
    new slim.Pacer();
  } catch (e) {
    before = /** @type {Error} */ (e).message;
  }
  await load();
  const start = await freshStart(env);
  const clock = virtualClock(start);
  const pacer = new slim.Pacer({ clock, fetch: sender(env, { clock }) });
  const status = await statusOf(pacer.fetch(`${env.anthropic}/v1/messages`, anthropicInit()));
  return { before, status };
}

/** Bound a promise in real time (the runtimes' own `setTimeout`). */
function bounded(/** @type {Promise<any>} */ p, /** @type {string} */ what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no result after ${SCENARIO_TIMEOUT_MS} ms`)),
        SCENARIO_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs every scenario in turn; a scenario that throws reports `{ error }` (the driver fails
 * it) and the others still run.
 * @param {PacerClass} Pacer
 * @param {Env} env
 * @param {Record<string, () => Promise<object>>} [extra] runtime-specific scenarios
 */
export async function runScenarios(Pacer, env, extra = {}) {
  /** @type {Record<string, any>} */
  const results = {};
  const all = { ...Object.fromEntries(Object.entries(scenarios).map(([k, f]) => [k, () => f(Pacer, env)])), ...extra };
  for (const [name, run] of Object.entries(all)) {
    try {
      results[name] = await bounded(run(), name);
    } catch (e) {
      results[name] = { error: `${/** @type {Error} */ (e)?.stack ?? e}` };
    }
  }
  return results;
}
