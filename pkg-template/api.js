// The public API around the generated bindings, shared by every entry point: each entry
// loads its WebAssembly module, hands its bindings to binding.js's `bind`, and re-exports
// this module's names (scripts/build-pkg.mjs bundles each entry with esbuild).

import { glue, isReady } from "./binding.js";
import { jsonBodies } from "./body-watch.js";
import { checkKeys } from "./strict.js";

/** Throw unless the Wasm module is ready (only `llm-pacer/slim` can be used too early). */
function ensureReady(what) {
  if (isReady && !isReady()) {
    throw new Error(`llm-pacer/slim: call \`await init()\` (or \`initSync(module)\`) before \`${what}\``);
  }
}

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

/** The base class of every error the pacer itself creates. */
class PacerError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {object} [details]
   */
  constructor(code, message, details) {
    super(message);
    this.code = code;
    if (details) {
      for (const key of Object.keys(details)) this[key] = details[key];
    }
  }
}
/** `REQUEST_TOO_LARGE`: the request can never fit a limit. */
class RequestTooLargeError extends PacerError {
  constructor(message, details) {
    super("REQUEST_TOO_LARGE", message, details);
  }
}
/** `RETRY_AFTER_TOO_LONG`: the server asked for a wait longer than `maxRetryAfterMs`. */
class RetryAfterTooLongError extends PacerError {
  constructor(message, details) {
    super("RETRY_AFTER_TOO_LONG", message, details);
  }
}
/** `TIMEOUT`: `timeoutMs` passed before any response arrived. */
class PacerTimeoutError extends PacerError {
  constructor(message, details) {
    super("TIMEOUT", message, details);
  }
}
/** `CLOSED`: the pacer was closed. */
class ClosedError extends PacerError {
  constructor(message, details) {
    super("CLOSED", message, details);
  }
}
for (const C of [PacerError, RequestTooLargeError, RetryAfterTooLongError, PacerTimeoutError, ClosedError]) {
  Object.defineProperty(C.prototype, "name", { value: C.name, writable: true, configurable: true });
}

// --- A trap (a panic in the Wasm module: a bug) leaves that instance of the module unusable
// and the promises of its calls unsettled (src/wasm/trap.rs): the panic hook calls back here
// first, and every pending call, and every later use, gets one `INTERNAL` error instead.
let trapped;
/** The reject functions of the calls in progress, across every pacer of this module. */
const pending = new Set();
let hooked = false;
/** Throw the `INTERNAL` error once the module trapped; register the trap hook once. */
function live() {
  if (trapped) throw trapped;
  if (!hooked) {
    hooked = true;
    glue.onTrap(() => {
      trapped ??= new PacerError(
        "INTERNAL",
        "llm-pacer: internal error (a bug in llm-pacer: please report it); this instance of the module can no longer be used",
      );
      for (const reject of pending) reject(trapped);
      pending.clear();
    });
  }
}
/** `run()`'s promise, rejected with the `INTERNAL` error if the module traps meanwhile. */
function guarded(run) {
  try {
    live();
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    pending.add(reject);
    const done = () => pending.delete(reject);
    try {
      run().then(
        (v) => (done(), resolve(v)),
        (e) => (done(), reject(trapped ?? e)),
      );
    } catch (e) {
      done();
      reject(trapped ?? e);
    }
  });
}

/** What to change, per dimension of a request that can never fit. */
const TOO_LARGE_HINTS = {
  // The output reserved is the request's max_tokens, which SDKs may set to the model's
  // maximum by default (the Vercel AI SDK: 64,000 for Claude Sonnet 4.5).
  outputTokens:
    ": its max_tokens is reserved up front, as the server counts it; lower max_tokens (`maxOutputTokens` in the Vercel AI SDK)",
  tokens:
    ": its input and max_tokens count together, as the server counts them; lower max_tokens (`maxOutputTokens` in the Vercel AI SDK)",
  inputTokens: ": shorten the prompt (the estimate counts about 3 characters of text a token), or pass `estimate`",
};

