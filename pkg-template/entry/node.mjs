// llm-pacer for Node.js (ESM): the CommonJS entry, re-exported, so that `import` and
// `require` in one program share one module instance.
import api from "./index.cjs";

export const {
  Pacer,
  PacerError,
  RequestTooLargeError,
  RetryAfterTooLongError,
  PacerTimeoutError,
  ClosedError,
  Backoff,
  Limiter,
  parseRateLimitHeaders,
  classify,
} = api;
