// A mock of the Anthropic Messages API (`POST /v1/messages`) with Anthropic's rate limiting:
// continuously refilled RPM / ITPM / OTPM token buckets, the `anthropic-ratelimit-*` headers,
// 429 `rate_limit_error` with `retry-after`, JSON and SSE responses, and fault injection.
// See common.mjs for the fault syntax, the options shared with the OpenAI mock and the handle.

import {
  countInputTokens,
  formatRfc3339,
  outputPieces,
  retryAfterSeconds,
  roundToThousand,
  startMockServer,
} from "./common.mjs";

/**
 * Anthropic rate limits, per minute. When `limits` is given, a dimension it leaves out (or sets
 * to `null`) is unlimited: no bucket and no headers for it.
 * @typedef {object} AnthropicLimits
 * @property {number | null} [rpm] requests per minute
 * @property {number | null} [itpm] input tokens per minute (`input_tokens +
 *   cache_creation_input_tokens`; cache reads do not count)
 * @property {number | null} [otpm] output tokens per minute
 */

/**
 * @typedef {import('./common.mjs').MockOptions & {
 *   limits?: AnthropicLimits,
 *   requireVersion?: boolean,
 * }} AnthropicMockOptions
 * `limits` defaults to Anthropic's Tier 1 (50 RPM, 30 000 ITPM, 8 000 OTPM) when absent as a
 * whole (given, it is taken as is); `requireVersion` (default true) answers 400 to a request without `anthropic-version`.
 */

/** The default limits: Anthropic Tier 1. */
export const DEFAULT_ANTHROPIC_LIMITS = Object.freeze({ rpm: 50, itpm: 30_000, otpm: 8_000 });

/** Response headers a browser may read (`access-control-expose-headers`). */
export const ANTHROPIC_EXPOSED_HEADERS = Object.freeze([
  "request-id",
  "date",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  ...["requests", "tokens", "input-tokens", "output-tokens"].flatMap((d) =>
    ["limit", "remaining", "reset"].map((f) => `anthropic-ratelimit-${d}-${f}`),
  ),
  ...["input-tokens", "output-tokens"].flatMap((d) =>
    ["limit", "remaining", "reset"].map((f) => `anthropic-priority-${d}-${f}`),
  ),
]);

/** Error `type` per fault kind. */
const KIND_TYPES = /** @type {Record<string, string>} */ ({
  "rate-limit": "rate_limit_error",
  "spend-limit": "rate_limit_error",
  "insufficient-quota": "rate_limit_error",
  "ramp-limit": "rate_limit_error",
  overloaded: "overloaded_error",
  "server-error": "api_error",
  unavailable: "api_error",
  authentication_error: "authentication_error",
  invalid_request_error: "invalid_request_error",
});

/** Error `type` per status, for the rest. */
const STATUS_TYPES = /** @type {Record<number, string>} */ ({
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  409: "conflict_error",
  413: "request_too_large",
  429: "rate_limit_error",
  504: "timeout_error",
  529: "overloaded_error",
});

const DEFAULT_MESSAGES = /** @type {Record<string, string>} */ ({
  rate_limit_error: "Number of requests has exceeded your rate limit. Please try again later.",
  overloaded_error: "Overloaded",
  api_error: "Internal server error",
  timeout_error: "Request timed out",
});

const SPEND_LIMIT_MESSAGE =
  "You have reached your specified API usage limits. You will regain access on the first day of next month.";

/** Garbage rate-limit header values, one per header. */
const MALFORMED = [
  "lots",
  "NaN",
  "soon",
  "-5",
  "1e999",
  "2025-13-45T99:99:99Z",
  "",
  " 12 apples",
  "yesterday",
  "Infinity",
  "0x1F",
  "null",
];

/**
 * The `anthropic-ratelimit-*` headers for the buckets now.
 * @param {import('./common.mjs').RateLimiter} limiter
 * @param {number} nowMs
 * @param {'ok' | 'missing' | 'malformed'} mode
 * @returns {Record<string, string>}
 */
function rateLimitHeaders(limiter, nowMs, mode) {
  if (mode === "missing") return {};
  /** @type {Record<string, string>} */
  const h = {};
  /** @param {string} name @param {string} dim @param {boolean} round */
  const put = (name, dim, round) => {
    const b = limiter.bucket(dim);
    if (!b) return;
    const level = b.level(nowMs);
    h[`anthropic-ratelimit-${name}-limit`] = String(b.capacity);
    h[`anthropic-ratelimit-${name}-remaining`] = String(
      round ? roundToThousand(level) : Math.max(0, Math.floor(level)),
    );
    h[`anthropic-ratelimit-${name}-reset`] = formatRfc3339(b.fullAt(nowMs));
  };
  put("requests", "requests", false);
  put("input-tokens", "input", true);
  put("output-tokens", "output", true);
  // `tokens-*`: the most restrictive of input/output in effect = the one with less remaining.
  const input = limiter.bucket("input");
  const output = limiter.bucket("output");
  const tightest =
    input && output
      ? output.level(nowMs) < input.level(nowMs)
        ? "output"
        : "input"
      : input
        ? "input"
        : output
          ? "output"
          : null;
  if (tightest) put("tokens", tightest, true);
  if (mode === "malformed") {
    for (const [i, k] of Object.keys(h).entries()) h[k] = MALFORMED[i % MALFORMED.length];
  }
  return h;
}

