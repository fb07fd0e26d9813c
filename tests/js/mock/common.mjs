// Shared machinery of the mock LLM API servers: token buckets, header formatting, token
// counting, fault parsing and the HTTP server that both providers run on.
//
// A provider (anthropic.mjs, openai.mjs) supplies only what differs between the APIs: the path,
// authentication, body validation, the cost of a request, the rate-limit headers and the shape
// of bodies and stream events. Everything else (admission, faults, latency, streaming,
// observability) lives here once.

import http from "node:http";
import { inspect } from "node:util";

/** Tolerance (tokens) when comparing a bucket level with a cost, against float drift. */
export const EPSILON = 1e-6;

/** Request headers whose values are secrets: redacted in everything the mocks print. */
export const SECRET_HEADERS = Object.freeze(["authorization", "x-api-key", "api-key", "proxy-authorization", "cookie"]);

// ---------------------------------------------------------------------------------------------
// Token bucket
// ---------------------------------------------------------------------------------------------

/**
 * A continuously refilled token bucket, as the providers describe theirs: capacity = the limit
 * per window, refilled at `capacity / windowMs` per ms, continuously (not reset per fixed
 * minute), never above capacity. The level may go negative (a debt the refill pays back), which
 * happens only with real-time output metering or a non-enforcing server.
 */
export class TokenBucket {
  /**
   * @param {number} capacity tokens (the per-window limit), finite and > 0
   * @param {number} nowMs the time the bucket starts full (epoch ms)
   * @param {number} [windowMs=60000] the refill window
   */
  constructor(capacity, nowMs, windowMs = 60_000) {
    if (!(capacity > 0) || !Number.isFinite(capacity)) {
      throw new RangeError(`bucket capacity must be a finite number > 0, got ${capacity}`);
    }
    /** @readonly */ this.capacity = capacity;
    /** @readonly */ this.windowMs = windowMs;
    /** @private */ this._level = capacity;
    /** @private */ this._at = nowMs;
  }
  /** Tokens per ms. */
  get ratePerMs() {
    return this.capacity / this.windowMs;
  }
  /**
   * The level at `nowMs` (refilled, capped at capacity). Times before the last update count as
   * the last update: time never runs backwards for a bucket.
   * @param {number} nowMs
   */
  level(nowMs) {
    const dt = Math.max(0, nowMs - this._at);
    return Math.min(this.capacity, this._level + dt * this.ratePerMs);
  }
  /** @private @param {number} nowMs */
  _advance(nowMs) {
    if (nowMs > this._at) {
      this._level = this.level(nowMs);
      this._at = nowMs;
    }
  }
  /** Take `n` tokens at `nowMs` (the level may go negative). @param {number} nowMs @param {number} n */
  take(nowMs, n) {
    this._advance(nowMs);
    this._level -= n;
  }
  /** Give back `n` tokens at `nowMs` (capped at capacity). @param {number} nowMs @param {number} n */
  give(nowMs, n) {
    this._advance(nowMs);
    this._level = Math.min(this.capacity, this._level + n);
  }
  /** Set the level at `nowMs` (capped at capacity). @param {number} nowMs @param {number} level */
  set(nowMs, level) {
    this._advance(nowMs);
    this._level = Math.min(this.capacity, level);
  }
  /**
   * Ms from `nowMs` until the level is at least `n`: 0 if it is now, `Infinity` if never
   * (`n > capacity`).
   * @param {number} nowMs
   * @param {number} n
   */
  waitMs(nowMs, n) {
    if (n > this.capacity + EPSILON) return Infinity;
    const level = this.level(nowMs);
    if (level + EPSILON >= n) return 0;
    return (n - level) / this.ratePerMs;
  }
  /** When the bucket is full again (epoch ms; `nowMs` if it is full now). @param {number} nowMs */
  fullAt(nowMs) {
    const now = Math.max(nowMs, this._at);
    return now + Math.max(0, this.capacity - this.level(now)) / this.ratePerMs;
  }
}

/**
 * @typedef {object} DimensionCost
 * @property {number} need the level the bucket must have for the request to be admitted
 * @property {number} take what admission debits at once
 */

/**
 * @typedef {object} LimitCheck
 * @property {boolean} ok every bucket has what the request needs
 * @property {number} waitMs ms until every limiting bucket would admit it (`Infinity` if never)
 * @property {string[]} limitedBy the dimensions that refuse it now
 * @property {string[]} tooLarge the dimensions whose capacity is below the need (never fits)
 * @property {number} fullWaitMs for a never-fitting request: ms until those buckets are full
 */

/**
 * A set of named per-minute buckets (`requests`, `input`, `output`, `tokens`, ...). A dimension
 * whose limit is absent, `null` or `Infinity` is unlimited: no bucket, no headers.
 */