const DIMENSIONS = {
  requests: "requests",
  inputTokens: "input tokens",
  outputTokens: "output tokens",
  tokens: "tokens",
};

function abortError() {
  const message = "This operation was aborted";
  if (typeof DOMException === "function") return new DOMException(message, "AbortError");
  const e = new Error(message);
  e.name = "AbortError";
  return e;
}

/** The factory the Wasm side calls for every error it rejects with (codes from the core). */
function makeError(code, details) {
  switch (code) {
    case "REQUEST_TOO_LARGE":
      return new RequestTooLargeError(
        `llm-pacer: the request needs ${Math.ceil(details.cost)} ${DIMENSIONS[details.dimension] ?? details.dimension} ` +
          `but the limit is ${details.capacity} per minute, so it can never be sent${TOO_LARGE_HINTS[details.dimension] ?? ""}`,
        details,
      );
    case "RETRY_AFTER_TOO_LONG":
      return new RetryAfterTooLongError(
        `llm-pacer: the server asked to wait ${Math.ceil(details.hintMs)} ms, longer than retry.maxRetryAfterMs`,
        details,
      );
    case "TIMEOUT":
      return new PacerTimeoutError(
        details.timeoutMs === undefined
          ? "llm-pacer: timeoutMs passed before any response arrived"
          : `llm-pacer: timeoutMs (${details.timeoutMs} ms) passed before any response arrived`,
        details,
      );
    case "CLOSED":
      return new ClosedError("llm-pacer: the pacer is closed", details);
    case "ABORT":
      return abortError();
    default:
      return new PacerError(code, `llm-pacer: request failed (${code})`, details);
  }
}

// --- The options, read and validated here (the Wasm side takes them as a flat list of
// numbers, src/wasm/options.rs, plus the functions): `undefined` and `null` mean "not given";
// a wrong type is a TypeError, a value out of range a RangeError, each naming the option as
// written (`retry.maxRetries`); type checks first, in reading order, then the ranges;
// an unknown key is a TypeError naming it and the closest known one (see OPTIONS). Each
// option is read once.

/**
 * Every option key, per options object (the path as the errors spell it; `*` is any key):
 * adding an option is one line here, and its reader below.
 */
const OPTIONS = {
  "": "limits preset retry budget concurrency timeoutMs outputReservation estimate fetch clock seed onEvent debug limitKey store",
  "limits.": "rpm tpm itpm otpm models",
  "limits.models.*.": "rpm tpm itpm otpm",
  "retry.": "maxRetries initialDelayMs maxDelayMs multiplier jitter maxRetryAfterMs retryOn",
  "budget.": "ratio maxTokens",
  // The lower-level exports' own options.
  Backoff: "initialDelayMs maxDelayMs multiplier jitter maxRetries maxRetryAfterMs seed",
  Limiter: "limits preset outputReservation latencyMs",
};

/** The TypeError (`type`) or RangeError naming `path`. */
const optionError = (type, path, expected) =>
  new (type ? TypeError : RangeError)(`llm-pacer: option \`${path}\` must be ${expected}`);
const MS = "a number of ms from 0 to 86400000";
const RESERVATION = '"max_tokens", "none" or a number from 0 to 1e12';
const STATUSES = "an array of HTTP statuses";
/** The smallest positive normal double (Rust's `f64::MIN_POSITIVE`). */
const MIN_POSITIVE = 2.2250738585072014e-308;
const JITTERS = ["none", "full", "equal", "decorrelated", "additive"];
/** `v` absent (`undefined` or `null`). */
const absent = (v) => v === undefined || v === null;
/** `v` as JavaScript's typeof, with `null` apart (the Wasm side's `is_object`). */
const isObject = (v) => typeof v == "object" && v !== null;

