// `Pacer`: the options read here, the calls paced and retried by the Wasm driver
// (src/wasm/), the JSON bodies watched for their usage (body-watch.js), the streams resumed
// after their peek (stream-resume.js).

import { ensureReady, glue, host } from "./binding.js";
import { joined, jsonBodies, usageNumbers } from "./body-watch.js";
import { callCopy } from "./call-copy.js";
import { makeError } from "./errors.js";
import { follow } from "./follow.js";
import { isObject, readOptions } from "./read-options.js";
import { delivered, scrubbed } from "./scrub.js";
import { resumer } from "./stream-resume.js";
import { guarded, live } from "./trap-guard.js";

/**
 * Headers as one string of `name:value` lines: the driver reads them in one crossing instead
 * of some eight per header. A response's `Headers`, or a request's as given: a `Headers`, an
 * array of pairs (both iterable) or a record.
 * @param {HeadersInit} headers
 */
function headerLines(headers) {
  let s = "";
  if (typeof headers[Symbol.iterator] == "function") for (const [k, v] of headers) s += `${k}:${v}\n`;
  else for (const k of Object.keys(headers)) s += `${k}:${headers[k]}\n`;
  return s;
}

/** The most of a `Request` input's body read for the estimate (the Wasm side's own cap). */
const REQUEST_BODY_CAP = 32 << 20;

/**
 * The bytes of a `Request` input's body, for the estimate: read from a clone (the caller's
 * body is never touched), at most REQUEST_BODY_CAP of them; past that, the number of bytes
 * seen (the estimate prices that length); `undefined` if the body fails.
 * @param {Request} request
 */
async function requestBody(request) {
  const reader = request.clone().body.getReader();
  const chunks = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > REQUEST_BODY_CAP) return n;
      chunks.push(value);
    }
  } catch {
    return undefined;
  } finally {
    reader.cancel().catch(() => {});
  }
  return joined(chunks);
}

/**
 * Is this call an SDK's own retry (`x-stainless-retry-count` above 0, as the Anthropic and
 * OpenAI SDKs send it)? Then the SDK retries on top of the pacer's retries.
 */
function sdkRetry(input, init) {
  const h = init?.headers ?? (typeof Request === "function" && input instanceof Request ? input.headers : undefined);
  if (!isObject(h)) return false;
  const name = "x-stainless-retry-count";
  let v;
  if (typeof h.get == "function") v = h.get(name);
  else for (const [k, x] of Array.isArray(h) ? h : Object.entries(h)) if (String(k).toLowerCase() == name) v = x;
  return Number(v) > 0;
}

/** One line per event for the `debug` option: what happened, never a URL, header, body or key. */
function logEvent(e) {
  let line = `llm-pacer: ${e.id ? `#${e.id} ` : ""}${e.type} ${e.reason}`;
  for (const k of ["attempt", "status", "delayMs", "latencyMs", "model"])
    if (e[k] !== undefined) line += ` ${k}=${e[k]}`;
  if (e.usage) line += ` usage=${e.usage.inputTokens}in/${e.usage.outputTokens}out`;
  if (e.message) line += ` ${e.message}`;
  (globalThis.process?.stderr ? console.error : console.debug)(line);
}

/** `LLM_PACER_DEBUG=1` in the environment, where there is one (in Deno, only with the permission already granted: never a prompt). */
function envDebug() {
  try {
    const p = globalThis.Deno?.permissions;
    if (p && p.querySync({ name: "env", variable: "LLM_PACER_DEBUG" }).state != "granted") return false;
    return globalThis.process?.env?.LLM_PACER_DEBUG === "1";
  } catch {
    return false;
  }
}

/** The pacers with a call live (`fns.pin`): held while their calls need them. */
const pinned = new Set();

/**
 * `pacer.fetch` at `priority`, settled through `resolve` / `reject`: a `Request` input's own
 * body is read for the estimate first.
 */
