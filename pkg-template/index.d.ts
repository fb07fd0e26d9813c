// Type definitions for llm-pacer. Hand-written: the names and defaults are the public
// contract (see the README). Unknown option keys are ignored at run time.

/** Per-minute limits. A limit not given is learned from the response headers, if the server sends them. */
export interface PacerLimits {
  /** Requests per minute (RPM). @default learned from headers */
  readonly rpm?: number;
  /** Combined input + output tokens per minute (OpenAI-style TPM). @default learned from headers */
  readonly tpm?: number;
  /** Input tokens per minute (Anthropic ITPM: input + cache creation; cache reads are free). @default learned from headers */
  readonly itpm?: number;
  /** Output tokens per minute (Anthropic OTPM). @default learned from headers */
  readonly otpm?: number;
}

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
  /** The HTTP statuses to retry; replaces the default list. @default [408, 409, 429, 500, 502, 503, 504, 529] */
  readonly retryOn?: readonly number[];
}

/** The retry budget (gRPC-style retry throttling): retries stop while most attempts fail. */
export interface BudgetOptions {
  /** Tokens given back per success. @default 0.1 */
  readonly ratio?: number;
  /** Capacity and start value; retries are allowed while more than half remains. @default 10 */
  readonly maxTokens?: number;
}

/** A clock to run the pacer in virtual time (tests, simulations). */
export interface PacerClock {
  /** Now, epoch milliseconds (like `Date.now()`). */
  now(): number;
  /** Resolve after `ms`; reject with `signal.reason` when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What the built-in or a custom estimate gets. */
export interface EstimateRequest {
  /** The request URL, when it is known. */
  readonly url: string | undefined;
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

/** Options of `new Pacer(options)`. A value of the wrong type throws a `TypeError`, one out of range a `RangeError`, both naming the option (e.g. `retry.maxRetries`). */
export interface PacerOptions {
  /** Per-minute limits. @default {} (learned from headers) */
  readonly limits?: PacerLimits;
  /** A named provider tier, e.g. `"anthropic:tier-1:sonnet"`. @default undefined */
  readonly preset?: string;
  /** Retry options. @default {} */
  readonly retry?: RetryOptions;
  /** The retry budget, or `false` to disable it. @default { ratio: 0.1, maxTokens: 10 } */
  readonly budget?: BudgetOptions | false;
  /** Requests in flight at once (an integer from 1, or `Infinity`); a streamed response counts until its body ends. @default Infinity */
  readonly concurrency?: number;
  /** Bound on a whole call, waits included, ms: the last response is returned (or `TIMEOUT` rejects) rather than waiting past it. @default undefined (no bound) */
  readonly timeoutMs?: number;
  /** Output tokens reserved before a request: its `max_tokens`, nothing, or a fixed number. @default "max_tokens" */
  readonly outputReservation?: "max_tokens" | "none" | number;
  /**
   * Replaces the built-in estimate (input from the text of Anthropic/OpenAI JSON bodies at
   * about 3 ASCII characters or 1 other character per token, images and documents at a fixed
   * cost; output from `max_tokens` / `max_completion_tokens` / `max_output_tokens`).
   * @default the built-in estimate
   */
  readonly estimate?: (request: EstimateRequest) => TokenEstimate;
  /** The `fetch` to call. @default globalThis.fetch (looked up at each attempt) */
  readonly fetch?: typeof globalThis.fetch;
  /** Read time and wait only through this clock (no `Date.now`, no `setTimeout`). @default the real clock */
  readonly clock?: PacerClock;
  /** Seed for the jitter, for reproducible delays (a safe integer). @default a random seed */
  readonly seed?: number;
  /** Called for each event; an exception it throws is ignored. Events never carry URLs, headers, bodies or keys. @default undefined */
  readonly onEvent?: (event: PacerEvent) => void;
}

/** Something the pacer did. */
export interface PacerEvent {
  /** What happened. */
  readonly type: "queued" | "admitted" | "wait" | "retry" | "giveup" | "limits" | "settled";
  /** The call, numbered from 1 in submission order. */
  readonly id: number;
  /** Attempt number (0 before the first send). */
  readonly attempt: number;
  /** A short machine-readable reason: `rate_limited`, `overloaded`, `status_503`, `network`, `paused`, `requests`, `inputTokens`, `budget`, `max_retries`, ... */
  readonly reason: string;
  /** The wait this event announces, ms (0 if none). */
  readonly delayMs: number;
  /** When, epoch ms. */
  readonly at: number;
}

/** Counters: plain, finite, non-negative numbers. */
export interface PacerStats {
  /** Calls to `pacer.fetch`. */
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
  /** Calls waiting now (queued or backing off). */
  readonly queued: number;
  /** Calls in flight now (sent, or delivered with a body still streaming). */
  readonly inFlight: number;
}

/** What is known now of one limit. */
export interface LimitState {
  /** The limit per minute. */
  readonly limit: number;
  /** What remains now (0 when the bucket is in debt). */
  readonly remaining: number;
  /** When the bucket is full again, epoch ms. */
  readonly resetAt: number;
  /** Where the limit came from. */
  readonly source: "configured" | "headers";
}

/** What is known now per dimension; a dimension nobody configured and no header reported is absent. */
export interface PacerLimitStates {
  readonly requests?: LimitState;
  readonly inputTokens?: LimitState;
  readonly outputTokens?: LimitState;
  readonly tokens?: LimitState;
}

/** Paces and retries `fetch` calls to an LLM API. */
export declare class Pacer {
  /** @throws {TypeError | RangeError} naming the first bad option. */
  constructor(options?: PacerOptions);
  /**
   * `fetch`, paced and retried; bound, so `new Anthropic({ fetch: pacer.fetch })` works.
   * Resolves with the final `Response` whenever one arrived (a 429 after the last retry is
   * returned, not thrown); rejects only with no response: the network error after the last
   * retry, an abort (the signal's reason), or a {@link PacerError}.
   */
  readonly fetch: typeof globalThis.fetch;
  /** Counters now. */
  stats(): PacerStats;
  /** What is known now of each limit. */
  limits(): PacerLimitStates;
  /** Reject queued calls with `CLOSED`; in-flight attempts finish without retries; later calls reject with `CLOSED`. */
  close(): void;
}

/** The codes of the errors the pacer creates. */
export type PacerErrorCode = "REQUEST_TOO_LARGE" | "RETRY_AFTER_TOO_LONG" | "TIMEOUT" | "CLOSED" | "NETWORK";

/** The base class of the errors the pacer creates (never for a response: those are returned). */
export declare class PacerError extends Error {
  readonly code: PacerErrorCode;
}

/** The request can never fit a limit: no wait can help. */
export declare class RequestTooLargeError extends PacerError {
  readonly code: "REQUEST_TOO_LARGE";
  /** The dimension: `requests`, `inputTokens`, `outputTokens` or `tokens`. */
  readonly dimension: "requests" | "inputTokens" | "outputTokens" | "tokens";
  /** The request's cost there. */
  readonly cost: number;
  /** The limit. */
  readonly capacity: number;
}

/** The server asked everyone to wait longer than `retry.maxRetryAfterMs` before this call got any response. */
export declare class RetryAfterTooLongError extends PacerError {
  readonly code: "RETRY_AFTER_TOO_LONG";
  /** The wait the server asked for, ms. */
  readonly hintMs: number;
}

/** `timeoutMs` passed before any response arrived. */
export declare class PacerTimeoutError extends PacerError {
  readonly code: "TIMEOUT";
  /** The option's value, ms. */
  readonly timeoutMs?: number;
}

/** The pacer was closed. */
export declare class ClosedError extends PacerError {
  readonly code: "CLOSED";
}