/**
 * The usage object in the three modes.
 * @param {import('./common.mjs').Plan} plan
 * @param {number} outputTokens
 * @param {'ok' | 'missing' | 'malformed'} mode
 */
function usage(plan, outputTokens, mode) {
  if (mode === "malformed") {
    return {
      input_tokens: "many",
      output_tokens: -1,
      cache_creation_input_tokens: "NaN",
      cache_read_input_tokens: 1e308,
    };
  }
  return {
    input_tokens: plan.inputTokens,
    cache_creation_input_tokens: plan.extra.cacheCreation,
    cache_read_input_tokens: plan.extra.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: plan.extra.cacheCreation, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: "standard",
  };
}

/** @param {string} event @param {unknown} data */
const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** @param {unknown} v */
const isPositiveInt = (v) => Number.isInteger(v) && /** @type {number} */ (v) >= 1;

/**
 * Starts the Anthropic mock on 127.0.0.1 (a free port unless `port` is given).
 *
 * Request: `POST /v1/messages` with `x-api-key: <any non-empty>` (or `authorization: Bearer
 * <any non-empty>`, which is what `@anthropic-ai/sdk` >= 1.0 sends for an `apiKey`) and
 * `anthropic-version: <any>`; JSON body with `model`, `max_tokens` (integer >= 1) and a
 * non-empty `messages` array; `"stream": true` for SSE.
 *
 * Accounting: input tokens = `x-mock-input-tokens` or ceil(chars / 4) of the text of `system`
 * and every message `content` (see `countInputTokens`); `x-mock-cache-creation-tokens` and
 * `x-mock-cache-read-tokens` (default 0) appear in usage, and creation counts toward ITPM. Output
 * tokens = min(`max_tokens`, `x-mock-output-tokens` or the `outputTokens` option); stop reason
 * `max_tokens` when the wanted output was cut, else `end_turn`. With `outputMetering:
 * "reservation"` (default) admission needs and debits `max_tokens` of OTPM and the end of the
 * response gives back the unused part; with `"realtime"` admission needs 1 output token and
 * output is debited as generated.
 *
 * Over a limit: 429 `rate_limit_error`, `retry-after` = ceil(seconds until every refusing bucket
 * has what the request needs), at least 1, nothing debited. A request that can never fit (a cost
 * above a capacity) gets the same 429 with `retry-after` = seconds until those buckets are full.
 *
 * @param {AnthropicMockOptions} [options]
 * @returns {Promise<import('./common.mjs').MockServer>}
 */
