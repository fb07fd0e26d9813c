// The mock LLM API servers, in one import. See README.md.
export { startAnthropicMock, DEFAULT_ANTHROPIC_LIMITS, ANTHROPIC_EXPOSED_HEADERS } from "./anthropic.mjs";
export { startOpenAIMock, DEFAULT_OPENAI_LIMITS, OPENAI_EXPOSED_HEADERS } from "./openai.mjs";
export {
  TokenBucket,
  RateLimiter,
  formatGoDuration,
  formatRfc3339,
  roundToThousand,
  retryAfterSeconds,
  countTokens,
  countInputTokens,
  textOf,
  parseFault,
  redactHeaders,
  FAULT_KINDS,
  SECRET_HEADERS,
} from "./common.mjs";
