// Shared helpers of the contract tests (tests/js/contract-*.test.mjs, sdk.test.mjs): a virtual
// clock that the pacer (its `clock` option) and the mock servers (their `now` option) share, a
// bounded wait on the event loop, and request helpers for the mocks.
//
// The clock never reads or waits on real time. A pending `sleep` resolves by moving virtual
// time forward to its end, but only once the system is quiet: no request in progress on the
// mock (or whatever `busy()` says) for a few turns of the event loop. So a request costs no
// virtual time, and a timer (a backoff, a queue wait, a `timeoutMs` deadline) can never fire
// while a response is still on its way, which would make the tests depend on real latency.
import assert from "node:assert/strict";

/** The virtual epoch every test starts at: 2026-01-01T00:00:00Z. */
export const T0 = Date.UTC(2026, 0, 1);

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A virtual clock for `new Pacer({ clock })` and the mocks' `now`.
 *
 * - `auto` (default): a sleep resolves as soon as the system is quiet, moving time to its end.
 * - `hold = true`: sleeps stay pending until `advance(ms)` (or `hold = false`).
 */
export class VirtualClock {
  /**
   * @param {{ start?: number, busy?: () => boolean, quietTurns?: number }} [options]
   *   `busy`: true while something real is in progress (time must not jump then).
   */
  constructor({ start = T0, busy = () => false, quietTurns = 3 } = {}) {
    this.t = start;
    this.start = start;
    this.busy = busy;
    this.quietTurns = quietTurns;
    /** Pending sleeps. @type {Set<{ until: number, ms: number, resolve: () => void }>} */
    this.pending = new Set();
    /** Every sleep asked for: `{ ms, at }` (virtual time of the request). */
    this.sleeps = [];
    /** Sleeps cancelled through their signal. */
    this.cancelled = 0;
    this.hold = false;
    this.pumping = false;
    this.now = this.now.bind(this);
    this.sleep = this.sleep.bind(this);
  }

  now() {
    return this.t;
  }

  /** Virtual ms since the start. */
  get elapsed() {
    return this.t - this.start;
  }

  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        this.cancelled++;
        return reject(signal.reason);
      }
      assert.ok(Number.isFinite(ms) && ms >= 0, `the pacer asked to sleep ${ms} ms`);
      const s = { until: this.t + ms, ms, resolve };
      this.sleeps.push({ ms, at: this.t });
      this.pending.add(s);
      signal?.addEventListener(
        "abort",
        () => {
          if (this.pending.delete(s)) {
            this.cancelled++;
            reject(signal.reason);
          }
        },
        { once: true },
      );
      this.#pump();
    });
  }

  /** Move time forward by `ms` and resolve the sleeps that are due (in order). */
  async advance(ms) {
    const target = this.t + ms;
    for (;;) {
      const next = this.#earliest();
      if (!next || next.until > target) break;
      this.t = Math.max(this.t, next.until);
      this.#resolveDue();
      for (let i = 0; i < this.quietTurns; i++) await turn();
    }
    this.t = Math.max(this.t, target);
    this.#resolveDue();
    for (let i = 0; i < this.quietTurns; i++) await turn();
  }

  /** Let the event loop turn (no time passes). */
  async settle(turns = 10) {
    for (let i = 0; i < turns; i++) await turn();
  }

  #earliest() {
    let best;
    for (const s of this.pending) if (!best || s.until < best.until) best = s;
    return best;
  }

  #resolveDue() {
    for (const s of [...this.pending].sort((a, b) => a.until - b.until)) {
      if (s.until <= this.t) {
        this.pending.delete(s);
        s.resolve();
      }
    }
  }

  async #pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.hold && this.pending.size > 0) {
        let quiet = 0;
        for (let i = 0; quiet < this.quietTurns; i++) {
          await turn();
          quiet = this.busy() ? 0 : quiet + 1;
          if (i > 2_000_000) throw new Error("VirtualClock: the system never went quiet");
        }
        if (this.hold) break;
        const next = this.#earliest();
        if (!next) break;
        this.t = Math.max(this.t, next.until);
        this.#resolveDue();
      }
    } finally {
      this.pumping = false;
    }
  }
}

/** Let the event loop turn until `cond()` holds (no timers, no real waiting beyond I/O). */
export async function until(cond, what = "the condition") {
  for (let i = 0; i < 200_000; i++) {
    if (cond()) return;
    await turn();
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * A `fetch` for the pacer's `fetch` option that counts attempts in progress (head not yet
 * received) and keeps what it returned or threw, for assertions.
 */
export function trackedFetch(inner = (input, init) => globalThis.fetch(input, init)) {
  const t = {
    pending: 0,
    calls: 0,
    errors: [],
    responses: [],
    fetch: async (input, init) => {
      t.calls++;
      t.pending++;
      try {
        const r = await inner(input, init);
        t.responses.push(r);
        return r;
      } catch (e) {
        t.errors.push(e);
        throw e;
      } finally {
        t.pending--;
      }
    },
  };
  return t;
}

/** Anthropic Messages request init: JSON body, the version header, an API key. */
export function anthropicInit({ body = {}, headers = {}, signal, apiKey = "sk-ant-test-key" } = {}) {
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "x-api-key": apiKey,
      ...headers,
    },
    body: JSON.stringify({
      model: "claude-test",
      max_tokens: 64,
      messages: [{ role: "user", content: "Hello there" }],
      ...body,
    }),
    ...(signal ? { signal } : {}),
  };
}