/**
 * `options` as `[numbers, functions]` for the Wasm side, or a throw naming a bad option.
 * @returns {[number[], object]}
 */
function readOptions(options, top = "") {
  const n = Array(19);
  const fns = {};
  if (absent(options)) return [n.fill(NaN), fns];
  if (!isObject(options)) throw new TypeError("llm-pacer: options must be an object");
  const o = options;
  checkKeys(o, OPTIONS[top], "");
  /** `obj[key]` if a number (NaN included), `undefined` if absent; else a TypeError naming `path`. */
  const num = (obj, key, path) => {
    const v = obj[key];
    if (absent(v)) return undefined;
    if (typeof v != "number") throw optionError(1, path, "a number");
    return v;
  };
  const obj = (key, expected = "an object") => {
    const v = o[key];
    if (absent(v)) return undefined;
    if (!isObject(v)) throw optionError(1, key, expected);
    return v;
  };
  const fn = (from, key, path) => {
    const v = from[key];
    if (absent(v)) return undefined;
    if (typeof v != "function") throw optionError(1, path, "a function");
    return v;
  };
  const integer = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;

  const limits = obj("limits");
  const DIMS4 = ["rpm", "tpm", "itpm", "otpm"];
  const LIMIT = "a number greater than 0 and at most 1e12";
  if (limits) {
    checkKeys(limits, OPTIONS["limits."], "limits.");
    for (const [i, k] of DIMS4.entries()) n[i] = num(limits, k, `limits.${k}`);
  }
  // `limits.models`: per model class, flat for the Wasm side (class, rpm, tpm, itpm, otpm).
  const models = limits?.models;
  if (!absent(models)) {
    if (!isObject(models)) throw optionError(1, "limits.models", "an object of limits by model class");
    fns.models = [];
    for (const [name, m] of Object.entries(models)) {
      const path = `limits.models.${name}`;
      if (!isObject(m)) throw optionError(1, path, "an object");
      checkKeys(m, OPTIONS["limits.models.*."], `${path}.`);
      fns.models.push(name);
      for (const k of DIMS4) {
        const v = num(m, k, `${path}.${k}`);
        if (v !== undefined && !(v >= MIN_POSITIVE && v <= 1e12)) throw optionError(0, `${path}.${k}`, LIMIT);
        fns.models.push(v ?? NaN);
      }
    }
  }
  const preset = o.preset;
  if (!absent(preset)) {
    if (typeof preset != "string") throw optionError(1, "preset", "a string");
    n[4] = low().op(11, preset);
  }
  const retry = obj("retry");
  if (retry) {
    checkKeys(retry, OPTIONS["retry."], "retry.");
    n[5] = num(retry, "maxRetries", "retry.maxRetries");
    if (n[5] !== undefined && !integer(n[5], 0, 100))
      throw optionError(0, "retry.maxRetries", "an integer from 0 to 100");
    n[6] = num(retry, "initialDelayMs", "retry.initialDelayMs");
    n[7] = num(retry, "maxDelayMs", "retry.maxDelayMs");
    n[8] = num(retry, "multiplier", "retry.multiplier");
    const jitter = retry.jitter;
    if (!absent(jitter)) {
      if (typeof jitter != "string") throw optionError(1, "retry.jitter", "a string");
      n[9] = JITTERS.indexOf(jitter);
      if (n[9] < 0) throw optionError(0, "retry.jitter", `one of ${JITTERS.map((j) => `"${j}"`).join(", ")}`);
    }
    n[10] = num(retry, "maxRetryAfterMs", "retry.maxRetryAfterMs");
    const list = retry.retryOn;
    if (!absent(list)) {
      if (!Array.isArray(list)) throw optionError(1, "retry.retryOn", STATUSES);
      n[18] = list.length;
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (typeof s != "number") throw optionError(1, "retry.retryOn", STATUSES);
        if (!integer(s, 400, 599))
          throw optionError(0, "retry.retryOn", "a list of HTTP error statuses (integers from 400 to 599)");
        n.push(s);
      }
    }
  }
  const budget = o.budget;
  if (budget === false) n[11] = 0;
  else if (isObject(budget)) {
    checkKeys(budget, OPTIONS["budget."], "budget.");
    n[11] = 1;
    n[12] = num(budget, "ratio", "budget.ratio");
    n[13] = num(budget, "maxTokens", "budget.maxTokens");
  } else if (!absent(budget)) throw optionError(1, "budget", "an object or false");
  // "auto": adaptive window and rate while no limit is known (-1 on the Wasm side).
  const auto = o.concurrency === "auto";
  n[14] = auto ? undefined : num(o, "concurrency", "concurrency");
  if (n[14] !== undefined && n[14] !== Infinity && !integer(n[14], 1, 1e6)) {
    throw optionError(0, "concurrency", 'an integer from 1 to 1000000, Infinity, or "auto"');
  }
  if (auto) n[14] = -1;
  n[15] = num(o, "timeoutMs", "timeoutMs");
  const reservation = o.outputReservation;
  /** -1 `"max_tokens"`, -2 `"none"` (the Wasm side's codes), after the range checks. */
  let named;
  if (typeof reservation == "string") {
    named = -1 - ["max_tokens", "none"].indexOf(reservation);
    if (named == 0) throw optionError(0, "outputReservation", RESERVATION);
  } else if (typeof reservation == "number") n[16] = reservation;
  else if (!absent(reservation)) throw optionError(1, "outputReservation", RESERVATION);
  fns.estimate = fn(o, "estimate", "estimate");
  fns.limitKey = fn(o, "limitKey", "limitKey");
  fns.fetch = fn(o, "fetch", "fetch");
  fns.onEvent = fn(o, "onEvent", "onEvent");
  const store = obj("store", "a PacerStore (e.g. redisStore from llm-pacer/redis)");
  if (store) {
    fn(store, "reserve", "store.reserve") ?? throwError(optionError(1, "store.reserve", "a function"));
    fn(store, "settle", "store.settle") ?? throwError(optionError(1, "store.settle", "a function"));
    fns.store = store;
  }
  const clock = obj("clock", "an object with now() and sleep(ms, signal)");
  if (clock) {
    fns.clock = clock;
    fns.now = fn(clock, "now", "clock.now") ?? throwError(optionError(1, "clock.now", "a function"));
    fns.sleep = fn(clock, "sleep", "clock.sleep") ?? throwError(optionError(1, "clock.sleep", "a function"));
  }
  const debug = o.debug;
  if (!absent(debug) && typeof debug != "boolean") throw optionError(1, "debug", "a boolean");
  fns.debug = debug;
  n[17] = num(o, "seed", "seed");
  if (n[17] !== undefined && !Number.isSafeInteger(n[17])) throw optionError(0, "seed", "a safe integer");

  // The ranges, in the core's order (Config::validate); `undefined` (not given) passes.
  const range = (i, path, lo, hi, expected) => {
    const v = n[i];
    if (v !== undefined && !(v >= lo && v <= hi)) throw optionError(0, path, expected);
  };
  for (const [i, k] of DIMS4.entries()) range(i, `limits.${k}`, MIN_POSITIVE, 1e12, LIMIT);
  range(6, "retry.initialDelayMs", 0, 864e5, MS);
  range(7, "retry.maxDelayMs", 0, 864e5, MS);
  if ((n[7] ?? 6e4) < (n[6] ?? 1e3)) {
    throw optionError(0, "retry.maxDelayMs", "at least retry.initialDelayMs");
  }
  range(8, "retry.multiplier", 1, 100, "a number from 1 to 100");
  range(10, "retry.maxRetryAfterMs", 0, 864e5, MS);
  range(12, "budget.ratio", 0, 1000, "a number from 0 to 1000");
  range(13, "budget.maxTokens", 1, 1e6, "a number from 1 to 1000000");
  range(15, "timeoutMs", MIN_POSITIVE, 864e5, "a number of ms greater than 0 and at most 86400000");
  range(16, "outputReservation", 0, 1e12, RESERVATION);
  n[16] ??= named;
  return [Array.from(n, (v) => v ?? NaN), fns];
}
const throwError = (e) => {
  throw e;
};

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
  const bytes = new Uint8Array(n);
  n = 0;
  for (const c of chunks) {
    bytes.set(c, n);
    n += c.byteLength;
  }
  return bytes;
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

