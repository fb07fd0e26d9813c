// Type definitions for llm-pacer. Hand-written: the names and defaults are the public
// contract (see the README). An unknown option key throws a TypeError at run time, naming the
// key and the closest known one.

/** Per-minute limits of one model class (`limits.models[modelClass]`); a limit not given falls back to the top-level one. */
export interface ModelClassLimits {
  /** Requests per minute (RPM). */
  readonly rpm?: number;
  /** Combined input + output tokens per minute (TPM). */
  readonly tpm?: number;
  /** Input tokens per minute (ITPM). */
  readonly itpm?: number;
  /** Output tokens per minute (OTPM). */
  readonly otpm?: number;
}

/**
 * Per-minute limits, each a number from 1 to 1e12. A limit not given is learned from the
 * response headers, if the server sends them.
 */
export interface PacerLimits {
  /** Requests per minute (RPM). @default learned from headers */
  readonly rpm?: number;
  /** Combined input + output tokens per minute (OpenAI-style TPM). @default learned from headers */
  readonly tpm?: number;
  /** Input tokens per minute (Anthropic ITPM: input + cache creation; cache reads are free). @default learned from headers */
  readonly itpm?: number;
  /** Output tokens per minute (Anthropic OTPM). @default learned from headers */
  readonly otpm?: number;
  /**
   * Limits per model class (`sonnet`, `haiku`, `opus`, `gpt-4o-mini`, ...; a model the pacer
   * does not know is a class of its own, its name in lower case). Each dimension given here
   * replaces the top-level one for that class's limit keys. A model id (`claude-haiku-4-5`)
   * names its class, where no entry names the class itself. @default {}
   */
  readonly models?: { readonly [modelClass: string]: ModelClassLimits };
}

/** What a `limitKey` function gets. */
export interface LimitKeyRequest {
  /** The request URL (`""` when the input is neither a string, a `URL` nor a `Request`). */
  readonly url: string;
  /** The JSON body's `model`, else the model the URL's path names (Gemini, Vertex AI, Bedrock, an Azure deployment), or `""`. */
  readonly model: string;
  /** The request's headers (a copy). */
  readonly headers: Headers;
}

// presets:begin
/** Every preset name (generated from the preset table by tests/presets_doc.rs). */
export type PresetName =
  | "anthropic:start:fable"
  | "anthropic:start:opus-5"
  | "anthropic:start:opus"
  | "anthropic:start:sonnet-5"
  | "anthropic:start:sonnet"
  | "anthropic:start:haiku"
  | "anthropic:build:fable"
  | "anthropic:build:opus-5"
  | "anthropic:build:opus"
  | "anthropic:build:sonnet-5"
  | "anthropic:build:sonnet"
  | "anthropic:build:haiku"
  | "anthropic:scale:fable"
  | "anthropic:scale:opus-5"
  | "anthropic:scale:opus"
  | "anthropic:scale:sonnet-5"
  | "anthropic:scale:sonnet"
  | "anthropic:scale:haiku"
  | "anthropic:tier-1:opus"
  | "anthropic:tier-1:sonnet"
  | "anthropic:tier-1:haiku"
  | "anthropic:tier-2:opus"
  | "anthropic:tier-2:sonnet"
  | "anthropic:tier-2:haiku"
  | "anthropic:tier-3:opus"
  | "anthropic:tier-3:sonnet"
  | "anthropic:tier-3:haiku"
  | "anthropic:tier-4:opus"
  | "anthropic:tier-4:sonnet"
  | "anthropic:tier-4:haiku"
  | "openai:tier-1:gpt-4o"
  | "openai:tier-1:gpt-4o-mini"
  | "openai:tier-2:gpt-4o-mini"
  | "openai:tier-3:gpt-4o-mini";
/** Every whole tier (`preset` only; each model class its own row). */
export type TierName =
  | "anthropic:start"
  | "anthropic:build"
  | "anthropic:scale"
  | "anthropic:tier-1"
  | "anthropic:tier-2"
  | "anthropic:tier-3"
  | "anthropic:tier-4"
  | "openai:tier-1"
  | "openai:tier-2"
  | "openai:tier-3";
// presets:end

/** How failed attempts are retried. */
export interface RetryOptions {
  /** Retries after the first attempt, an integer from 0 to 100. @default 6 */
  readonly maxRetries?: number;
  /** The base delay of the first retry, ms. @default 1000 */
  readonly initialDelayMs?: number;
  /** The cap on the base delay, ms (at least `initialDelayMs`). @default 60000 */
  readonly maxDelayMs?: number;
  /** Growth of the base delay per retry: retry n waits `min(maxDelayMs, initialDelayMs * multiplier^(n-1))` before jitter. @default 2 */
  readonly multiplier?: number;
  /**
   * How the delay is randomised: `full` = U[0, base), `equal` = base/2 + U[0, base/2),
   * `decorrelated` = U[initial, 3 * previous) capped, `additive` = base + U[0, 1 s), `none`.
   * A server hint (`retry-after-ms`, `retry-after`) replaces the backoff: the wait is never
   * shorter than the hint and at most 10% (and at most 1 s) longer.
   * @default "full"
   */
  readonly jitter?: "none" | "full" | "equal" | "decorrelated" | "additive";
  /** A server hint longer than this (ms) is not waited on: the response is returned at once. @default 300000 */
  readonly maxRetryAfterMs?: number;
  /** The HTTP error statuses to retry (integers from 400 to 599); replaces the default list. @default [408, 409, 429, 500, 502, 503, 504, 529] */
  readonly retryOn?: readonly number[];
}

