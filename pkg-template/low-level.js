import { ensureReady, glue } from "./binding.js";
import { DIMENSIONS, makeError } from "./errors.js";
import { OPTIONS, isObject, optionError, readOptions } from "./read-options.js";
import { checkKeys } from "./strict.js";
import { live, low, op } from "./trap-guard.js";

// --- The lower-level exports. The Wasm side (src/wasm/lowlevel.rs) is one class, `RawLow`,
// whose `op(code, text, ...numbers)` runs one operation and returns a number; any further
// numbers stay in a buffer that `op(10, 0, index)` reads (NaN: absent). The objects are built
// here. A narrow boundary keeps the entry small. Arguments are not checked beyond what the
// core tolerates (NaN or negative amounts count as 0); options are, by the Pacer's reader.

/** The dimensions, in the core's order. */
const DIMS = Object.keys(DIMENSIONS);
/** The numbers `raw` left from `start` on. */
const read = (raw, start, n) => Array.from({ length: n }, (_, i) => raw.op(10, 0, start + i));
/**
 * `now` as given (epoch ms), or a TypeError naming it (`name`): NaN would read as "wait 0
 * ms", a loop.
 */
function nowMs(now, name = "now") {
  if (typeof now != "number" || !Number.isFinite(now))
    throw new TypeError(
      `llm-pacer: \`${name}\` must be a finite number (epoch ms), got ${typeof now == "number" ? now : typeof now}`,
    );
  return now;
}

/** `v` on one line (the Wasm side splits its text at line breaks). */
const line = (v) => `${String(v).replace(/[\r\n]/g, " ")}\n`;

/**
 * A `Headers`, `Map`, array of pairs or plain object (an array value repeats the field) as
 * `name \n value \n ...`: a repeated field's values joined with `, `, one line, as `Headers`
 * joins them (so every form reads alike: a `retry-after` sent twice gives its longest wait).
 */
function headerText(headers) {
  const fields = new Map();
  for (const [name, value] of headers?.[Symbol.iterator] ? headers : Object.entries(headers ?? {})) {
    const key = String(name).toLowerCase();
    for (const v of [value].flat())
      if (v != null) fields.set(key, fields.has(key) ? `${fields.get(key)}, ${v}` : String(v));
  }
  let text = "";
  for (const [name, value] of fields) text += line(name) + line(value);
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
    // Not given: NaN, the core's default (the Pacer's transit once responses carry figures).
    const given = o?.latencyMs;
    const latency = given ?? Number.NaN;
    if (given != null && (typeof given != "number" || !(given >= 0 && given <= 864e5))) {
      throw new (typeof given == "number" ? RangeError : TypeError)(
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
    const kind = op(this.#raw, 2, 0, cost?.input, cost?.output, nowMs(now));
    const [a, b, c, at] = read(this.#raw, 0, 4);
    if (kind == 1) return { ok: false, waitMs: a, reason: DIMS[b] ?? "paused" };
    if (kind) throw makeError("REQUEST_TOO_LARGE", { dimension: DIMS[a], cost: b, capacity: c, windowMs: at });
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
    const t = nowMs(now);
    const [a, b, c, at] = this.#take(ticket);
    op(this.#raw, 3, usage, a, b, c, t, at);
  }
  /** Give the whole reservation back: the request was not sent, or refused uncounted (429, 529). */
  release(ticket, now = Date.now()) {
    const t = nowMs(now);
    const [a, b, c, at] = this.#take(ticket);
    op(this.#raw, 4, 0, a, b, c, t, at);
  }
  /** Align with a response's rate-limit headers; true when a limit was learned or changed. */
  observe(headers, now = Date.now()) {
    return op(this.#raw, 5, headerText(headers), nowMs(now)) == 1;
  }
  /** Hold every request until `until` (epoch ms; a later pause wins). */
  pauseUntil(until) {
    op(this.#raw, 6, 0, nowMs(until, "until"));
  }
  /** What is known now of each limit (the shape of `pacer.limits()`). */
  limits(now = Date.now()) {
    op(this.#raw, 7, 0, nowMs(now));
    const r = {};
    DIMS.forEach((d, i) => {
      const [limit, remaining, resetAt, source, windowMs] = read(this.#raw, 5 * i, 5);
      if (!Number.isNaN(limit))
        r[d] = { limit, windowMs, remaining, resetAt, source: ["configured", "headers", "configured+headers"][source] };
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
  low().op(8, headerText(headers), nowMs(now));
  const v = read(low(), 0, 35);
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
  if (v[34]) r.quotaSpent = true;
  return r;
}

/** Retry, fail or success, as the Pacer decides it (default retryable statuses). */
function classify(status, headers, body, now = Date.now()) {
  ensureReady("classify()");
  if (!Number.isInteger(status) || status < 100 || status > 599)
    throw new (typeof status == "number" ? RangeError : TypeError)(
      `llm-pacer: classify()'s \`status\` must be an HTTP status, an integer from 100 to 599, got ${typeof status == "number" ? status : typeof status}`,
    );
  try {
    if (typeof body == "string") body = JSON.parse(body);
  } catch {}
  // The body is read by the Pacer's own reader of error bodies (src/wasm/body.rs).
  const kind = low().op(9, [body, headerText(headers)], status, nowMs(now));
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
        "request_too_large",
      ][kind] ?? `status_${status}`,
  };
  if (kind && kind < 4 && !Number.isNaN(hint)) r.retryAfterMs = hint;
  return r;
}

export { Backoff, Limiter, KeyedLimiter, parseRateLimitHeaders, classify };