function pacedFetch(raw, input, init, priority, resolve, reject, dispatch) {
  try {
    if (host.shared) {
      const signal =
        init?.signal ?? (typeof Request === "function" && input instanceof Request ? input.signal : undefined);
      if (signal) host.shared(signal);
    }
    if (
      typeof Request === "function" &&
      input instanceof Request &&
      input.body &&
      !input.bodyUsed &&
      (init == null || init.body === undefined)
    ) {
      requestBody(input).then((body) => {
        try {
          raw.fetch(input, init, priority, body, resolve, reject, dispatch);
        } catch (e) {
          reject(e);
        }
      }, reject);
      return;
    }
    raw.fetch(input, init, priority, undefined, resolve, reject, dispatch);
  } catch (e) {
    reject(e);
  }
}

/**
 * The module's pacer for `numbers` and `fns`, with the callbacks it keeps, and the events'
 * `emit` to `listeners`. Made here, not in the constructor: a closure keeps its whole scope's
 * captured variables, and the module holds these callbacks, so a scope of theirs that held
 * `raw` (as the constructor's `call` does) would keep every pacer alive. They reach `raw`
 * through a WeakRef; while a call is live, `fns.pin` holds it (src/wasm/options.rs).
 */
function start(numbers, fns, listeners) {
  let ref;
  const emit = (e) => {
    for (const l of listeners) {
      try {
        l(e);
      } catch {} // a listener's exception is its own
    }
  };
  // The module's events come as their fields (one crossing each: src/wasm/report.rs), the
  // object built here; NaN, `undefined` or a status of 0 is a field left out.
  fns.onEvent = (type, id, attempt, reason, delayMs, at, status, latencyMs, key, model, usage, message) => {
    const e = { type, id, attempt, reason, delayMs, at };
    if (status > 0) e.status = status;
    if (!Number.isNaN(latencyMs)) e.latencyMs = latencyMs;
    if (key !== undefined) {
      e.key = key;
      e.model = model;
    }
    if (!Number.isNaN(usage[0]))
      e.usage = {
        inputTokens: usage[0],
        outputTokens: usage[1],
        cacheCreationInputTokens: usage[2],
        cacheReadInputTokens: usage[3],
      };
    if (message !== undefined) e.message = message;
    emit(e);
  };
  fns.headerLines = headerLines;
  /**
   * `raw[name](...args)`, the module's answer to a callback of the package's; `false` if the
   * module trapped (every call has been rejected already). The callbacks the module keeps
   * reach `raw` weakly, so that a pacer the program dropped is freed; while a call is live,
   * `pin` holds it.
   */
  const back =
    (name) =>
    (...args) => {
      try {
        return ref.deref()[name](...args);
      } catch {
        return false;
      }
    };
  fns.pin = (live) => (live ? pinned.add(ref.deref()) : pinned.delete(ref.deref()));
  // How the driver waits for an attempt: `answered` once what `fetch` returned settles.
  const answered = back("answered");
  fns.awaitAttempt = (p, id, attempt) =>
    void Promise.resolve(p).then(
      (v) => answered(id, attempt, v, true),
      (e) => answered(id, attempt, e, false),
    );
  // How the driver hands over a stream it peeked at: its chunks shown to
  // `RawPacer.chunk(id, bytes)` on their way to the caller, its end to `streamEnd`.
  fns.pump = resumer(back("chunk"), back("streamEnd"), host.beating);
  // How a body the pacer does not read keeps following the caller's signal (follow.js).
  fns.follow = follow;
  // With a clock of the caller's, time and timers are theirs alone: a JSON body is cloned.
  const usageText = back("usageText");
  const usageOf = back("usageNumbers");
  // In workerd a body returned from the handler is the runtime's to stream, and nothing of the
  // request's runs once it is sent: the body is cloned at once, the clone's read kept
  // (`host.keep`).
  if (!fns.clock)
    fns.jsonBody = jsonBodies(
      host.own ? (f) => f() : (f) => setTimeout(f, 0),
      (id, doc, text) => (text === true ? usageText(id, doc) : usageOf(id, usageNumbers(doc))),
      host.keep,
    );
  const raw = new glue.RawPacer(numbers, fns, makeError);
  ref = weak(raw);
  return { raw, emit };
}

/**
 * `pacedFetch` from a context of the call's own (workerd: `host.own`, own-context.js): settled
 * there, whatever request's code settles it (another's timer may find its deadline passed).
 */