/** The retry budget (gRPC-style retry throttling): retries stop while most attempts fail. */
export interface BudgetOptions {
  /** Tokens given back per success, from 0 to 1000. @default 1 */
  readonly ratio?: number;
  /** Capacity and start value, from 1 to 1e6; retries are allowed while more than half remains. @default 10 */
  readonly maxTokens?: number;
}

/** A clock to run the pacer in virtual time (tests, simulations). */
export interface PacerClock {
  /** Now, epoch milliseconds (like `Date.now()`). */
  now(): number;
  /**
   * Resolve after `ms`; reject with `signal.reason` when `signal` aborts. If it throws or
   * rejects otherwise, the calls waiting on it reject with that error.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What the built-in or a custom estimate gets. */
export interface EstimateRequest {
  /** The request URL (`""` when the input is neither a string, a `URL` nor a `Request`). */
  readonly url: string;
  /** The body parsed as JSON, or `undefined` when it is not a JSON string or buffer. */
  readonly body: unknown;
}

/** Tokens a request is expected to cost. */
export interface TokenEstimate {
  /** Input tokens (ITPM). */
  readonly input: number;
  /** Output tokens to reserve (OTPM), usually the request's `max_tokens`. */
  readonly output: number;
}


/** A function of `fetch`'s shape: what the `fetch` option takes. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * `pacer.fetch`: the runtime's own `fetch` type (so it goes wherever `fetch` does), which
 * also takes the fetch option `priority` where the runtime's `RequestInit` lacks it (Node's
 * types without the DOM library).
 */
export type PacerFetch = typeof globalThis.fetch &
  ((input: string | URL | Request, init?: RequestInit & { readonly priority?: "high" | "low" | "auto" }) => Promise<Response>);

/**
 * Options of `new Pacer(options)`. A value of the wrong type throws a `TypeError`, one out of
 * range a `RangeError`, both naming the option (e.g. `retry.maxRetries`); an unknown key (at
 * any level) throws a `TypeError` naming it and the closest known one.
 */
export interface PacerOptions {
  /** Per-minute limits. @default {} (learned from headers) */
  readonly limits?: PacerLimits;
  /**
   * A named provider tier: one model class (`"anthropic:tier-1:sonnet"`, applied to every
   * request), or a whole tier (`"anthropic:tier-1"`, each model class its own row). Limits
   * given in `limits` replace the preset's one by one. The names are in the README's
   * *Presets* table. @default undefined
   */
  readonly preset?: PresetName | TierName;
  /**
   * The limit key of a request, in place of its origin and credential: requests whose
   * function returns the same string share limits (per model class: the class always stays
   * part of the key). The string is hashed at once and never shown or logged.
   * @default the URL's origin and a one-way fingerprint of the credential header (or of Gemini's `?key=`)
   */
  readonly limitKey?: (request: LimitKeyRequest) => string;
  /**
   * Share every limit key's state with the other processes of a fleet (`redisStore` from
   * `llm-pacer/redis`, `durableObjectStore` from `llm-pacer/cloudflare`, or your own
   * {@link PacerStore}). Each call does one `reserve` (again
   * after each wait the store asks for) and one `settle`; the local queue sleeps exactly the
   * store's wait. A store that fails or takes over 1 s costs no call: the call goes on this
   * process's own limits, and a `warning` event says `store_unavailable` (then `store_resumed`).
   * @default none: this process's own limits
   */
  readonly store?: PacerStore;
  /** Retry options. @default {} */
  readonly retry?: RetryOptions;
  /**
   * The retry budget, or `false` to disable it: each failed attempt (5xx, 529, network) takes
   * one of `maxTokens` tokens, each success gives `ratio` back. While half or fewer remain
   * (with the default, while failures outnumber successes), one call at a time retries and
   * the others whose attempts fail wait, each holding its last response: a success that
   * refills the budget lets them go, and that call running out of `maxRetries` hands them
   * their last responses (`giveup` `budget`). @default { ratio: 1, maxTokens: 10 }
   */
  readonly budget?: BudgetOptions | false;
  /**
   * Requests in flight at once (an integer from 1 to 1e6, or `Infinity`); a streamed response counts until its body ends.
   * `"auto"`: for a server that states no limits (no rate-limit headers, none configured), an adaptive window and
   * rate (AIMD with slow start, driven by 429/503/529 and latency), standing aside once any limit is known. @default Infinity
   */
  readonly concurrency?: number | "auto";
  /** Bound on a whole call, waits included, ms: the last response is returned (or `TIMEOUT` rejects, when none arrived) rather than waiting past it; a retry still on the wire then is aborted. @default undefined (no bound) */
  readonly timeoutMs?: number;
  /** Output tokens reserved before a request: its `max_tokens`, nothing, or a fixed number. @default "max_tokens" */
  readonly outputReservation?: "max_tokens" | "none" | number;
  /**
   * Replaces the built-in estimate (input from the text of Anthropic, OpenAI and Gemini JSON
   * bodies at about 3 ASCII characters or 1 other character per token, images and documents
   * at a fixed cost; output from `max_tokens` / `max_completion_tokens` /
   * `max_output_tokens` / Gemini's `generationConfig.maxOutputTokens`).
   * Its `input` is taken as your count of the whole prompt: above a limit, the call is a
   * `RequestTooLargeError` (the built-in estimate's never is), but for a prefix that
   * Anthropic's prompt cache may hold (cache reads do not count against ITPM). The body is
   * still read for its `cache_control` breakpoints: a prefix a response reported cached is
   * taken off your count in its share of it, as off the built-in estimate. Both numbers are
   * required, and returned synchronously (a Promise is not awaited): anything else rejects the
   * call with a `TypeError`.
   * @default the built-in estimate
   */
  readonly estimate?: (request: EstimateRequest) => TokenEstimate;
  /**
   * The `fetch` to call: any function of `fetch`'s shape (a plain function type, so that a
   * runtime whose `fetch` has extra properties, as Bun's `preconnect`, takes yours too).
   * @default globalThis.fetch (looked up at each attempt)
   */
  readonly fetch?: FetchLike;
  /** Read time and wait only through this clock (no `Date.now`, no `setTimeout`). @default the real clock */
  readonly clock?: PacerClock;
  /** Seed for the jitter, for reproducible delays (a safe integer). @default a random seed */
  readonly seed?: number;
  /** Called for each event; an exception it throws is ignored. Events never carry URLs, headers, bodies or keys. @default undefined */
  readonly onEvent?: (event: PacerEvent) => void;
  /**
   * Log one line per event to the console (`console.error` where there is a `process`, else
   * `console.debug`): never a URL, header, body or key. `LLM_PACER_DEBUG=1` in the
   * environment turns it on where `process.env` exists; `false` here turns it off.
   * @default false
   */
  readonly debug?: boolean;
}

/** The dimensions of a limit. */
export type Dimension = "requests" | "inputTokens" | "outputTokens" | "tokens";

/** A response status as an event reason: the common ones by number, others by class. */
export type StatusReason =
  | "status_400" | "status_401" | "status_403" | "status_404" | "status_408" | "status_409"
  | "status_413" | "status_422" | "status_429" | "status_500" | "status_502" | "status_503"
  | "status_504" | "status_529" | "status_4xx" | "status_5xx" | "status_other";

/** What every event of a call carries. */
export interface CallEventBase {
  /** The call, numbered from 1 in submission order. */
  readonly id: number;
  /** Attempt number (0 before the first send). */
  readonly attempt: number;
  /** The wait this event announces, whole ms (0 if none). */
  readonly delayMs: number;
  /** When, epoch ms (whole). */
  readonly at: number;
  /** The call's limit key: an opaque id (never the credential), where the pacer keeps limits per key. */
  readonly key?: string;
  /** The call's model (from its JSON body), where known. */
  readonly model?: string;
}

/** What the events after a response know of it. */
export interface ResponseInfo {
  /** The HTTP status of the attempt's response (absent: no response, e.g. a network error). */
  readonly status?: number;
  /** From sending the attempt to its response's head, whole ms. */
  readonly latencyMs?: number;
}

/** Submitted and queued. */
export interface QueuedEvent extends CallEventBase {
  readonly type: "queued";
  readonly reason: "submitted";
}

/** Held in the queue; `delayMs` is the wait expected now. Sent when the call is queued and again each time what holds it changes. */
export interface WaitEvent extends CallEventBase {
  readonly type: "wait";
  /**
   * What holds it: a limit's dimension, a pause after a 429, the `concurrency` cap, calls
   * ahead in the queue, the shared store, or (`budget`, `delayMs` 0) a spent retry budget,
   * whose probing call it waits for.
   */
  readonly reason: Dimension | "paused" | "first_response" | "concurrency" | "queue" | "store" | "budget";
}

/** Admitted: about to be sent; `delayMs` is how long it waited since it was queued (or its last retry was scheduled). */
export interface AdmittedEvent extends CallEventBase {
  readonly type: "admitted";
  readonly reason: "admitted";
}

/** A retry is scheduled, `delayMs` from now. */
export interface RetryEvent extends CallEventBase, ResponseInfo {
  readonly type: "retry";
  readonly reason: "rate_limited" | "overloaded" | "network" | StatusReason;
}

/** No more retries: the last response (or error) goes to the caller. */
export interface GiveUpEvent extends CallEventBase, ResponseInfo {
  readonly type: "giveup";
  readonly reason:
    | StatusReason
    | "should_retry_false"
    | "spend_limit"
    | "insufficient_quota"
    | "request_too_large"
    | "aborted"
    | "closed"
    | "not_replayable"
    /** `fetch` refuses the request itself (a malformed URL, a body on a `GET`...): its `TypeError` is returned at once, never retried. */
    | "invalid_request"
    | "max_retries"
    | "budget"
    | "retry_after_too_long"
    | "timeout"
    /** The request can never fit this dimension's limit (`REQUEST_TOO_LARGE`). */
    | Dimension;
}

/** Limits were learned or changed from a response's headers (`headers`), or, once, a cross-origin response showed none: CORS hides them (`headers_hidden`). */
export interface LimitsEvent extends CallEventBase, ResponseInfo {
  readonly type: "limits";
  readonly reason: "headers" | "headers_hidden";
}

/** Tokens a response used, as settled. */
export interface EventUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheCreationInputTokens: number;
  readonly cacheReadInputTokens: number;
}

