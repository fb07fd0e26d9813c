// What every main entry exports (each re-exports this module after binding its Wasm module
// with api.js's `bind`): one list, so the entries cannot drift apart.
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
} from "./api.js";
