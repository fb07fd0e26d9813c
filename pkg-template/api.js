// The public API around the generated bindings, shared by every entry point: each entry
// loads its WebAssembly module, hands its bindings to binding.js's `bind`, and re-exports
// this module's names (scripts/build-pkg.mjs bundles each entry with esbuild). The pieces:
// errors.js (the error classes), read-options.js (the options' reader), trap-guard.js (a
// panic in the module turned into one error), pacer-class.js (`Pacer`), low-level.js (the
// lower-level exports).

export {
  PacerError,
  RequestTooLargeError,
  RetryAfterTooLongError,
  PacerTimeoutError,
  ClosedError,
} from "./errors.js";
export { Pacer } from "./pacer-class.js";
export { Backoff, Limiter, KeyedLimiter, parseRateLimitHeaders, classify } from "./low-level.js";