/**
 * A delivered response's body ended and its usage was reconciled: `usage` (the body reported
 * it), `estimated` (a stream without usage: its output estimated from the streamed text, its
 * input as reserved), `input_only` (a stream its reader stopped before its final usage, after
 * it reported its input, as Anthropic's `message_start` does: the input as reported, the output
 * as reserved and not in `usage`), or `no_usage` (the reservation stands).
 */
export interface SettledEvent extends CallEventBase, ResponseInfo {
  readonly type: "settled";
  readonly reason: "usage" | "estimated" | "input_only" | "no_usage";
  /** The usage settled (absent for `no_usage`). */
  readonly usage?: EventUsage;
}

/**
 * Advice on the set-up, at most once per pacer and reason: `sdk_retries` (an SDK retries on
 * top of the pacer: create it with `maxRetries: 0`), `stream_usage_missing` (a stream reported
 * no usage: pass `stream_options: { include_usage: true }`). And the shared store's state,
 * once per outage: `store_unavailable` (the `store` failed or took over 1 s: calls go on this
 * process's own limits, on a conservative share), then `store_resumed` (it answers again).
 */
export interface WarningEvent {
  readonly type: "warning";
  readonly reason: "sdk_retries" | "stream_usage_missing" | "store_unavailable" | "store_resumed";
  /** What to do, in a sentence. */
  readonly message: string;
  /** When, epoch ms (whole). */
  readonly at: number;
  /** The call that showed it, when known. */
  readonly id?: number;
  readonly attempt?: number;
  readonly delayMs?: number;
}