export class RateLimiter {
  /**
   * @param {Record<string, number | null | undefined>} limits per-minute limit per dimension
   * @param {number} nowMs
   */
  constructor(limits, nowMs) {
    /** @type {Map<string, TokenBucket>} */
    this.buckets = new Map();
    for (const [dim, limit] of Object.entries(limits)) {
      if (limit == null || limit === Infinity) continue;
      this.buckets.set(dim, new TokenBucket(limit, nowMs));
    }
  }
  /** @param {string} dim */
  bucket(dim) {
    return this.buckets.get(dim);
  }
  /**
   * Whether the request fits now. Nothing changes.
   * @param {number} nowMs
   * @param {Record<string, DimensionCost>} costs
   * @returns {LimitCheck}
   */
  check(nowMs, costs) {
    let waitMs = 0;
    let fullWaitMs = 0;
    const limitedBy = [];
    const tooLarge = [];
    for (const [dim, cost] of Object.entries(costs)) {
      const bucket = this.buckets.get(dim);
      if (!bucket) continue;
      const wait = bucket.waitMs(nowMs, cost.need);
      if (wait > 0) {
        limitedBy.push(dim);
        waitMs = Math.max(waitMs, wait);
      }
      if (wait === Infinity) {
        tooLarge.push(dim);
        fullWaitMs = Math.max(fullWaitMs, bucket.fullAt(nowMs) - nowMs);
      }
    }
    return { ok: limitedBy.length === 0, waitMs, limitedBy, tooLarge, fullWaitMs };
  }
  /**
   * Debit `take` of each cost.
   * @param {number} nowMs
   * @param {Record<string, DimensionCost>} costs
   */
  debit(nowMs, costs) {
    for (const [dim, cost] of Object.entries(costs)) {
      if (cost.take) this.buckets.get(dim)?.take(nowMs, cost.take);
    }
  }
  /**
   * Levels now per dimension.
   * @param {number} nowMs
   * @returns {Record<string, number>}
   */
  levels(nowMs) {
    /** @type {Record<string, number>} */
    const out = {};
    for (const [dim, bucket] of this.buckets) out[dim] = bucket.level(nowMs);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

const NS_PER_S = 1_000_000_000n;

/**
 * Writes `v` (an integer count of 10^-prec units) as a decimal with the trailing zeros of its
 * fraction removed, e.g. (1500n, 3) -> "1.5", (2000n, 3) -> "2".
 * @param {bigint} v
 * @param {number} prec
 */
function decimal(v, prec) {
  const unit = 10n ** BigInt(prec);
  const frac = (v % unit).toString().padStart(prec, "0").replace(/0+$/, "");
  return `${v / unit}${frac ? "." + frac : ""}`;
}

/**
 * Formats a duration exactly as Go's `time.Duration.String()` does (the format of OpenAI's
 * `x-ratelimit-reset-*` headers): `0s`, `20ms`, `1.5µs`, `8.64s`, `1m30s`, `6m0s`, `1h0m0s`.
 * The input is in milliseconds and is rounded to whole nanoseconds first (Go's resolution).
 * @param {number} ms finite
 * @returns {string}
 */
export function formatGoDuration(ms) {
  if (!Number.isFinite(ms)) throw new RangeError(`duration must be finite, got ${ms}`);
  let ns = BigInt(Math.round(ms * 1e6));
  const sign = ns < 0n ? "-" : "";
  if (ns < 0n) ns = -ns;
  if (ns === 0n) return "0s";
  if (ns < 1000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${decimal(ns, 3)}µs`;
  if (ns < NS_PER_S) return `${sign}${decimal(ns, 6)}ms`;
  const wholeSeconds = ns / NS_PER_S;
  const seconds = decimal(ns % (60n * NS_PER_S), 9);
  const minutes = wholeSeconds / 60n;
  let out = "";
  if (minutes > 0n) {
    const hours = minutes / 60n;
    if (hours > 0n) out += `${hours}h`;
    out += `${minutes % 60n}m`;
  }
  return `${sign}${out}${seconds}s`;
}

/**
 * RFC 3339 UTC timestamp with whole seconds (`2025-01-02T03:04:05Z`), the form of Anthropic's
 * `anthropic-ratelimit-*-reset` headers. Rounded UP to the second, so that the stated time is
 * never before the real one.
 * @param {number} ms epoch ms
 */
export function formatRfc3339(ms) {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Rounded to the nearest thousand, never negative (Anthropic's token `remaining`). @param {number} n */
export function roundToThousand(n) {
  return Math.max(0, Math.round(n / 1000) * 1000);
}

/** `retry-after` seconds for a wait: the ceiling, at least 1. @param {number} waitMs */
export function retryAfterSeconds(waitMs) {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

// ---------------------------------------------------------------------------------------------
// Token counting
// ---------------------------------------------------------------------------------------------

/**
 * The text of a `system` value or a message `content` value: a string as is; an array, the
 * concatenation of its items; a block object, its `text` (and `thinking`) string plus, through
 * nested `content`, the text of tool results. Other fields (ids, types, images) count nothing.
 * @param {unknown} value
 * @returns {string}
 */
export function textOf(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(textOf).join("");
  if (value && typeof value === "object") {
    const o = /** @type {Record<string, unknown>} */ (value);
    let s = "";
    if (typeof o.text === "string") s += o.text;
    if (typeof o.thinking === "string") s += o.thinking;
    if (o.content !== undefined) s += textOf(o.content);
    return s;
  }
  return "";
}

/**
 * Deterministic token count of a text: `ceil(length / charsPerToken)`, length in UTF-16 code
 * units (`String.length`).
 * @param {string} text
 * @param {number} [charsPerToken=4]
 */
export function countTokens(text, charsPerToken = 4) {
  return Math.ceil(text.length / charsPerToken);
}

/**
 * Input tokens of a chat body: the text of `system` (Anthropic) and of every message's
 * `content`, counted with {@link countTokens}.
 * @param {any} body
 * @param {number} [charsPerToken=4]
 */
export function countInputTokens(body, charsPerToken = 4) {
  let text = textOf(body?.system);
  if (Array.isArray(body?.messages)) for (const m of body.messages) text += textOf(m?.content);
  return countTokens(text, charsPerToken);
}

const WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"];

/**
 * Deterministic output text of `tokens` tokens (one word per token), split into at most
 * `chunks` pieces of whole tokens, each piece with its token count.
 * @param {number} tokens
 * @param {number} chunks
 * @returns {{ text: string, tokens: number }[]}
 */
export function outputPieces(tokens, chunks) {
  const n = Math.max(1, Math.min(chunks, tokens));
  const pieces = [];
  let done = 0;
  for (let i = 0; i < n; i++) {
    const count = Math.floor((tokens * (i + 1)) / n) - Math.floor((tokens * i) / n);
    let text = "";
    for (let k = 0; k < count; k++) text += (done + k === 0 ? "" : " ") + WORDS[(done + k) % WORDS.length];
    done += count;
    if (count > 0) pieces.push({ text, tokens: count });
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/**
 * The named faults. A numeric status is also accepted (`429` = `rate-limit`, `529` =
 * `overloaded`, `500` = `server-error`, `503` = `unavailable`, any other = an error response
 * with that status and the provider's error body for it).
 * - `ok`: no fault (use it in a script to let one request through, or with modifiers)
 * - `rate-limit`: 429 `rate_limit_error` (Anthropic) / `rate_limit_exceeded` (OpenAI) that did
 *   not come from the buckets; no hint unless `retryAfter` / `retryAfterMs` are given
 * - `spend-limit`: 429 Anthropic `details.error_code = "enforced_spend_limit_reached"`
 *   (OpenAI mock: the same as `insufficient-quota`), no `retry-after`
 * - `insufficient-quota`: 429 OpenAI `code: "insufficient_quota"` (Anthropic mock: the same as
 *   `spend-limit`), no `retry-after`
 * - `ramp-limit`: 429 Anthropic `details.error_code = "ramp_limit_exceeded"`
 * - `overloaded`: 529 `overloaded_error`; `server-error`: 500; `unavailable`: 503
 * - `reset`: the connection is reset (RST) before any response byte
 * - `stall`: no response until the client gives up (or, with `ms`, a delay of that many real ms,
 *   after which the request proceeds normally)
 * - `stream-error`: admitted; the connection is destroyed after `afterEvents` SSE events (2 by
 *   default; at most all of them, then the cut still comes before the end of the chunked body)
 *   or, for a non-streaming request, halfway through the JSON body
 * - `sse-error`: admitted; after `afterEvents` events (at most all) the stream carries an error
 *   event (Anthropic `event: error` with `overloaded_error`; OpenAI `data: {"error": ...}`) and
 *   ends cleanly
 * - `bad-usage` / `no-usage`: a normal response whose usage is malformed / missing
 * - `bad-headers` / `no-headers`: a normal response whose rate-limit headers are garbage / absent
 * @typedef {'ok' | 'rate-limit' | 'spend-limit' | 'insufficient-quota' | 'ramp-limit' |
 *   'overloaded' | 'server-error' | 'unavailable' | 'error' | 'reset' | 'stall' |
 *   'stream-error' | 'sse-error' | 'bad-usage' | 'no-usage' | 'bad-headers' | 'no-headers'
 * } FaultKind
 */

/**
 * One injected fault: what the script queue holds, or the JSON form of `x-mock-fault`.
 * Everything but `kind`/`status` is a modifier and may be combined with any kind.
 * @typedef {object} MockFault
 * @property {FaultKind | string} [kind] a fault name (or a status as a string)
 * @property {number} [status] an HTTP status; with `kind`, overrides that kind's status
 * @property {number | string | null} [retryAfter] `retry-after` value, sent verbatim (any
 *   garbage allowed: `'soon'`, `-5`, `'NaN'`, `1e12`); `null`/absent = no header. Replaces the
 *   buckets' own value on a bucket 429.
 * @property {number | string | null} [retryAfterMs] `retry-after-ms` value, verbatim
 * @property {boolean | string} [shouldRetry] `x-should-retry` value (`true` -> `"true"`)
 * @property {number} [ms] for `stall`: the stall in real ms (absent = until the client aborts)
 * @property {boolean | string} [bodyStall] for an error status: send the head and the first
 *   half of the error body, then never end it (until the client goes away)
 * @property {number} [afterEvents] for `stream-error` / `sse-error`: events sent before
 * @property {'ok' | 'missing' | 'malformed'} [usage] usage in the response
 * @property {'ok' | 'missing' | 'malformed'} [rateLimitHeaders] rate-limit headers
 * @property {'all' | 'none'} [expose] which response headers CORS exposes to a browser: the
 *   provider's list (`all`, the default) or none (`access-control-expose-headers` left out)
 * @property {Record<string, string>} [headers] extra response headers (override the mock's)
 * @property {unknown} [body] error body override: an object (sent as JSON) or a string (raw);
 *   for `sse-error`, a string is the error event's wire form, sent verbatim
 * @property {string} [message] error message override
 */

/**
 * A fault after parsing: every field present.
 * @typedef {object} Fault
 * @property {string} kind
 * @property {number | null} status the error status to answer with, or null (no error)
 * @property {string | null} retryAfter
 * @property {string | null} retryAfterMs
 * @property {string | null} shouldRetry
 * @property {number | null} ms
 * @property {boolean} bodyStall
 * @property {number} afterEvents
 * @property {'ok' | 'missing' | 'malformed'} usage
 * @property {'ok' | 'missing' | 'malformed'} rateLimitHeaders
 * @property {'all' | 'none'} expose
 * @property {Record<string, string>} headers
 * @property {unknown} body
 * @property {string | null} message
 */

/** @type {Record<string, { status: number | null }>} */
const KINDS = {
  ok: { status: null },
  "rate-limit": { status: 429 },
  "spend-limit": { status: 429 },
  "insufficient-quota": { status: 429 },
  "ramp-limit": { status: 429 },
  overloaded: { status: 529 },
  "server-error": { status: 500 },
  unavailable: { status: 503 },
  reset: { status: null },
  stall: { status: null },
  "stream-error": { status: null },
  "sse-error": { status: null },
  "bad-usage": { status: null },
  "no-usage": { status: null },
  "bad-headers": { status: null },
  "no-headers": { status: null },
};

/** @type {Record<number, string>} */
const STATUS_KINDS = { 429: "rate-limit", 529: "overloaded", 500: "server-error", 503: "unavailable" };

/** The fault names (see {@link FaultKind}). */
export const FAULT_KINDS = Object.freeze(Object.keys(KINDS));

/**
 * Parses a fault: a {@link MockFault}, a status number, `null`/`'ok'` (no fault), a JSON object
 * string, or the compact header syntax `kind[; key=value]...`, e.g.
 * `429; retry-after=2`, `429; retry-after-ms=1500; should-retry=false`, `529`, `spend-limit`,
 * `stall; ms=50`, `stream-error; after=1`, `ok; usage=missing; ratelimit-headers=malformed`, `ok; expose=none`.
 * Keys: `retry-after`, `retry-after-ms`, `should-retry`, `ms`, `after`, `usage`,
 * `ratelimit-headers`, `expose`, `status`, `message`. Values are taken verbatim (no quoting).
 * @param {MockFault | FaultKind | string | number | null | undefined} input
 * @returns {Fault}
 * @throws {TypeError} on an unknown kind, key or value
 */
export function parseFault(input) {
  if (input == null) input = { kind: "ok" };
  if (typeof input === "number") input = { status: input };
  if (typeof input === "string") {
    const s = input.trim();
    if (s.startsWith("{")) {
      input = JSON.parse(s);
    } else {
      const [head, ...params] = s.split(";").map((p) => p.trim());
      /** @type {Record<string, any>} */
      const f = /^\d+$/.test(head) ? { status: Number(head) } : { kind: head };
      for (const p of params) {
        if (!p) continue;
        const eq = p.indexOf("=");
        if (eq < 0) throw new TypeError(`x-mock-fault: parameter without '=': ${p}`);
        const key = p.slice(0, eq).trim().toLowerCase();
        const value = p.slice(eq + 1).trim();
        const field = {
          "retry-after": "retryAfter",
          "retry-after-ms": "retryAfterMs",
          "should-retry": "shouldRetry",
          ms: "ms",
          "body-stall": "bodyStall",
          after: "afterEvents",
          usage: "usage",
          "ratelimit-headers": "rateLimitHeaders",
          expose: "expose",
          status: "status",
          message: "message",
        }[key];
        if (!field) throw new TypeError(`x-mock-fault: unknown parameter ${key}`);
        f[field] = ["ms", "afterEvents", "status"].includes(field) ? Number(value) : value;
      }
      input = f;
    }
  }
  const f = /** @type {MockFault} */ (input);
  let kind = f.kind == null ? undefined : String(f.kind);
  if (kind !== undefined && /^\d+$/.test(kind)) {
    f.status ??= Number(kind);
    kind = undefined;
  }
  if (kind === undefined) {
    if (f.status == null) kind = "ok";
    else kind = STATUS_KINDS[f.status] ?? "error";
  }
  if (kind !== "error" && !(kind in KINDS)) throw new TypeError(`unknown fault kind: ${kind}`);
  const status = f.status ?? (kind === "error" ? null : KINDS[kind].status);
  if (status != null && !(Number.isInteger(status) && status >= 100 && status <= 599)) {
    throw new TypeError(`fault status must be an HTTP status, got ${status}`);
  }
  const opt = (/** @type {unknown} */ v) => (v == null ? null : String(v));
  /** @param {unknown} v @param {string} name */
  const mode = (v, name) => {
    if (v == null || v === "ok") return "ok";
    if (v === "missing" || v === "malformed") return v;
    throw new TypeError(`fault ${name} must be ok|missing|malformed, got ${v}`);
  };
  const ms = f.ms == null ? null : Number(f.ms);
  if (ms !== null && !(ms >= 0)) throw new TypeError(`fault ms must be >= 0, got ${f.ms}`);
  const expose = f.expose ?? "all";
  if (expose !== "all" && expose !== "none") throw new TypeError(`fault expose must be all|none, got ${f.expose}`);
  const afterEvents = f.afterEvents == null ? 2 : Number(f.afterEvents);
  if (!(afterEvents >= 0)) throw new TypeError(`fault afterEvents must be >= 0, got ${f.afterEvents}`);
  return {
    kind,
    status,
    retryAfter: opt(f.retryAfter),
    retryAfterMs: opt(f.retryAfterMs),
    shouldRetry: opt(f.shouldRetry),
    ms,
    bodyStall: f.bodyStall === true || f.bodyStall === "true",
    afterEvents,
    usage: kind === "bad-usage" ? "malformed" : kind === "no-usage" ? "missing" : mode(f.usage, "usage"),
    rateLimitHeaders:
      kind === "bad-headers"
        ? "malformed"
        : kind === "no-headers"
          ? "missing"
          : mode(f.rateLimitHeaders, "rateLimitHeaders"),
    expose,
    headers: { ...(f.headers ?? {}) },
    body: f.body,
    message: f.message ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

/**
 * A copy of `headers` with the values of {@link SECRET_HEADERS} replaced by `[redacted]`.
 * @param {Record<string, unknown>} headers
 * @returns {Record<string, unknown>}
 */
export function redactHeaders(headers) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    out[k] = SECRET_HEADERS.includes(k.toLowerCase()) ? "[redacted]" : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/**
 * Options common to both mocks.
 * @typedef {object} MockOptions
 * @property {string} [host='127.0.0.1']
 * @property {number} [port=0] 0 = a free port
 * @property {() => number} [now=Date.now] the server's clock (epoch ms) for the buckets, reset
 *   times and the `date` header; inject a fake clock to drive the buckets in virtual time.
 *   Latency and stream delays are real time (a few ms) regardless.
 * @property {number} [latencyMs=1] real ms between admission and the response head
 * @property {number} [eventDelayMs=1] real ms between two SSE events (0 allowed)
 * @property {number} [outputTokens=16] output tokens a response has when neither
 *   `x-mock-output-tokens` nor `max_tokens` caps it lower
 * @property {number} [streamChunks=3] content deltas a stream splits its output into (at most)
 * @property {'reservation' | 'realtime'} [outputMetering='reservation'] `reservation`: output
 *   is debited up front from `max_tokens` and corrected to the actual output at the end;
 *   `realtime`: output is debited as it is generated (admission needs one output token)
 * @property {boolean} [enforce=true] `false`: never refuse for limits; admit, let buckets go
 *   into debt and record each such admission in `violations()` (to check a client alone
 *   stayed within the limits)
 * @property {number} [charsPerToken=4] input counting: `ceil(chars / charsPerToken)`
 * @property {'head' | 'admission'} [streamHeadFigures='head'] the rate-limit figures of a
 *   stream's head: as the buckets stand when the head is written (`head`), or as they stood
 *   when the request was admitted (`admission`: a server that writes them then, and sends the
 *   head a time to first byte later, meanwhile settling other requests)
 */

/**
 * One request as the server saw it. `headers` are the raw request headers (lower-case names,
 * secrets included so tests can check them); printing the entry (`util.inspect`, `JSON.stringify`,
 * `console.log`) redacts them.
 * @typedef {object} LogEntry
 * @property {number} id 1-based arrival order
 * @property {number} at server clock at arrival (epoch ms)
 * @property {string} method
 * @property {string} path
 * @property {Record<string, string | string[] | undefined>} headers
 * @property {unknown} body parsed JSON body (the raw string if it was not JSON)
 * @property {number} inFlight requests in progress at arrival, this one included
 * @property {Fault | null} fault the fault applied (from `x-mock-fault` or the script)
 * @property {'header' | 'script' | null} faultSource
 * @property {boolean} admitted passed the buckets and was debited
 * @property {number | null} status the status sent (null: none, e.g. reset or stalled)
 * @property {string} outcome `ok`, `limited` (bucket 429), `fault`, `unauthorized`, `invalid`,
 *   `not-found`, `reset`, `stalled`, `stream-error`, `aborted` (client went away), `pending`
 * @property {string[]} limitedBy for `limited`: the refusing dimensions
 * @property {number | null} retryAfter the `retry-after` seconds the buckets computed (limited)
 * @property {Record<string, number>} cost debited at admission per dimension
 * @property {{ input: number, output: number } | null} usage tokens actually used
 * @property {boolean} stream
 * @property {number | null} finishedAt server clock when the response ended or was cut
 */

/**
 * @typedef {object} Violation
 * @property {number} id request id
 * @property {number} at server clock
 * @property {string} dimension
 * @property {number} level the bucket level at admission
 * @property {number} need what the request needed
 */

/**
 * @typedef {object} MockStats
 * @property {number} requests requests received (preflights excluded)
 * @property {number} admitted requests that passed the buckets
 * @property {number} completed responses that ended normally (any status)
 * @property {number} limited 429s the buckets issued (the client overran a limit)
 * @property {Record<string, number>} limitedBy bucket 429s per refusing dimension
 * @property {number} rateLimited all 429s sent (bucket and injected)
 * @property {number} overloaded 529s sent
 * @property {number} faults requests that got an injected fault other than `ok`
 * @property {number} resets connections reset by a fault
 * @property {number} aborted requests the client abandoned before the end of the response
 * @property {number} preflights CORS preflights answered
 * @property {Record<string, number>} byStatus responses per status code
 * @property {number} inFlight requests in progress now
 * @property {number} maxInFlight the most requests in progress at once
 * @property {number} inputTokens input tokens of admitted requests
 * @property {number} outputTokens output tokens generated
 */

/**
 * What a provider computes for one valid request.
 * @typedef {object} Plan
 * @property {string} model
 * @property {boolean} stream
 * @property {number} inputTokens
 * @property {number} outputTokens tokens the response will carry
 * @property {number} reservedOutput output tokens reserved at admission (reservation metering)
 * @property {string} outputDim the bucket output is metered against (`output` / `tokens`)
 * @property {Record<string, DimensionCost>} costs
 * @property {Record<string, any>} extra provider-specific data
 */

/**
 * One SSE event a provider produces: its wire text and the output tokens it carries.
 * @typedef {{ wire: string, outputTokens: number }} Frame
 */

/**
 * The provider adapter (internal contract between common.mjs and a provider module).
 * @typedef {object} Provider
 * @property {string} name
 * @property {(path: string) => boolean} matches
 * @property {string[]} exposeHeaders response headers exposed to browsers (CORS)
 * @property {string} requestIdHeader
 * @property {(seq: number) => string} requestId
 * @property {Record<string, string>} [staticHeaders] sent on every response
 * @property {(limits: Record<string, number | null | undefined>) => Record<string, number | null | undefined>} bucketLimits
 *   the provider's limits (`rpm`, `itpm`, ...) as per-bucket limits (`requests`, `input`, ...)
 * @property {(headers: http.IncomingHttpHeaders) => { status: number, kind: string, message: string } | null} authenticate
 * @property {(body: any) => string | null} validate an error message, or null when valid
 * @property {(body: any, hints: Hints) => Plan} plan
 * @property {(limiter: RateLimiter, nowMs: number, mode: 'ok' | 'missing' | 'malformed') => Record<string, string>} rateLimitHeaders
 * @property {(o: { status: number, kind: string, message: string | null, requestId: string }) => unknown} errorBody
 * @property {(o: { check: LimitCheck, plan: Plan, limiter: RateLimiter, nowMs: number, requestId: string }) => { body: unknown, headers: Record<string, string> }} limitedResponse
 * @property {(o: { plan: Plan, requestId: string, usage: 'ok' | 'missing' | 'malformed', nowMs: number }) => unknown} json
 * @property {(o: { plan: Plan, requestId: string, usage: 'ok' | 'missing' | 'malformed', nowMs: number }) => Frame[]} frames
 * @property {(o: { plan: Plan, requestId: string }) => string} sseError
 */

/**
 * Per-request overrides read from `x-mock-*` request headers.
 * @typedef {object} Hints
 * @property {number | null} inputTokens `x-mock-input-tokens`
 * @property {number | null} outputTokens `x-mock-output-tokens`
 * @property {number | null} cacheCreationTokens `x-mock-cache-creation-tokens`
 * @property {number | null} cacheReadTokens `x-mock-cache-read-tokens`
 * @property {number | null} latencyMs `x-mock-latency-ms`
 */

/**
 * The handle of a running mock.
 * @typedef {object} MockServer
 * @property {string} url `http://127.0.0.1:<port>` (no trailing slash)
 * @property {number} port
 * @property {LogEntry[]} log every request, in arrival order (live array)
 * @property {MockStats} stats a fresh snapshot on each read
 * @property {(faults: Array<MockFault | FaultKind | string | number | null>) => number} script
 *   queue faults for the next valid requests (one each, in order; a request carrying
 *   `x-mock-fault` does not consume one); returns how many are queued
 * @property {() => number} pending faults still queued
 * @property {() => Record<string, number>} levels bucket levels now, per dimension
 * @property {(levels: Record<string, number>) => void} setLevels set bucket levels now
 * @property {(limits: Record<string, number | null>) => void} setLimits change some limits, in the
 *   provider's names (`{ rpm: 5 }`; `null` = unlimited); every bucket starts full again
 * @property {() => Violation[]} violations admissions the buckets should have refused
 * @property {() => void} reset full buckets; empty log (ids restart at 1), stats, script and
 *   violations
 * @property {() => Promise<void>} idle resolves when no request is in progress
 * @property {() => string} printLog the log, one line per request, secrets redacted
 * @property {() => Promise<void>} close stop listening, cut every connection
 */

/** @param {unknown} v @param {string} name @returns {number | null} */
function hintInt(v, name) {
  if (v === undefined) return null;
  const s = Array.isArray(v) ? v[0] : String(v);
  if (!/^\s*\d+\s*$/.test(s)) throw new TypeError(`${name}: must be a non-negative integer, got ${JSON.stringify(s)}`);
  return Number(s);
}

/**
 * Starts a mock server for `provider`.
 * @param {Provider} provider
 * @param {MockOptions & { limits: Record<string, number | null | undefined> }} options `limits`
 *   in the provider's names (`rpm`, `itpm`, `tpm`, ...)
 * @returns {Promise<MockServer>}
 */
export async function startMockServer(provider, options) {
  const now = options.now ?? Date.now;
  const latencyMs = options.latencyMs ?? 1;
  const eventDelayMs = options.eventDelayMs ?? 1;
  const metering = options.outputMetering ?? "reservation";
  if (metering !== "reservation" && metering !== "realtime") {
    throw new TypeError(`outputMetering must be "reservation" or "realtime", got ${metering}`);
  }
  const enforce = options.enforce ?? true;
  const streamHeadFigures = options.streamHeadFigures ?? "head";
  if (streamHeadFigures !== "head" && streamHeadFigures !== "admission") {
    throw new TypeError(`streamHeadFigures must be "head" or "admission", got ${streamHeadFigures}`);
  }

  let limits = { ...options.limits };
  const makeLimiter = () => new RateLimiter(provider.bucketLimits(limits), now());
  let limiter = makeLimiter();
  /** @type {LogEntry[]} */
  const log = [];
  /** @type {Fault[]} */
  let queue = [];
  /** @type {Violation[]} */
  let violations = [];
  let seq = 0;
  let inFlight = 0;
  /** @type {Set<() => void>} */
  const idleWaiters = new Set();
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();
  let closed = false;

  const freshStats = () => ({
    requests: 0,
    admitted: 0,
    completed: 0,
    limited: 0,
    /** @type {Record<string, number>} */ limitedBy: {},
    rateLimited: 0,
    overloaded: 0,
    faults: 0,
    resets: 0,
    aborted: 0,
    preflights: 0,
    /** @type {Record<string, number>} */ byStatus: {},
    maxInFlight: 0,
    inputTokens: 0,
    outputTokens: 0,
  });
  let stats = freshStats();

  /** Real-time delay that close() cancels. @param {number} ms */
  const delay = (ms) =>
    ms > 0 && !closed
      ? new Promise((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve(undefined);
          }, ms);
          timers.add(t);
        })
      : Promise.resolve();

  /** @param {Fault | null} [fault] */
  const corsHeaders = (fault) => ({
    "access-control-allow-origin": "*",
    ...(fault?.expose === "none" ? {} : { "access-control-expose-headers": provider.exposeHeaders.join(", ") }),
  });

  /**
   * Common response headers.
   * @param {string} requestId
   * @param {Fault | null} fault
   */
  const baseHeaders = (requestId, fault) => {
    /** @type {Record<string, string>} */
    const h = {
      date: new Date(now()).toUTCString(),
      [provider.requestIdHeader]: requestId,
      ...provider.staticHeaders,
      ...corsHeaders(fault),
      ...provider.rateLimitHeaders(limiter, now(), fault?.rateLimitHeaders ?? "ok"),
    };
    if (fault?.retryAfter != null) h["retry-after"] = fault.retryAfter;
    if (fault?.retryAfterMs != null) h["retry-after-ms"] = fault.retryAfterMs;
    if (fault?.shouldRetry != null) h["x-should-retry"] = fault.shouldRetry;
    return h;
  };

  /**
   * @param {http.ServerResponse} res
   * @param {LogEntry} entry
   * @param {number} status
   * @param {Record<string, string>} headers
   * @param {string} body
   * @param {boolean} [stallBody] send half the body and never end it
   */
  const send = (res, entry, status, headers, body, stallBody = false) => {
    if (res.destroyed) return;
    entry.status = status;
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (status === 429) stats.rateLimited++;
    if (status === 529) stats.overloaded++;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    if (stallBody) {
      entry.outcome = "stalled";
      res.write(body.slice(0, Math.floor(body.length / 2)));
      return;
    }
    res.end(body);
  };

  /**
   * An error response with the provider's body.
   * @param {http.ServerResponse} res
   * @param {LogEntry} entry
   * @param {{ status: number, kind: string, message: string | null }} err
   * @param {string} requestId
   * @param {Fault | null} fault
   */
  const sendError = (res, entry, err, requestId, fault) => {
    const body = fault?.body !== undefined ? fault.body : provider.errorBody({ ...err, requestId });
    const headers = { ...baseHeaders(requestId, fault), ...(fault?.headers ?? {}) };
    send(res, entry, err.status, headers, typeof body === "string" ? body : JSON.stringify(body), fault?.bodyStall);
  };

  /** Output settlement for an admitted request that generated `emitted` output tokens. */
  const settle = (/** @type {Plan} */ plan, /** @type {number} */ emitted, /** @type {LogEntry} */ entry) => {
    const bucket = limiter.bucket(plan.outputDim);
    const t = now();
    if (bucket) {
      if (metering === "reservation") bucket.give(t, plan.reservedOutput - emitted);
    }
    stats.outputTokens += emitted;
    entry.usage = { input: plan.inputTokens, output: emitted };
  };

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  async function handle(req, res) {
    res.sendDate = false;
    const url = new URL(req.url ?? "/", "http://mock");
    if (req.method === "OPTIONS") {
      stats.preflights++;
      res.writeHead(204, {
        ...corsHeaders(),
        "access-control-allow-methods": "POST, OPTIONS",
        // A wildcard does not cover `authorization`: echo what the browser asked for.
        "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
        "access-control-max-age": "600",
        date: new Date(now()).toUTCString(),
      });
      res.end();
      return;
    }

    stats.requests++;
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    /** @type {LogEntry} */
    const entry = makeEntry({
      id: ++seq,
      at: now(),
      method: req.method ?? "",
      path: url.pathname,
      headers: { ...req.headers },
      body: undefined,
      inFlight,
      fault: null,
      faultSource: null,
      admitted: false,
      status: null,
      outcome: "pending",
      limitedBy: [],
      retryAfter: null,
      cost: {},
      usage: null,
      stream: false,
      finishedAt: null,
    });
    log.push(entry);
    res.on("close", () => {
      inFlight--;
      entry.finishedAt = now();
      if (res.writableFinished) {
        stats.completed++;
      } else if (entry.outcome === "pending" || entry.outcome === "ok") {
        // The client went away before the end of the response (stalls keep their outcome).
        entry.outcome = "aborted";
        stats.aborted++;
      }
      if (inFlight === 0) for (const w of idleWaiters) w();
    });

    const requestId = provider.requestId(entry.id);
    /** @param {string} outcome @param {{ status: number, kind: string, message: string | null }} err */
    const reject = (outcome, err) => {
      entry.outcome = outcome;
      sendError(res, entry, err, requestId, null);
    };

    if (req.method !== "POST" || !provider.matches(url.pathname)) {
      const exists = provider.matches(url.pathname);
      return reject("not-found", {
        status: exists ? 405 : 404,
        kind: exists ? "method_not_allowed" : "not_found",
        message: exists ? `Method ${req.method} not allowed` : `Not found: ${url.pathname}`,
      });
    }

    /** @type {Buffer[]} */
    const chunks = [];
    try {
      for await (const c of req) chunks.push(c);
    } catch {
      return; // the client went away; the 'close' handler records it
    }
    if (res.destroyed) return;
    const raw = Buffer.concat(chunks).toString("utf8");

    const authError = provider.authenticate(req.headers);
    if (authError) return reject("unauthorized", authError);

    let body;
    try {
      body = JSON.parse(raw);
      entry.body = body;
    } catch {
      entry.body = raw;
      return reject("invalid", {
        status: 400,
        kind: "invalid_request_error",
        message: "The request body is not valid JSON.",
      });
    }
    const invalid = provider.validate(body);
    if (invalid) return reject("invalid", { status: 400, kind: "invalid_request_error", message: invalid });

    /** @type {Hints} */
    let hints;
    /** @type {Fault} */
    let fault;
    try {
      hints = {
        inputTokens: hintInt(req.headers["x-mock-input-tokens"], "x-mock-input-tokens"),
        outputTokens: hintInt(req.headers["x-mock-output-tokens"], "x-mock-output-tokens"),
        cacheCreationTokens: hintInt(req.headers["x-mock-cache-creation-tokens"], "x-mock-cache-creation-tokens"),
        cacheReadTokens: hintInt(req.headers["x-mock-cache-read-tokens"], "x-mock-cache-read-tokens"),
        latencyMs: hintInt(req.headers["x-mock-latency-ms"], "x-mock-latency-ms"),
      };
      const header = req.headers["x-mock-fault"];
      if (header !== undefined) {
        fault = parseFault(Array.isArray(header) ? header[0] : header);
        entry.faultSource = "header";
      } else if (queue.length > 0) {
        fault = /** @type {Fault} */ (queue.shift());
        entry.faultSource = "script";
      } else {
        fault = parseFault(null);
      }
    } catch (e) {
      return reject("invalid", {
        status: 400,
        kind: "invalid_request_error",
        message: /** @type {Error} */ (e).message,
      });
    }
    entry.fault = entry.faultSource ? fault : null;
    if (fault.kind !== "ok") stats.faults++;

    if (fault.kind === "reset") {
      entry.outcome = "reset";
      stats.resets++;
      const socket = req.socket;
      if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    if (fault.kind === "stall") {
      if (fault.ms == null) {
        entry.outcome = "stalled";
        return; // never answered: the client aborts or close() cuts the socket
      }
      await delay(fault.ms);
      if (res.destroyed) return;
    }

    if (fault.status != null) {
      entry.outcome = "fault";
      await delay(hints.latencyMs ?? latencyMs);
      return sendError(
        res,
        entry,
        { status: fault.status, kind: fault.kind, message: fault.message },
        requestId,
        fault,
      );
    }

    const plan = provider.plan(body, hints);
    entry.stream = plan.stream;
    const t0 = now();
    const check = limiter.check(t0, plan.costs);
    if (!check.ok && enforce) {
      entry.outcome = "limited";
      entry.limitedBy = check.limitedBy;
      stats.limited++;
      for (const d of check.limitedBy) stats.limitedBy[d] = (stats.limitedBy[d] ?? 0) + 1;
      const wait = check.tooLarge.length > 0 ? check.fullWaitMs : check.waitMs;
      entry.retryAfter = retryAfterSeconds(wait);
      const limitedResponse = provider.limitedResponse({ check, plan, limiter, nowMs: t0, requestId });
      await delay(hints.latencyMs ?? latencyMs);
      const headers = { ...baseHeaders(requestId, null), ...limitedResponse.headers };
      // Explicit fault hints replace the buckets' own (to test garbage hints on a real 429).
      if (entry.faultSource) {
        if (fault.retryAfter != null) headers["retry-after"] = fault.retryAfter;
        if (fault.retryAfterMs != null) headers["retry-after-ms"] = fault.retryAfterMs;
        if (fault.shouldRetry != null) headers["x-should-retry"] = fault.shouldRetry;
        if (fault.rateLimitHeaders !== "ok") {
          const garbage = provider.rateLimitHeaders(limiter, t0, fault.rateLimitHeaders);
          for (const k of Object.keys(provider.rateLimitHeaders(limiter, t0, "ok"))) delete headers[k];
          Object.assign(headers, garbage);
        }
        Object.assign(headers, fault.headers);
      }
      send(res, entry, 429, headers, JSON.stringify(limitedResponse.body));
      return;
    }

    // Admitted.
    for (const [dim, cost] of Object.entries(plan.costs)) {
      const bucket = limiter.bucket(dim);
      if (!bucket) continue;
      const level = bucket.level(t0);
      if (level + EPSILON < cost.need)
        violations.push({ id: entry.id, at: t0, dimension: dim, level, need: cost.need });
    }
    limiter.debit(t0, plan.costs);
    // A stream's figures as of its admission, for a server that writes them then.
    const admissionFigures =
      plan.stream && streamHeadFigures === "admission"
        ? provider.rateLimitHeaders(limiter, t0, fault.rateLimitHeaders)
        : {};
    entry.admitted = true;
    entry.cost = Object.fromEntries(
      Object.entries(plan.costs)
        .filter(([d]) => limiter.bucket(d))
        .map(([d, c]) => [d, c.take]),
    );
    stats.admitted++;
    stats.inputTokens += plan.inputTokens;

    // Output settles once: at the end of the response, at a cut, or when the client goes away.
    let emitted = 0;
    let settled = false;
    const settleOnce = () => {
      if (settled) return;
      settled = true;
      settle(plan, emitted, entry);
    };
    res.once("close", settleOnce);
    const outputBucket = limiter.bucket(plan.outputDim);
    /** @param {number} n */
    const generated = (n) => {
      emitted += n;
      if (metering === "realtime" && n > 0) outputBucket?.take(now(), n);
    };
    /**
     * Writes and waits until the data is handed to the kernel, so that a cut right after still
     * delivers it (destroying a socket drops what is still buffered in user space).
     * @param {string} chunk
     */
    const write = (chunk) => new Promise((resolve) => res.write(chunk, () => resolve(undefined)));

    await delay(hints.latencyMs ?? latencyMs);
    if (res.destroyed) return;

    if (!plan.stream) {
      generated(plan.outputTokens);
      settleOnce(); // before the head, so the rate-limit headers show the correction
      const text = JSON.stringify(provider.json({ plan, requestId, usage: fault.usage, nowMs: now() }));
      const headers = { ...baseHeaders(requestId, fault), ...fault.headers };
      if (fault.kind === "stream-error") {
        entry.outcome = "stream-error";
        entry.status = 200;
        stats.byStatus[200] = (stats.byStatus[200] ?? 0) + 1;
        res.writeHead(200, { "content-type": "application/json", ...headers });
        await write(text.slice(0, Math.floor(text.length / 2)));
        res.destroy();
        return;
      }
      entry.outcome = "ok";
      send(res, entry, 200, headers, text);
      return;
    }

    // Streaming.
    const frames = provider.frames({ plan, requestId, usage: fault.usage, nowMs: now() });
    entry.status = 200;
    entry.outcome = "ok";
    stats.byStatus[200] = (stats.byStatus[200] ?? 0) + 1;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      ...baseHeaders(requestId, fault),
      ...admissionFigures,
      ...fault.headers,
    });
    // i === frames.length: after the last event, where a cut or an error event still applies.
    for (let i = 0; i <= frames.length; i++) {
      const at = Math.min(fault.afterEvents, frames.length);
      if (fault.kind === "stream-error" && i === at) {
        entry.outcome = "stream-error";
        settleOnce();
        if (i === 0) await write(""); // at least the head
        res.destroy();
        return;
      }
      if (fault.kind === "sse-error" && i === at) {
        settleOnce();
        // A string `body` is the error's wire form, verbatim (any provider's in-stream error).
        res.end(typeof fault.body === "string" ? fault.body : provider.sseError({ plan, requestId }));
        return;
      }
      if (i === frames.length) break;
      if (i > 0) await delay(eventDelayMs);
      if (res.destroyed) return;
      await write(frames[i].wire);
      generated(frames[i].outputTokens);
    }
    settleOnce();
    res.end();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      // A bug in the mock: make it loud in the test output and answer 500.
      console.error("mock server error", e);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(e?.stack ?? e));
      } else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve(undefined));
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const host = options.host ?? "127.0.0.1";

  /** @type {MockServer} */
  const handle_ = {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    log,
    get stats() {
      return { ...stats, limitedBy: { ...stats.limitedBy }, byStatus: { ...stats.byStatus }, inFlight };
    },
    script(faults) {
      for (const f of faults) queue.push(parseFault(f));
      return queue.length;
    },
    pending: () => queue.length,
    levels: () => limiter.levels(now()),
    setLevels(levels) {
      const t = now();
      for (const [dim, level] of Object.entries(levels)) {
        const bucket = limiter.bucket(dim);
        if (!bucket) throw new TypeError(`no bucket named ${dim} (have: ${[...limiter.buckets.keys()].join(", ")})`);
        bucket.set(t, level);
      }
    },
    setLimits(next) {
      for (const key of Object.keys(next)) {
        if (Object.keys(provider.bucketLimits({ [key]: 1 })).length === 0) throw new TypeError(`unknown limit ${key}`);
      }
      limits = { ...limits, ...next };
      limiter = makeLimiter();
    },
    violations: () => violations.slice(),
    reset() {
      limiter = makeLimiter();
      log.length = 0;
      seq = 0;
      queue = [];
      violations = [];
      stats = freshStats();
    },
    idle: () =>
      inFlight === 0
        ? Promise.resolve()
        : new Promise((resolve) => {
            const w = () => {
              idleWaiters.delete(w);
              resolve(undefined);
            };
            idleWaiters.add(w);
          }),
    printLog: () => log.map((e) => formatEntry(e)).join("\n"),
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
      await handle_.idle();
    },
  };
  return handle_;
}