/** `pacer.fetch` at `priority`: a `Request` input's own body is read for the estimate first. */
function pacedFetch(raw, input, init, priority) {
  if (
    typeof Request === "function" &&
    input instanceof Request &&
    input.body &&
    !input.bodyUsed &&
    (init == null || init.body === undefined)
  ) {
    return requestBody(input).then((body) => raw.fetch(input, init, priority, body));
  }
  return raw.fetch(input, init, priority, undefined);
}

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
    const emit = (fns.onEvent = (e) => {
      for (const l of listeners) {
        try {
          l(e);
        } catch {} // a listener's exception is its own
      }
    });
    fns.headerLines = headerLines;
    // With a clock of the caller's, time and timers are theirs alone: a JSON body is cloned.
    let raw;
    if (!fns.clock)
      fns.jsonBody = jsonBodies(
        (f) => setTimeout(f, 0),
        (id, doc, text) => {
          try {
            raw.usageDoc(id, doc, text === true);
          } catch {} // the module trapped: every call has been rejected already
        },
      );
    raw = new glue.RawPacer(numbers, fns, makeError);
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
      return guarded(() => pacedFetch(raw, input, init, priority));
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

// --- The lower-level exports. The Wasm side (src/wasm/lowlevel.rs) is one class, `RawLow`,
// whose `op(code, text, ...numbers)` runs one operation and returns a number; any further
// numbers stay in a buffer that `op(10, 0, index)` reads (NaN: absent). The objects are built
// here. A narrow boundary keeps the entry small. Arguments are not checked beyond what the
// core tolerates (NaN or negative amounts count as 0); options are, by the Pacer's reader.