export async function startAnthropicMock(options = {}) {
  const limits = options.limits ?? DEFAULT_ANTHROPIC_LIMITS;
  const metering = options.outputMetering ?? "reservation";
  const defaultOutput = options.outputTokens ?? 16;
  const chunks = options.streamChunks ?? 3;
  const charsPerToken = options.charsPerToken ?? 4;
  const requireVersion = options.requireVersion ?? true;

  /** @type {import('./common.mjs').Provider} */
  const provider = {
    name: "anthropic",
    matches: (path) => path === "/v1/messages",
    exposeHeaders: [...ANTHROPIC_EXPOSED_HEADERS],
    requestIdHeader: "request-id",
    bucketLimits: (l) => {
      /** @type {Record<string, number | null | undefined>} */
      const out = {};
      if ("rpm" in l) out.requests = l.rpm;
      if ("itpm" in l) out.input = l.itpm;
      if ("otpm" in l) out.output = l.otpm;
      return out;
    },
    requestId: (seq) => `req_mock_${String(seq).padStart(12, "0")}`,

    authenticate(headers) {
      const key = headers["x-api-key"];
      const authz = headers.authorization;
      const bearer = typeof authz === "string" && /^Bearer\s+\S/i.test(authz);
      if (!(typeof key === "string" && key.trim() !== "") && !bearer) {
        return { status: 401, kind: "authentication_error", message: "x-api-key header is required" };
      }
      if (
        requireVersion &&
        !(typeof headers["anthropic-version"] === "string" && headers["anthropic-version"] !== "")
      ) {
        return { status: 400, kind: "invalid_request_error", message: "anthropic-version: header is required" };
      }
      return null;
    },

    validate(body) {
      if (!body || typeof body !== "object" || Array.isArray(body)) return "The request body must be a JSON object.";
      if (typeof body.model !== "string" || body.model === "") return "model: Field required";
      if (body.max_tokens === undefined) return "max_tokens: Field required";
      if (!isPositiveInt(body.max_tokens))
        return "max_tokens: Input should be a valid integer greater than or equal to 1";
      if (!Array.isArray(body.messages)) return "messages: Field required";
      if (body.messages.length === 0) return "messages: at least one message is required";
      if (body.stream !== undefined && typeof body.stream !== "boolean")
        return "stream: Input should be a valid boolean";
      return null;
    },

    plan(body, hints) {
      const inputTokens = hints.inputTokens ?? countInputTokens(body, charsPerToken);
      const cacheCreation = hints.cacheCreationTokens ?? 0;
      const cacheRead = hints.cacheReadTokens ?? 0;
      const wanted = hints.outputTokens ?? defaultOutput;
      const maxTokens = body.max_tokens;
      const outputTokens = Math.min(maxTokens, wanted);
      const itpm = inputTokens + cacheCreation;
      return {
        model: body.model,
        stream: body.stream === true,
        inputTokens,
        outputTokens,
        reservedOutput: metering === "reservation" ? maxTokens : 0,
        outputDim: "output",
        costs: {
          requests: { need: 1, take: 1 },
          input: { need: itpm, take: itpm },
          output: metering === "reservation" ? { need: maxTokens, take: maxTokens } : { need: 1, take: 0 },
        },
        extra: { cacheCreation, cacheRead, stopReason: wanted > maxTokens ? "max_tokens" : "end_turn" },
      };
    },

    rateLimitHeaders,

    errorBody({ status, kind, message, requestId }) {
      const type = KIND_TYPES[kind] ?? STATUS_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
      /** @type {Record<string, unknown>} */
      const error = { type, message: message ?? DEFAULT_MESSAGES[type] ?? `Error ${status}` };
      if (kind === "spend-limit" || kind === "insufficient-quota") {
        error.message = message ?? SPEND_LIMIT_MESSAGE;
        error.details = { error_code: "enforced_spend_limit_reached" };
      }
      if (kind === "ramp-limit") error.details = { error_code: "ramp_limit_exceeded" };
      return { type: "error", error, request_id: requestId };
    },

    limitedResponse({ check, plan, limiter, requestId }) {
      const dim = check.tooLarge[0] ?? check.limitedBy[0];
      const bucket = limiter.bucket(dim);
      const what = { requests: "requests", input: "input tokens", output: "output tokens" }[dim] ?? dim;
      const limit = bucket ? bucket.capacity.toLocaleString("en-US") : "?";
      const need = plan.costs[dim]?.need ?? 0;
      const message = check.tooLarge.length
        ? `This request would exceed your organization's rate limit of ${limit} ${what} per minute: it needs ${need}, more than the limit allows. Please reduce the prompt length or the maximum tokens requested.`
        : `This request would exceed the rate limit for your organization of ${limit} ${what} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`;
      const wait = check.tooLarge.length ? check.fullWaitMs : check.waitMs;
      return {
        body: { type: "error", error: { type: "rate_limit_error", message }, request_id: requestId },
        headers: { "retry-after": String(retryAfterSeconds(wait)) },
      };
    },

    json({ plan, requestId, usage: mode }) {
      const text = outputPieces(plan.outputTokens, 1)
        .map((p) => p.text)
        .join("");
      /** @type {Record<string, unknown>} */
      const message = {
        id: `msg_mock_${requestId.slice(9)}`,
        type: "message",
        role: "assistant",
        model: plan.model,
        content: [{ type: "text", text }],
        stop_reason: plan.extra.stopReason,
        stop_sequence: null,
      };
      if (mode !== "missing") message.usage = usage(plan, plan.outputTokens, mode);
      return message;
    },

    frames({ plan, requestId, usage: mode }) {
      /** @type {Record<string, unknown>} */
      const start = {
        id: `msg_mock_${requestId.slice(9)}`,
        type: "message",
        role: "assistant",
        model: plan.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
      };
      if (mode !== "missing") start.usage = usage(plan, 1, mode);
      /** @type {Record<string, unknown>} */
      const delta = { type: "message_delta", delta: { stop_reason: plan.extra.stopReason, stop_sequence: null } };
      if (mode === "ok") {
        delta.usage = {
          input_tokens: plan.inputTokens,
          cache_creation_input_tokens: plan.extra.cacheCreation,
          cache_read_input_tokens: plan.extra.cacheRead,
          output_tokens: plan.outputTokens,
        };
      } else if (mode === "malformed") {
        delta.usage = { output_tokens: "lots" };
      }
      return [
        { wire: sse("message_start", { type: "message_start", message: start }), outputTokens: 0 },
        {
          wire: sse("content_block_start", {
            type: "content_block_start",
            index: 0,
            content_block: { type: "text", text: "" },
          }),
          outputTokens: 0,
        },
        { wire: sse("ping", { type: "ping" }), outputTokens: 0 },
        ...outputPieces(plan.outputTokens, chunks).map((p) => ({
          wire: sse("content_block_delta", {
            type: "content_block_delta",
            index: 0,
            delta: { type: "text_delta", text: p.text },
          }),
          outputTokens: p.tokens,
        })),
        { wire: sse("content_block_stop", { type: "content_block_stop", index: 0 }), outputTokens: 0 },
        { wire: sse("message_delta", delta), outputTokens: 0 },
        { wire: sse("message_stop", { type: "message_stop" }), outputTokens: 0 },
      ];
    },

    sseError({ requestId }) {
      return sse("error", {
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
        request_id: requestId,
      });
    },
  };

  return startMockServer(provider, { ...options, limits });
}