/** @param {LogEntry} e */
function formatEntry(e) {
  const parts = [
    `#${e.id}`,
    `t=${e.at}`,
    `${e.method} ${e.path}`,
    `-> ${e.status ?? "-"} ${e.outcome}`,
    e.admitted ? "admitted" : "not-admitted",
    `inFlight=${e.inFlight}`,
  ];
  if (e.fault) parts.push(`fault=${e.fault.kind}${e.fault.status ? `(${e.fault.status})` : ""}`);
  if (e.limitedBy.length) parts.push(`limitedBy=${e.limitedBy.join(",")}`);
  parts.push(`headers=${JSON.stringify(redactHeaders(e.headers))}`);
  return parts.join(" ");
}

/**
 * Makes a log entry whose printed forms redact secrets (the object itself keeps them).
 * @param {LogEntry} fields
 * @returns {LogEntry}
 */
function makeEntry(fields) {
  const entry = fields;
  Object.defineProperty(entry, "toJSON", {
    enumerable: false,
    value() {
      return { ...entry, headers: redactHeaders(entry.headers) };
    },
  });
  Object.defineProperty(entry, inspect.custom, {
    enumerable: false,
    value(/** @type {number} */ _depth, /** @type {any} */ opts, /** @type {typeof inspect} */ insp) {
      return (insp ?? inspect)({ ...entry, headers: redactHeaders(entry.headers) }, opts);
    },
  });
  return entry;
}