/** Something the pacer did: a union discriminated by `type`. */
export type PacerEvent =
  | QueuedEvent
  | WaitEvent
  | AdmittedEvent
  | RetryEvent
  | GiveUpEvent
  | LimitsEvent
  | SettledEvent
  | WarningEvent;

/** The `type` of every event. */
export type PacerEventType = PacerEvent["type"];

/** Counters: plain, finite, non-negative numbers. */
export interface PacerStats {
  /** Calls to `pacer.fetch` the pacer took on: not those it refused before queueing (an aborted signal, after `close()`, input it cannot read). */
  readonly requests: number;
  /** Requests sent to the server. */
  readonly attempts: number;
  /** Retries scheduled. */
  readonly retries: number;
  /** 429 responses seen. */
  readonly rateLimited: number;
  /** 529 responses seen. */
  readonly overloaded: number;
  /** Other 5xx responses seen (529s are counted as `overloaded`). */
  readonly serverErrors: number;
  /** Attempts that failed with no response. */
  readonly networkErrors: number;
  /** Input tokens reserved at admission, in all. */
  readonly inputTokensReserved: number;
  /** Output tokens reserved at admission, in all. */
  readonly outputTokensReserved: number;
  /** Input tokens the responses reported (input + cache creation), in all. */
  readonly inputTokensUsed: number;
  /** Output tokens the responses reported, in all. */
  readonly outputTokensUsed: number;
  /** Time calls spent waiting (queue and backoff), ms, in all. */
  readonly waitMs: number;
  /** Calls waiting now (queued, backing off, or held by a spent retry budget). */
  readonly queued: number;
  /** Calls in flight now (sent, or delivered with a body still streaming). */
  readonly inFlight: number;
}

/** What is known now of one limit. */
export interface LimitState {
  /** The limit per window (`windowMs`: a minute unless the server's headers state another). */
  readonly limit: number;
  /** The limit's window, ms: 60,000 for a limit per minute (a gateway's may be a second, Groq's requests per day 86,400,000). */
  readonly windowMs: number;
  /** What remains now (0 when the bucket is in debt). */
  readonly remaining: number;
  /** When the bucket is full again, epoch ms. */
  readonly resetAt: number;
  /** Where the limit came from: configured (`limits`, `preset`), learned from the headers, or configured and then lowered by the server's headers (`limit` is then the server's). */
  readonly source: "configured" | "headers" | "configured+headers";
}

/** What is known now per dimension; a dimension nobody configured and no header reported is absent. */
export interface PacerLimitStates {
  readonly requests?: LimitState;
  readonly inputTokens?: LimitState;
  readonly outputTokens?: LimitState;
  readonly tokens?: LimitState;
}

/** What is known now of one limit key's limits. */
export interface KeyLimitStates extends PacerLimitStates {
  /** The key, opaque (a short hash: never a credential, nor anything it can be recovered from). */
  readonly key: string;
  /** The key's model class (`""` when its requests name no model). */
  readonly model: string;
}