function ownFetch(raw, input, init, priority, resolve, reject) {
  // Streams whose requests are gone end first: their slots are free for this call.
  host.sweep?.();
  const own = host.own(raw);
  pacedFetch(
    raw,
    input,
    init,
    priority,
    (v) => own.end(() => resolve(delivered(v, input, init))),
    (e) => own.end(() => reject(scrubbed(e, input, init))),
    own.dispatch,
  );
  own.start();
}

/** A WeakRef to `x` (or, with none in this runtime, `x` held). */
const weak = (x) => (typeof WeakRef == "function" ? new WeakRef(x) : { deref: () => x });

/** Paces and retries `fetch` calls to an LLM API; see the README and index.d.ts. */
class Pacer {
  /** Panics in the Wasm module, for the package's own tests (tests/js/panic.test.mjs). */
  static [Symbol.for("llm-pacer.panicForTests")]() {
    live();
    glue.panicForTests();
  }
  #raw;
  /** Who gets events: `onEvent`, the `debug` logger, `llm-pacer/opentelemetry`. */
  #listeners = new Set();
  /** @param {object} [options] */
  constructor(options) {
    ensureReady("new Pacer()");
    live();
    const [numbers, fns] = readOptions(options);
    const listeners = this.#listeners;
    if (fns.onEvent) listeners.add(fns.onEvent);
    if (fns.debug ?? envDebug()) listeners.add(logEvent);
    const { raw, emit } = start(numbers, fns, listeners);
    raw.events(listeners.size > 0);
    this.#raw = raw;
    let warned = false;
    const call = (input, init, priority) => {
      if (!warned && sdkRetry(input, init)) {
        warned = true;
        emit({
          type: "warning",
          reason: "sdk_retries",
          message:
            "the SDK retries on top of the pacer (x-stainless-retry-count > 0), which multiplies attempts: " +
            "create the client with maxRetries: 0",
          at: Math.round(fns.now ? fns.now.call(fns.clock) : Date.now()),
        });
      }
      // The arguments as they are now, as `fetch` takes them (call-copy.js). Whatever the call
      // fails with, its credentials scrubbed (scrub.js); as are the errors of a body the
      // package hands over.
      return guarded((resolve, reject) => {
        const [i, o] = callCopy(input, init);
        if (host.own) return ownFetch(raw, i, o, priority, resolve, reject);
        pacedFetch(
          raw,
          i,
          o,
          priority,
          (v) => resolve(delivered(v, i, o)),
          (e) => reject(scrubbed(e, i, o)),
        );
      });
    };
    this.#call = call;
    /** `fetch`, paced and retried; bound, so it can be passed around on its own. */
    this.fetch = (input, init) => call(input, init, 0);
  }
  #call;
  /**
   * Add an event listener (as `onEvent`); returns the function that removes it. For
   * adapters such as `llm-pacer/opentelemetry`.
   * @param {(event: object) => void} listener
   */
  [Symbol.for("llm-pacer.listen")](listener) {
    this.#listeners.add(listener);
    this.#raw.events(true);
    return () => {
      this.#listeners.delete(listener);
      this.#raw.events(this.#listeners.size > 0);
    };
  }
  /**
   * A `fetch` like `pacer.fetch` whose calls queue at `priority` (higher goes first).
   * @param {number} priority an integer in [-1000000, 1000000]
   */
  withPriority(priority) {
    if (typeof priority !== "number") {
      throw new TypeError(`llm-pacer: option \`priority\` must be an integer, got ${typeof priority}`);
    }
    if (!Number.isInteger(priority) || Math.abs(priority) > 1e6) {
      throw new RangeError(`llm-pacer: option \`priority\` must be an integer in [-1000000, 1000000], got ${priority}`);
    }
    const call = this.#call;
    return (input, init) => call(input, init, priority);
  }
  /** Counters: plain, finite, non-negative numbers. */
  stats() {
    live();
    return this.#raw.stats();
  }
  /** What is known now of each limit key: `[{ key, model, requests?, inputTokens?, ... }]`. */
  limits() {
    live();
    return this.#raw.limits();
  }
  /** Reject queued calls with `CLOSED`, let in-flight attempts finish, refuse new calls. */
  close() {
    live();
    this.#raw.close();
  }
}

export { Pacer };