/** OpenAI Chat Completions request init. */
export function openaiInit({ body = {}, headers = {}, signal, apiKey = "sk-openai-test-key" } = {}) {
  return {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}`, ...headers },
    body: JSON.stringify({
      model: "gpt-test",
      max_completion_tokens: 64,
      messages: [{ role: "user", content: "Hello there" }],
      ...body,
    }),
    ...(signal ? { signal } : {}),
  };
}

/** Wait until the pacer has nothing queued or in flight (bodies read, usage settled). */
export function drained(pacer, what = "the pacer to drain") {
  return until(() => {
    const s = pacer.stats();
    return s.inFlight === 0 && s.queued === 0;
  }, what);
}

/** Resolve with how a promise settled, without throwing: `{ ok, value }` or `{ ok: false, error }`. */
export function outcome(p) {
  return p.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}

/** Has the promise settled yet (after letting the event loop turn a few times)? */
export async function isSettled(p, turns = 20) {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < turns && !done; i++) await turn();
  return done;
}

/**
 * A test environment: a virtual clock shared by a mock server and the pacers made with
 * `make(options)`, which send through a tracked `fetch` and record their events.
 * @param {import("node:test").TestContext} t closes the mock after the test
 * @param {(options: object) => Promise<any>} start `startAnthropicMock` or `startOpenAIMock`
 * @param {object} [mockOptions] more mock options (`limits` defaults to none: no buckets), and
 *   `virtualLatencyMs` (default 0): the virtual time each response takes to come back
 */
export async function mockEnv(t, start, { virtualLatencyMs = 0, ...mockOptions } = {}) {
  const { Pacer } = await import("llm-pacer");
  let mock;
  let clock;
  // `virtualLatencyMs`: each response reaches the pacer that much virtual time after the server
  // saw its request (by default requests take no virtual time at all).
  const tf = trackedFetch(async (input, init) => {
    const response = await globalThis.fetch(input, init);
    clock.t += virtualLatencyMs;
    return response;
  });
  clock = new VirtualClock({
    busy: () => tf.pending > 0 || (mock !== undefined && mock.stats.inFlight > 0),
    quietTurns: 5,
  });
  mock = await start({ now: clock.now, latencyMs: 0, eventDelayMs: 0, limits: {}, ...mockOptions });
  t.after(() => mock.close());
  const events = [];
  const make = (options = {}) => new Pacer({ clock, fetch: tf.fetch, onEvent: (e) => events.push(e), ...options });
  const path = start.name === "startOpenAIMock" ? "/v1/chat/completions" : "/v1/messages";
  return { clock, mock, tf, events, make, url: `${mock.url}${path}` };
}

/** Virtual ms between the arrivals of the mock's requests i and j (0-based). */
export function gap(mock, i, j = i + 1) {
  return mock.log[j].at - mock.log[i].at;
}

/**
 * Imports the package while catching its Wasm instance's memory, to watch it grow. Call it
 * before anything else imports "llm-pacer": a module instantiates once.
 * @returns {Promise<{ api: typeof import("llm-pacer"), memory: () => WebAssembly.Memory | null }>}
 */
export async function importWithWasmMemory() {
  /** @type {WebAssembly.Memory | null} */
  let memory = null;
  const Instance = WebAssembly.Instance;
  WebAssembly.Instance = new Proxy(Instance, {
    construct(target, args, newTarget) {
      const instance = Reflect.construct(target, args, newTarget);
      if (instance.exports?.memory instanceof WebAssembly.Memory) memory = instance.exports.memory;
      return instance;
    },
  });
  try {
    return { api: await import("llm-pacer"), memory: () => memory };
  } finally {
    WebAssembly.Instance = Instance;
  }
}

/** Fails (instead of hanging) when `p` has not settled after `ms` of real time. */
export async function bounded(p, what, ms = 10_000) {
  let timer;
  try {
    return await Promise.race([
      p,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms of real time`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const secs = (ms) => (ms === null ? "-" : `${(ms / 1000).toFixed(1)} s`);

/**
 * A simulator report as a row of the results table, cell by cell, as the demo page and the
 * native `simulate` binary print it (the page puts "(stopped)" after the makespan of a
 * truncated run; the binary at the end of the line).
 */
export function reportRow(r) {
  return [
    r.strategy,
    secs(r.makespanMs) + (r.truncated ? " (stopped)" : ""),
    secs(r.lowerBoundMs),
    r.ratio === null ? "-" : r.ratio.toFixed(3),
    String(r.rateLimited),
    String(r.overloaded),
    String(r.retries),
    String(r.failures),
    secs(r.latencyP50Ms),
    secs(r.latencyP99Ms),
  ];
}

/**
 * The dimensions `pacer.limits()` shows for the pacer's one limit key, without its `key` and
 * `model` (`{}` while no key is known). Fails when the pacer holds more than one key.
 */
export function oneKey(pacer) {
  const all = pacer.limits();
  assert.ok(Array.isArray(all) && all.length <= 1, `one limit key expected, got ${JSON.stringify(all)}`);
  const { key, model, ...dims } = all[0] ?? {};
  return dims;
}