/** Paces and retries `fetch` calls to an LLM API. */
export declare class Pacer {
  /** @throws {TypeError | RangeError} naming the first bad option. */
  constructor(options?: PacerOptions);
  /**
   * `fetch`, paced and retried; bound, so `new Anthropic({ fetch: pacer.fetch })` works.
   * Resolves with the final `Response` whenever one arrived (a 429 after the last retry is
   * returned, not thrown); rejects only with no response: the network error after the last
   * retry, an abort (the signal's reason), or a {@link PacerError}. The runtime's own error
   * (and that of a body the pacer hands over) has the call's credentials (credential headers,
   * the URL's password and `?key=`-like parameters) replaced by `[redacted]`, in place; the
   * signal's reason is passed on untouched.
   *
   * Queued calls go out highest priority first, in arrival order within a priority. The
   * fetch option `priority: "high"` (or `"low"`) moves a call one step ahead (or behind);
   * see {@link Pacer.withPriority} for a whole client.
   */
  readonly fetch: PacerFetch;
  /**
   * A `fetch` like {@link Pacer.fetch} (same pacer, same limits) whose calls queue at
   * `priority`: higher goes first, `pacer.fetch` is 0. For example an interactive client at 1
   * and a batch client at 0 share one organisation's limits, and the interactive one never
   * waits behind the batch's queue.
   * @param priority an integer in [-1000000, 1000000]
   * @throws {TypeError | RangeError} naming `priority` when it is not such an integer.
   */
  withPriority(priority: number): PacerFetch;
  /** Counters now. */
  stats(): PacerStats;
  /** What is known now of each limit key (organisation and model class) in use lately, in the order first seen. */
  limits(): KeyLimitStates[];
  /** Reject queued calls with `CLOSED`; in-flight attempts finish without retries; later calls reject with `CLOSED`. */
  close(): void;
}

/**
 * The codes of the errors the pacer creates. `INTERNAL`: a bug in llm-pacer trapped its
 * WebAssembly module; every pending call, and every later use of any pacer, `Backoff`,
 * `Limiter` or function of that module instance, fails with it (never a hang).
 */
export type PacerErrorCode = "REQUEST_TOO_LARGE" | "RETRY_AFTER_TOO_LONG" | "TIMEOUT" | "CLOSED" | "NETWORK" | "INTERNAL";

/** The base class of the errors the pacer creates (never for a response: those are returned). */
export declare class PacerError extends Error {
  readonly code: PacerErrorCode;
}

/**
 * What the request surely costs can never fit a limit: no wait can help. That is its
 * `max_tokens` (the output reservation), or input counted by the `estimate` option; the
 * built-in input estimate, which errs high, never refuses a call (an estimate above a limit
 * waits for a full bucket and is sent).
 */
export declare class RequestTooLargeError extends PacerError {
  readonly code: "REQUEST_TOO_LARGE";
  /** The dimension: `requests`, `inputTokens`, `outputTokens` or `tokens`. */
  readonly dimension: "requests" | "inputTokens" | "outputTokens" | "tokens";
  /** The request's cost there. */
  readonly cost: number;
  /** The limit. */
  readonly capacity: number;
  /** The limit's window, ms (60,000: per minute). */
  readonly windowMs?: number;
}

/**
 * The server asked everyone to wait longer than `retry.maxRetryAfterMs` before this call got any response:
 * a pause after a 429, or a limit learned from its headers whose refill takes that long by the
 * server's arithmetic (a spent daily window until its reset, say). The pacer's own estimates (a
 * prompt's built-in estimate, its reservations in flight, others' share) never make it; configured
 * limits are always waited on.
 */
export declare class RetryAfterTooLongError extends PacerError {
  readonly code: "RETRY_AFTER_TOO_LONG";
  /** The wait the server asked for, ms. */
  readonly hintMs: number;
}

/**
 * `timeoutMs` passed before any response arrived; or the server asked every call of its key
 * to wait past this waiting call's deadline (`hintMs`), or the next retry after a network
 * error would cross it, and it failed at once rather than at the deadline.
 */
export declare class PacerTimeoutError extends PacerError {
  readonly code: "TIMEOUT";
  /** The option's value, ms. */
  readonly timeoutMs?: number;
  /** The wait the server stated, ms from the failure, when that is why (within `maxRetryAfterMs`). */
  readonly hintMs?: number;
  /** After a network error: that error, scrubbed of the call's credentials. */
  readonly cause?: unknown;
}

/** The pacer was closed. */
export declare class ClosedError extends PacerError {
  readonly code: "CLOSED";
}

// --- Lower-level exports, for callers with their own HTTP stack -----------------------------

/** Options of `new Backoff(options)`: the Pacer's `retry` options, and a seed. A bad value throws a `TypeError` or `RangeError` naming it. */
export interface BackoffOptions {
  /** The base delay of the first retry, ms (0 to 86400000). @default 1000 */
  readonly initialDelayMs?: number;
  /** The cap on the base delay, ms (at least `initialDelayMs`). @default 60000 */
  readonly maxDelayMs?: number;
  /** Growth of the base delay per retry (1 to 100): retry n waits `min(maxDelayMs, initialDelayMs * multiplier^(n-1))` before jitter. @default 2 */
  readonly multiplier?: number;
  /** How the delay is randomised (see {@link RetryOptions.jitter}). @default "full" */
  readonly jitter?: "none" | "full" | "equal" | "decorrelated" | "additive";
  /** Delays handed out before `next()` says stop, an integer from 0 to 100. @default 6 */
  readonly maxRetries?: number;
  /** A server hint longer than this (ms) makes `next(hintMs)` say stop. @default 300000 */
  readonly maxRetryAfterMs?: number;
  /** Seed for the jitter, for reproducible delays (a safe integer); the same seed gives the seeded Pacer's delays. @default a random seed */
  readonly seed?: number;
}