/** The dimensions, in the core's order. */
const DIMS = Object.keys(DIMENSIONS);
let stateless;
/** The stateless `RawLow` (for the parser and the classifier), made at first use. */
const low = () => (live(), (stateless ??= new glue.RawLow(0, [])));
/** One operation of a `RawLow`, unless the module trapped. */
const op = (raw, ...args) => (live(), raw.op(...args));
/** The numbers `raw` left from `start` on. */
const read = (raw, start, n) => Array.from({ length: n }, (_, i) => raw.op(10, 0, start + i));
/** `v` on one line (the Wasm side splits its text at line breaks). */
const line = (v) => `${String(v).replace(/[\r\n]/g, " ")}\n`;

/** A `Headers`, `Map`, array of pairs or plain object (an array value repeats the field) as `name \n value \n ...`. */
function headerText(headers) {
  let text = "";
  for (const [name, value] of headers?.[Symbol.iterator] ? headers : Object.entries(headers ?? {})) {
    for (const v of [value].flat()) if (v != null) text += line(name) + line(v);
  }
  return text;
}

/** Exponential backoff with jitter: the delays of the Pacer's retries, one at a time. */
class Backoff {
  #raw;
  /** @param {object} [options] */
  constructor(options) {
    ensureReady("new Backoff()");
    const o = options;
    try {
      // Read as the Pacer's `retry` options (and its `seed`), which name them `retry.<option>`.
      if (isObject(o)) checkKeys(o, OPTIONS.Backoff, "");
      const { seed, ...retry } = isObject(o) ? o : {};
      live();
      this.#raw = new glue.RawLow(1, readOptions(o == null || typeof o == "object" ? { retry, seed } : o)[0]);
    } catch (e) {
      throw e?.message?.includes("retry.") ? new e.constructor(e.message.replace(/retry\./g, "")) : e;
    }
  }
  /** The next delay in ms, or `undefined`: stop (retries exhausted, or the hint is too long). */
  next(hintMs) {
    const d = op(this.#raw, 0, 0, hintMs ?? NaN);
    return Number.isNaN(d) ? undefined : d;
  }
  /** Start again from the first retry. */
  reset() {
    op(this.#raw, 1);
  }
  *[Symbol.iterator]() {
    for (let d; (d = this.next()) !== undefined; ) yield d;
  }
}

/** The Pacer's token buckets, on their own, in explicit time. */
class Limiter {
  #raw;
  /** Live tickets: their numbers (input and output reserved, admission serial and time). */
  #tickets = new WeakMap();
  /** @param {object} [options] */
  constructor(options) {
    ensureReady("new Limiter()");
    const o = options;
    if (isObject(o)) checkKeys(o, OPTIONS.Limiter, "");
    const latency = o?.latencyMs ?? 250;
    if (!(latency >= 0 && latency <= 864e5)) {
      throw new (typeof latency == "number" ? RangeError : TypeError)(
        "llm-pacer: option `latencyMs` must be a number of ms from 0 to 86400000",
      );
    }
    const { limits, preset, outputReservation } = o == null || typeof o != "object" ? {} : o;
    const numbers = readOptions(o == null || typeof o == "object" ? { limits, preset, outputReservation } : o)[0];
    // A whole tier (index 10000 and up: src/wasm/options.rs) names several classes; a Limiter is one key's.
    if (numbers[4] >= 1e4)
      throw optionError(
        0,
        "preset",
        'one model class\'s preset, such as "anthropic:tier-1:sonnet" (a Limiter holds one limit key)',
      );
    live();
    this.#raw = new glue.RawLow(2, numbers, latency);
  }
  /** Admit and reserve, or say how long to wait; throws `RequestTooLargeError` when it can never fit. */
  acquire(cost, now = Date.now()) {
    const kind = op(this.#raw, 2, 0, cost?.input, cost?.output, now);
    const [a, b, c, at] = read(this.#raw, 0, 4);
    if (kind == 1) return { ok: false, waitMs: a, reason: DIMS[b] ?? "paused" };
    if (kind) throw makeError("REQUEST_TOO_LARGE", { dimension: DIMS[a], cost: b, capacity: c });
    const ticket = Object.freeze({});
    this.#tickets.set(ticket, [a, b, c, at]);
    return { ok: true, ticket };
  }
  /** A live ticket's numbers, forgotten: a ticket settles or releases once. */
  #take(ticket) {
    const t = this.#tickets.get(ticket);
    if (!t) throw new TypeError("llm-pacer: not a live ticket of this limiter (each settles or releases once)");
    this.#tickets.delete(ticket);
    return t;
  }
  /** Replace the reservation by the response's `usage` (Anthropic or OpenAI spelling). */
  settle(ticket, usage, now = Date.now()) {
    const [a, b, c, at] = this.#take(ticket);
    op(this.#raw, 3, usage, a, b, c, now, at);
  }
  /** Give the whole reservation back: the request was not sent, or refused uncounted (429, 529). */
  release(ticket, now = Date.now()) {
    const [a, b, c, at] = this.#take(ticket);
    op(this.#raw, 4, 0, a, b, c, now, at);
  }
  /** Align with a response's rate-limit headers; true when a limit was learned or changed. */
  observe(headers, now = Date.now()) {
    return op(this.#raw, 5, headerText(headers), now) == 1;
  }
  /** Hold every request until `until` (epoch ms; a later pause wins). */
  pauseUntil(until) {
    op(this.#raw, 6, 0, until);
  }
  /** What is known now of each limit (the shape of `pacer.limits()`). */
  limits(now = Date.now()) {
    op(this.#raw, 7, 0, now);
    const r = {};
    DIMS.forEach((d, i) => {
      const [limit, remaining, resetAt, source] = read(this.#raw, 4 * i, 4);
      if (!Number.isNaN(limit))
        r[d] = { limit, remaining, resetAt, source: ["configured", "headers", "configured+headers"][source] };
    });
    return r;
  }
}

/**
 * One `Limiter` per limit key (a string the caller chooses, e.g. organisation and model),
 * each made at first use from `options`, or from `options(key)` when it is a function.
 */
class KeyedLimiter {
  #options;
  #limiters = new Map();
  /** @param {object | ((key: string) => object)} [options] */
  constructor(options) {
    ensureReady("new KeyedLimiter()");
    if (typeof options != "function") new Limiter(options); // checked now, not at first use
    this.#options = options;
  }
  /** The limiter of `key`, made now if it is new. */
  get(key) {
    let l = this.#limiters.get(key);
    if (!l) {
      const o = this.#options;
      this.#limiters.set(key, (l = new Limiter(typeof o == "function" ? o(key) : o)));
    }
    return l;
  }
  /** Forget `key`'s limiter (its tickets can no longer be settled); true if it was held. */
  delete(key) {
    return this.#limiters.delete(key);
  }
  /** What is known now of each key's limits: `[{ key, requests?, inputTokens?, ... }]`. */
  limits(now = Date.now()) {
    return Array.from(this.#limiters, ([key, l]) => ({ key, ...l.limits(now) }));
  }
}

const FIELDS = ["limit", "remaining", "resetAt", "windowMs", "rounded"];

/** What rate-limit headers say; absent fields are omitted. */
function parseRateLimitHeaders(headers, now = Date.now()) {
  ensureReady("parseRateLimitHeaders()");
  low().op(8, headerText(headers), now);
  const v = read(low(), 0, 34);
  const r = {};
  const put = (o, k, x) => {
    if (!Number.isNaN(x)) o[k] = x;
  };
  put(r, "retryAfterMs", v[0]);
  put(r, "shouldRetry", Number.isNaN(v[1]) ? NaN : v[1] == 1);
  put(r, "serverDate", v[2]);
  if (v[3]) r.family = [undefined, "anthropic", "openai", "ietf", "groq", "mistral", "x-ratelimit", "together"][v[3]];
  [...DIMS, "priorityInputTokens", "priorityOutputTokens"].forEach((d, k) => {
    const e = {};
    for (const [j, f] of FIELDS.entries()) put(e, f, f == "rounded" && v[4 + 5 * k + j] ? true : v[4 + 5 * k + j]);
    if (Object.keys(e).length) r[d] = e;
  });
  return r;
}

/** Retry, fail or success, as the Pacer decides it (default retryable statuses). */
function classify(status, headers, body, now = Date.now()) {
  ensureReady("classify()");
  try {
    if (typeof body == "string") body = JSON.parse(body);
  } catch {}
  // The body is read by the Pacer's own reader of error bodies (src/wasm/body.rs).
  const kind = low().op(9, [body, headerText(headers)], status, now);
  const hint = low().op(10, 0, 0);
  const r = {
    action: kind ? (kind < 4 ? "retry" : "fail") : "success",
    reason:
      [
        undefined,
        "rate_limited",
        "overloaded",
        undefined,
        undefined,
        "should_retry_false",
        "spend_limit",
        "insufficient_quota",
      ][kind] ?? `status_${status}`,
  };
  if (kind && kind < 4 && !Number.isNaN(hint)) r.retryAfterMs = hint;
  return r;
}

export {
  Pacer,
  PacerError,
  RequestTooLargeError,
  RetryAfterTooLongError,
  PacerTimeoutError,
  ClosedError,
  Backoff,
  Limiter,
  KeyedLimiter,
  parseRateLimitHeaders,
  classify,
};
