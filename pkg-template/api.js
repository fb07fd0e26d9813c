// The public API around the generated bindings, shared by every entry point: the build
// (scripts/build-pkg.sh) pastes this file into each entry, between the lines that load the
// WebAssembly module and the lines that export what `createApi` returns.

/**
 * @param {{ RawPacer: any }} glue the wasm-bindgen bindings, already initialised (or, for
 *   `llm-pacer/slim`, initialised before the first `new Pacer()`)
 * @param {() => boolean} [isReady] for `llm-pacer/slim`: has `init` run?
 */
function createApi(glue, isReady) {
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
            `but the limit is ${details.capacity} per minute, so it can never be sent`,
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

  /** Paces and retries `fetch` calls to an LLM API; see the README and index.d.ts. */
  class Pacer {
    #raw;
    /** @param {object} [options] */
    constructor(options) {
      if (isReady && !isReady()) {
        throw new Error("llm-pacer/slim: call `await init()` (or `initSync(module)`) before `new Pacer()`");
      }
      const raw = new glue.RawPacer(options, makeError);
      this.#raw = raw;
      /** `fetch`, paced and retried; bound, so it can be passed around on its own. */
      this.fetch = (input, init) => raw.fetch(input, init);
    }
    /** Counters: plain, finite, non-negative numbers. */
    stats() {
      return this.#raw.stats();
    }
    /** What is known now of each limit. */
    limits() {
      return this.#raw.limits();
    }
    /** Reject queued calls with `CLOSED`, let in-flight attempts finish, refuse new calls. */
    close() {
      this.#raw.close();
    }
  }

  return { Pacer, PacerError, RequestTooLargeError, RetryAfterTooLongError, PacerTimeoutError, ClosedError };
}