/**
 * Exponential backoff with jitter: the delays of the Pacer's retries, one at a time, for a
 * retry loop of your own. Iterable: `for (const ms of new Backoff())` runs `maxRetries` times.
 */
export declare class Backoff implements Iterable<number> {
  /** @throws {TypeError | RangeError} naming the first bad option. */
  constructor(options?: BackoffOptions);
  /**
   * The delay before the next retry, ms, or `undefined`: stop retrying (`maxRetries` delays
   * were handed out, or `hintMs` is longer than `maxRetryAfterMs`).
   * @param hintMs the server's hint (`retryAfterMs` of {@link classify} or
   *   {@link parseRateLimitHeaders}): the delay is then at least the hint and at most 10% (and
   *   at most 1 s) longer. Under 1 ms (a server saying "now"), NaN or a negative number is no
   *   hint: the backoff applies.
   */
  next(hintMs?: number): number | undefined;
  /** Start again from the first retry (the random stream goes on). */
  reset(): void;
  /** The delays `next()` hands out, until it says stop. */
  [Symbol.iterator](): IterableIterator<number>;
}

/** Options of `new Limiter(options)`. A bad value throws a `TypeError` or `RangeError` naming it. */
export interface LimiterOptions {
  /** Per-minute limits. @default {} (learned from headers through `observe`) */
  readonly limits?: PacerLimits;
  /** One model class's preset, e.g. `"anthropic:tier-1:sonnet"` (a Limiter is one limit key's; a whole tier such as `"anthropic:tier-1"` throws a `RangeError`); `limits` override it. @default undefined */
  readonly preset?: PresetName;
  /** Output tokens reserved by `acquire`: the cost's `output` (its `max_tokens`), nothing, or a fixed number. @default "max_tokens" */
  readonly outputReservation?: "max_tokens" | "none" | number;
  /**
   * How long an admitted request may take to reach the server, ms (0 to 86400000): an
   * admission from a nearly full bucket also spends the refill the server's full bucket
   * wastes meanwhile, as the Pacer's does once responses carry rate-limit figures. 0 is the
   * exact mirror of the server's arithmetic.
   * @default 500
   */
  readonly latencyMs?: number;
}

/** What one request costs: tokens; the request itself always counts 1. Absent means 0. */
export interface LimiterCost {
  /** Input tokens (ITPM: input + cache creation). @default 0 */
  readonly input?: number;
  /** The request's `max_tokens`, reserved against OTPM as `outputReservation` says. @default 0 */
  readonly output?: number;
}

declare const ticketBrand: unique symbol;

/** An admitted request's reservation: opaque; settle or release it once. */
export interface LimiterTicket {
  readonly [ticketBrand]: true;
}

/** The answer of `limiter.acquire`. */
export type LimiterDecision =
  | { readonly ok: true; readonly ticket: LimiterTicket }
  | {
      readonly ok: false;
      /** Ask again this many ms later (measured from the `now` given). */
      readonly waitMs: number;
      /** What holds it: a dimension short of tokens, or a pause (`pauseUntil`). */
      readonly reason: "requests" | "inputTokens" | "outputTokens" | "tokens" | "paused";
    };

/** A response's `usage`, as Anthropic or OpenAI report it (other fields are ignored; a missing or invalid one is not reported). */
export interface LimiterUsage {
  readonly input_tokens?: number | null;
  readonly cache_creation_input_tokens?: number | null;
  readonly cache_read_input_tokens?: number | null;
  readonly output_tokens?: number | null;
  /** OpenAI Chat Completions' `input_tokens`. */
  readonly prompt_tokens?: number | null;
  /** OpenAI Chat Completions' `output_tokens`. */
  readonly completion_tokens?: number | null;
}

/** Response headers: a `Headers`, a `Map`, `[name, value]` pairs, or a plain object (Node's `IncomingHttpHeaders`; an array value is a repeated field). */
export type HeadersLike =
  | Headers
  | Iterable<readonly [string, string]>
  | { readonly [name: string]: string | number | readonly string[] | undefined };

/**
 * The Pacer's token buckets (RPM, ITPM, OTPM, TPM: the providers' own arithmetic), on their
 * own, in explicit time: every method takes `now` in epoch ms (default `Date.now()`), so the
 * limiter runs in virtual time as well. Time never runs backwards inside: a `now` earlier
 * than one seen before is taken as that one.
 */
