// The errors the pacer creates, each with a `code` a caller can test for, and the factory
// the Wasm side calls for every error it rejects with (the codes are the core's).

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

/** What to change, per dimension of a request that can never fit. */
const TOO_LARGE_HINTS = {
  // The output reserved is the request's max_tokens, which SDKs may set to the model's
  // maximum by default (the Vercel AI SDK: 64,000 for Claude Sonnet 4.5).
  outputTokens:
    ": its max_tokens is reserved up front, as the server counts it; lower max_tokens (`maxOutputTokens` in the Vercel AI SDK)",
  tokens:
    ": its input and max_tokens count together, as the server counts them; lower max_tokens (`maxOutputTokens` in the Vercel AI SDK)",
  inputTokens: ": as the `estimate` option counts its input; shorten the prompt",
};

/** A limit's window in words: `minute` for 60,000 ms (or none given), `second`, `hour`, `day`, else its seconds. */
function per(windowMs = 60_000) {
  const words = { 1000: "second", 60000: "minute", 3600000: "hour", 86400000: "day" };
  return words[windowMs] ?? `${windowMs / 1000} s`;
}

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
          `but the limit is ${details.capacity} per ${per(details.windowMs)}, so it can never be sent${TOO_LARGE_HINTS[details.dimension] ?? ""}`,
        details,
      );
    case "RETRY_AFTER_TOO_LONG":
      return new RetryAfterTooLongError(
        `llm-pacer: the server asked to wait ${Math.ceil(details.hintMs)} ms, longer than retry.maxRetryAfterMs`,
        details,
      );
    case "TIMEOUT":
      return new PacerTimeoutError(
        details.hintMs !== undefined
          ? `llm-pacer: the server asked to wait ${Math.ceil(details.hintMs)} ms, past this call's timeoutMs` +
              `${details.timeoutMs === undefined ? "" : ` (${details.timeoutMs} ms)`}: no response can arrive in time`
          : details.timeoutMs === undefined
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

export {
  PacerError,
  RequestTooLargeError,
  RetryAfterTooLongError,
  PacerTimeoutError,
  ClosedError,
  DIMENSIONS,
  makeError,
};