export declare class Limiter {
  /** @throws {TypeError | RangeError} naming the first bad option. */
  constructor(options?: LimiterOptions);
  /**
   * Admit the request and reserve its cost in every known bucket, or say how long to wait.
   * @throws {RequestTooLargeError} when the cost exceeds a limit: no wait can help.
   */
  acquire(cost?: LimiterCost, now?: number): LimiterDecision;
  /**
   * Replace the ticket's reservation by the real usage (when the response body ends), so the
   * buckets hold what the server counted. Without usage the reservation stands.
   * @throws {TypeError} when the ticket is not live (already settled or released, or another limiter's).
   */
  settle(ticket: LimiterTicket, usage?: LimiterUsage | null, now?: number): void;
  /**
   * Give the whole reservation back, the request included: it was never sent, or the server
   * refused it without counting it (429, 529).
   * @throws {TypeError} when the ticket is not live.
   */
  release(ticket: LimiterTicket, now?: number): void;
  /** Align with a response's rate-limit headers (learn limits, follow the server's levels). True when a limit was learned or changed. */
  observe(headers: HeadersLike, now?: number): boolean;
  /**
   * Hold every request until `until`, epoch ms (after a 429: `now + retryAfterMs`). A later pause wins.
   * @throws {TypeError} when `until` is not a finite number.
   */
  pauseUntil(until: number): void;
  /** What is known now of each limit, as one key of `pacer.limits()` shows it. */
  limits(now?: number): PacerLimitStates;
}

/**
 * One {@link Limiter} per limit key: a `Limiter` is the state of one key (one organisation's
 * limits for one model class); this holds one per key string the caller chooses, made at first
 * use from `options`, or from `options(key)` (e.g. each model class's limits).
 */
export declare class KeyedLimiter {
  /** @throws {TypeError | RangeError} naming the first bad option (when `options` is an object). */
  constructor(options?: LimiterOptions | ((key: string) => LimiterOptions));
  /** The limiter of `key`, made now if it is new. */
  get(key: string): Limiter;
  /** Forget `key`'s limiter; true if it was held. */
  delete(key: string): boolean;
  /** What is known now of each key's limits. */
  limits(now?: number): Array<PacerLimitStates & { readonly key: string }>;
}

/** What rate-limit headers say about one dimension; absent fields are omitted. */
export interface RateLimitDimension {
  /** The limit per `windowMs`. */
  readonly limit?: number;
  /** What remains now. */
  readonly remaining?: number;
  /** When the bucket is full again, local epoch ms (corrected through the server's `Date`). */
  readonly resetAt?: number;
  /** The window the limit is for, ms (60000 for per-minute limits). */
  readonly windowMs?: number;
  /** `remaining` was rounded by the server (Anthropic token counts, to the thousand). */
  readonly rounded?: true;
}

/** What a response's headers say; absent and malformed fields are omitted. */
export interface RateLimitHeaders {
  /** How long the server asks to wait, whole ms rounded up: `retry-after-ms`, else `retry-after` (seconds or an HTTP-date). */
  readonly retryAfterMs?: number;
  /** `x-should-retry`. */
  readonly shouldRetry?: boolean;
  /** The server's `Date`, epoch ms. */
  readonly serverDate?: number;
  /** The header family the limits came from. */
  readonly family?: "anthropic" | "openai" | "ietf" | "groq" | "mistral" | "x-ratelimit" | "together";
  readonly requests?: RateLimitDimension;
  readonly inputTokens?: RateLimitDimension;
  readonly outputTokens?: RateLimitDimension;
  /** Combined tokens (OpenAI TPM; Anthropic `tokens-*`, the most restrictive limit in effect). */
  readonly tokens?: RateLimitDimension;
  /** Anthropic Priority Tier input tokens. */
  readonly priorityInputTokens?: RateLimitDimension;
  /** Anthropic Priority Tier output tokens. */
  readonly priorityOutputTokens?: RateLimitDimension;
  /**
   * A quota of a longer period than the limits paced is spent while none of those is:
   * Mistral's `x-ratelimit-remaining-tokens-month: 0` (or a `-day` beside the `-minute`) with
   * room in the minute. A 429 then fails like `insufficient_quota` ({@link classify}): no
   * wait within reason helps.
   */
  readonly quotaSpent?: true;
}

/**
 * Parse every rate-limit header family the Pacer reads: `retry-after-ms`, `retry-after`,
 * `x-should-retry`, `anthropic-ratelimit-*`, `x-ratelimit-*` and the IETF `RateLimit` /
 * `RateLimit-Policy` fields.
 * @param now when the response arrived, epoch ms (resets become absolute times). @default Date.now()
 */
export declare function parseRateLimitHeaders(headers: HeadersLike, now?: number): RateLimitHeaders;

/** The Pacer's decision about a response. */
export interface Classification {
  /** `retry`: worth another attempt; `fail`: give the response to the caller; `success`: 1xx-3xx. */
  readonly action: "retry" | "fail" | "success";
  /** Why: `rate_limited`, `overloaded`, `spend_limit`, `insufficient_quota`, `request_too_large`, `should_retry_false`, or `status_<code>`. */
  readonly reason: string;
  /** The server's hint for a retry, whole ms rounded up: the headers', else the body's (see {@link Backoff.next}). */
  readonly retryAfterMs?: number;
}

/**
 * Retry, fail or success, as the Pacer decides (its default retryable statuses: 408, 409,
 * 429, 500, 502, 503, 504, 529). `x-should-retry` overrides the status; a spend limit
 * (`enforced_spend_limit_reached`), `insufficient_quota` (or a 429 whose headers show a
 * month's quota spent, as Mistral's) or a request larger than the limit
 * itself (OpenAI's `Request too large ... Limit N, Requested M`) is never retried.
 * @param status the response's status, an integer from 100 to 599 (else a RangeError, or a TypeError for a non-number).
 * @param body the error body, parsed or as its JSON text (optional).
 * @param now when the response arrived, epoch ms. @default Date.now()
 */
export declare function classify(status: number, headers?: HeadersLike, body?: unknown, now?: number): Classification;

/** A limit-key dimension, as a store names it. */
export type StoreDim = "requests" | "inputTokens" | "outputTokens" | "tokens";

/** Tokens one request reserves or used (the request dimension always counts 1). */
export interface StoreTokens {
  /** Input tokens that count against ITPM (input + cache creation). */
  readonly input: number;
  /** Output tokens. */
  readonly output: number;
}

/** Limits per minute the pacer knows for a key; a store creates the buckets it lacks from them. */
export interface StoreLimits {
  readonly rpm?: number;
  readonly itpm?: number;
  readonly otpm?: number;
  readonly tpm?: number;
}

/** A store's answer to a reservation: every dimension taken, or none. */
export type StoreDecision =
  | { readonly admit: true }
  | {
      readonly admit: false;
      /** Milliseconds to wait from now (a duration, so clock skew between processes does not matter). */
      readonly waitMs: number;
      /**
       * What holds it: a bucket, or a 429's fleet-wide pause when the pause is the longer wait
       * (`waitMs` is then the server's own word, which the pacer holds to `maxRetryAfterMs`).
       * Held by a token bucket, the pacer asks again with `turn: true` before `waitMs` is
       * over (every second at most): other processes' settlements may give tokens back.
       * `"probe"`: the key knows no limit yet and one request of the fleet went first as its
       * probe; the pacer asks again soon (from 100 ms, doubling to 500 ms), as its answer's
       * figures, once learned, let the others go.
       */
      readonly blocker?: StoreDim | "paused" | "probe";
    }
  | {
      readonly admit: false;
      /** The cost exceeds this dimension's capacity (the pacer sends the call anyway: the server decides). */
      readonly never: StoreDim;
    };

/**
 * Shared limit-key state for a fleet (the `store` option). Each operation must be atomic and
 * use the store's own clock; keys are opaque limit-key ids (never a secret). `llm-pacer/redis`
 * and `llm-pacer/cloudflare` implement it; the arithmetic to follow is the Rust core's `core::store`.
 */
export interface PacerStore {
  /**
   * All-or-nothing reservation of one request's cost on `key`. A request told to wait asks
   * again after `waitMs` with `turn: true`: the store booked it that turn, so it is measured
   * against the buckets alone, not behind the requests waiting since. A store that keeps no
   * turns may ignore `turn` (the pacer still works; waiting processes then wake together).
   * `expectedOutput` (below `output`, when the key's requests used less than they reserve):
   * what a turn books of the output; the rest is taken when the turn is admitted.
   */
  reserve(
    key: string,
    request: {
      readonly limits?: StoreLimits;
      readonly turn?: boolean;
      readonly expectedOutput?: number;
    } & StoreTokens,
  ): Promise<StoreDecision>;
  /**
   * The usage reported replaces the reservation. While the store is unavailable and calls
   * wait, the pacer also calls it with nothing reserved and nothing used (a no-op) once a
   * second, to learn that the store answers again.
   */
  settle(key: string, reserved: StoreTokens, actual: StoreTokens): Promise<void>;
  /**
   * Optional: undo a reservation whose answer came after the pacer stopped waiting for it
   * (the call went on its local admission): give back what it took, or with `turnOnly` the
   * turn it booked when told to wait.
   */
  refund?(key: string, reserved: StoreTokens & { readonly turnOnly?: boolean }): Promise<void>;
  /** Optional: a response's limits and remaining levels (lowers the shared level, never raises it). */
  learn?(
    key: string,
    dims: readonly { readonly dim: StoreDim; readonly limit?: number; readonly remaining?: number }[],
  ): Promise<void>;
  /**
   * Optional: the settlement of a stream the store held no bucket for (a fleet's opening
   * probe, before any limit was known: never settled in the store) gave `given` tokens back on
   * the server. The shared level rises by that much, to no more than `upTo` (that request's own
   * `remaining`), and is never lowered by it. A store without it stays that much lower until
   * its bucket refills.
   */
  giveBack?(
    key: string,
    dims: readonly { readonly dim: StoreDim; readonly given: number; readonly upTo: number }[],
  ): Promise<void>;
  /** Optional: a 429's retry-after, shared by the fleet. */
  pause?(key: string, retryAfterMs: number): Promise<void>;
  /**
   * Optional: the answer to a request admitted while the store held no bucket for `key` (the
   * fleet's opening probe) carried no limit. The probe is over; `open` (a 2xx: the server
   * sends no figures) lets the key's requests go unmetered from now on.
   */
  probed?(key: string, open: boolean): Promise<void>;
}
