// A mock of the OpenAI Chat Completions API (`POST /v1/chat/completions`) with OpenAI's rate
// limiting: continuously refilled RPM / TPM token buckets, the `x-ratelimit-*` headers with
// Go-style durations, 429 `rate_limit_exceeded` with `retry-after` and `retry-after-ms`, the
// `insufficient_quota` 429, JSON and SSE responses, optional IETF `RateLimit` headers, and fault
// injection. See common.mjs for the fault syntax, shared options and the handle.

import { countInputTokens, formatGoDuration, outputPieces, retryAfterSeconds, startMockServer } from "./common.mjs";

/**
 * OpenAI rate limits, per minute. When `limits` is given, a dimension it leaves out (or sets to
 * `null`) is unlimited: no bucket and no headers for it.
 * @typedef {object} OpenAILimits
 * @property {number | null} [rpm] requests per minute
 * @property {number | null} [tpm] tokens per minute (prompt + completion)
 */

/**
 * @typedef {import('./common.mjs').MockOptions & {
 *   limits?: OpenAILimits,
 *   defaultMaxTokens?: number,
 *   ietfHeaders?: boolean,
 * }} OpenAIMockOptions
 * `limits` defaults to 500 RPM / 30 000 TPM when absent as a whole (given, it is taken as is).
 * `defaultMaxTokens` (default 4096) is the completion reservation of a request without
 * `max_completion_tokens` / `max_tokens`. `ietfHeaders` (default false) adds the IETF draft-10
 * `RateLimit-Policy` and `RateLimit` headers, as some OpenAI-compatible servers send.
 */

/** The default limits. */
export const DEFAULT_OPENAI_LIMITS = Object.freeze({ rpm: 500, tpm: 30_000 });

/** Response headers a browser may read (`access-control-expose-headers`). */
export const OPENAI_EXPOSED_HEADERS = Object.freeze([
  "x-request-id",
  "date",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "openai-organization",
  "openai-version",
  ...["limit", "remaining", "reset"].flatMap((f) => ["requests", "tokens"].map((d) => `x-ratelimit-${f}-${d}`)),
  "ratelimit",
  "ratelimit-policy",
]);

const ORGANIZATION = "org-mock";

const MALFORMED = ["many", "-1", "NaN", "1e999", "soon", "5 minutes", "", "Infinity", "0x10", "null"];

/**
 * @param {import('./common.mjs').RateLimiter} limiter
 * @param {number} nowMs
 * @param {'ok' | 'missing' | 'malformed'} mode
 * @param {boolean} ietf
 * @returns {Record<string, string>}
 */
function rateLimitHeaders(limiter, nowMs, mode, ietf) {
  if (mode === "missing") return {};
  /** @type {Record<string, string>} */
  const h = {};
  const policies = [];
  const states = [];
  for (const dim of ["requests", "tokens"]) {
    const b = limiter.bucket(dim);
    if (!b) continue;
    const level = b.level(nowMs);
    const untilFull = Math.ceil(b.fullAt(nowMs) - nowMs);
    h[`x-ratelimit-limit-${dim}`] = String(b.capacity);
    h[`x-ratelimit-remaining-${dim}`] = String(Math.max(0, Math.floor(level)));
    h[`x-ratelimit-reset-${dim}`] = formatGoDuration(untilFull);
    if (ietf) {
      policies.push(`"${dim}";q=${b.capacity};w=60`);
      states.push(`"${dim}";r=${Math.max(0, Math.floor(level))};t=${Math.ceil(untilFull / 1000)}`);
    }
  }
  if (ietf && policies.length) {
    h["ratelimit-policy"] = policies.join(", ");
    h.ratelimit = states.join(", ");
  }
  if (mode === "malformed") {
    for (const [i, k] of Object.keys(h).entries()) h[k] = MALFORMED[i % MALFORMED.length];
  }
  return h;
}

/**
 * @param {import('./common.mjs').Plan} plan
 * @param {'ok' | 'malformed'} mode
 */
function usage(plan, mode) {
  if (mode === "malformed") return { prompt_tokens: "lots", completion_tokens: -3, total_tokens: null };
  return {
    prompt_tokens: plan.inputTokens,
    completion_tokens: plan.outputTokens,
    total_tokens: plan.inputTokens + plan.outputTokens,
    prompt_tokens_details: { cached_tokens: plan.extra.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** @param {unknown} data */
const sse = (data) => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/** A Responses API request (`POST /v1/responses`: `input`, no `messages`). @param {any} body */
const isResponses = (body) => body.input !== undefined && body.messages === undefined;

/**
 * The Responses API's usage object.
 * @param {any} plan
 * @param {string} mode
 */
function responsesUsage(plan, mode) {
  const u = usage(plan, mode);
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: plan.extra.cachedTokens },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.total_tokens,
  };
}

/**
 * The assistant message item of a Responses API answer (`text` absent: not written yet).
 * @param {string} requestId @param {string} status @param {string} [text]
 */
const messageItem = (requestId, status, text) => ({
  type: "message",
  id: `msg_${requestId.slice(8)}`,
  status,
  role: "assistant",
  content: text === undefined ? [] : [{ type: "output_text", text, annotations: [] }],
});

/**
 * A Responses API `response` once done: one assistant message with `text`, and the usage.
 * It is the JSON answer, and what a stream's last event carries.
 * @param {any} plan @param {string} requestId @param {string} mode @param {number} nowMs @param {string} text
 */
function doneResponse(plan, requestId, mode, nowMs, text) {
  const cut = plan.extra.finishReason === "length";
  return {
    id: `resp_${requestId.slice(8)}`,
    object: "response",
    created_at: Math.floor(nowMs / 1000),
    status: cut ? "incomplete" : "completed",
    incomplete_details: cut ? { reason: "max_output_tokens" } : null,
    model: plan.model,
    output: [messageItem(requestId, "completed", text)],
    usage: mode === "missing" ? null : responsesUsage(plan, mode),
  };
}

/**
 * A Responses API answer: one assistant message with the output text.
 * @param {any} plan @param {string} requestId @param {string} mode @param {number} nowMs
 */
function responsesJson(plan, requestId, mode, nowMs) {
  const text = outputPieces(plan.outputTokens, 1)
    .map((p) => p.text)
    .join("");
  return doneResponse(plan, requestId, mode, nowMs, text);
}

/**
 * A Responses API stream: named events (`event: response.created`, ...), the usage in
 * `response.completed` (or `response.incomplete`).
 * @param {any} plan @param {string} requestId @param {string} mode @param {number} nowMs @param {number} chunks
 * @returns {import('./common.mjs').Frame[]}
 */
function responsesFrames(plan, requestId, mode, nowMs, chunks) {
  let seq = 0;
  /** @param {string} type @param {Record<string, unknown>} data */
  const event = (type, data) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const pieces = outputPieces(plan.outputTokens, chunks);
  const done = doneResponse(plan, requestId, mode, nowMs, pieces.map((p) => p.text).join(""));
  const { id, object, created_at, model } = done;
  const item = done.output[0];
  return [
    {
      wire: event("response.created", { response: { id, object, created_at, model, status: "in_progress" } }),
      outputTokens: 0,
    },
    {
      wire: event("response.output_item.added", { output_index: 0, item: messageItem(requestId, "in_progress") }),
      outputTokens: 0,
    },
    ...pieces.map((p) => ({
      wire: event("response.output_text.delta", { item_id: item.id, output_index: 0, content_index: 0, delta: p.text }),
      outputTokens: p.tokens,
    })),
    { wire: event("response.output_item.done", { output_index: 0, item }), outputTokens: 0 },
    {
      wire: event(done.status === "incomplete" ? "response.incomplete" : "response.completed", { response: done }),
      outputTokens: 0,
    },
  ];
}

/**
 * Starts the OpenAI-compatible mock on 127.0.0.1 (a free port unless `port` is given).
 *
 * Request: `POST /v1/chat/completions` (also `/chat/completions`) with `authorization: Bearer
 * <any non-empty>`; JSON body with `model` and a non-empty `messages` array; `"stream": true`
 * for SSE, `stream_options.include_usage` for the final usage chunk. Or `POST /v1/responses`
 * (the Responses API, told apart by its body: `input`, no `messages`; `instructions`,
 * `max_output_tokens`): a `response` object, or named events ending with
 * `response.completed` (`response.incomplete` when cut), the usage in both.
 *
 * Accounting: prompt tokens = `x-mock-input-tokens` or ceil(chars / 4) of every message's
 * `content` text; completion tokens = min(max, `x-mock-output-tokens` or the `outputTokens`
 * option), max = `max_completion_tokens` ?? `max_tokens` ?? `defaultMaxTokens` (finish reason
 * `length` when cut, else `stop`); `n` is ignored. TPM: with `outputMetering: "reservation"`
 * (default) admission needs and debits prompt + max and the end gives back the unused part;
 * with `"realtime"` it needs prompt + 1 and debits the prompt, then completion tokens as they are
 * generated. `x-mock-cache-read-tokens` appears as `prompt_tokens_details.cached_tokens`.
 *
 * Over a limit: 429 `{"error":{"message":"Rate limit reached ...","type":"requests"|"tokens",
 * "param":null,"code":"rate_limit_exceeded"}}` with `retry-after` (ceil seconds, >= 1) and
 * `retry-after-ms` (ceil ms), nothing debited.
 *
 * @param {OpenAIMockOptions} [options]
 * @returns {Promise<import('./common.mjs').MockServer>}
 */
export async function startOpenAIMock(options = {}) {
  const limits = options.limits ?? DEFAULT_OPENAI_LIMITS;
  const metering = options.outputMetering ?? "reservation";
  const defaultOutput = options.outputTokens ?? 16;
  const defaultMaxTokens = options.defaultMaxTokens ?? 4096;
  const chunks = options.streamChunks ?? 3;
  const charsPerToken = options.charsPerToken ?? 4;
  const ietf = options.ietfHeaders ?? false;

  /**
   * @param {string} message
   * @param {string} type
   * @param {string | null} code
   */
  const err = (message, type, code) => ({ error: { message, type, param: null, code } });

  /** @type {import('./common.mjs').Provider} */
  const provider = {
    name: "openai",
    matches: (path) => path === "/v1/chat/completions" || path === "/chat/completions" || path === "/v1/responses",
    exposeHeaders: [...OPENAI_EXPOSED_HEADERS],
    requestIdHeader: "x-request-id",
    bucketLimits: (l) => {
      /** @type {Record<string, number | null | undefined>} */
      const out = {};
      if ("rpm" in l) out.requests = l.rpm;
      if ("tpm" in l) out.tokens = l.tpm;
      return out;
    },
    requestId: (seq) => `req_mock${String(seq).padStart(24, "0")}`,
    staticHeaders: { "openai-organization": ORGANIZATION, "openai-version": "2020-10-01" },

    authenticate(headers) {
      const authz = headers.authorization;
      if (typeof authz === "string" && /^Bearer\s+\S/i.test(authz)) return null;
      return {
        status: 401,
        kind: "authentication_error",
        message:
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      };
    },

    validate(body) {
      if (!body || typeof body !== "object" || Array.isArray(body)) return "The request body must be a JSON object.";
      if (typeof body.model !== "string" || body.model === "") return "you must provide a model parameter";
      if (isResponses(body)) {
        const v = body.max_output_tokens;
        if (v != null && !(Number.isInteger(v) && v >= 16))
          return "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16.";
        return null;
      }
      if (!Array.isArray(body.messages)) return "Missing required parameter: 'messages'.";
      if (body.messages.length === 0)
        return "Invalid 'messages': empty array. Expected an array with minimum length 1.";
      for (const key of ["max_tokens", "max_completion_tokens"]) {
        const v = body[key];
        if (v != null && !(Number.isInteger(v) && v >= 1)) {
          return `Invalid '${key}': integer below minimum value. Expected a value >= 1.`;
        }
      }
      return null;
    },

    plan(body, hints) {
      const responses = isResponses(body);
      const messages = responses
        ? typeof body.input === "string"
          ? [{ content: body.input }]
          : body.input
        : body.messages;
      const inputTokens = hints.inputTokens ?? countInputTokens({ system: body.instructions, messages }, charsPerToken);
      const max =
        (responses ? body.max_output_tokens : (body.max_completion_tokens ?? body.max_tokens)) ?? defaultMaxTokens;
      const wanted = hints.outputTokens ?? defaultOutput;
      const outputTokens = Math.min(max, wanted);
      return {
        model: body.model,
        stream: body.stream === true,
        inputTokens,
        outputTokens,
        reservedOutput: metering === "reservation" ? max : 0,
        outputDim: "tokens",
        costs: {
          requests: { need: 1, take: 1 },
          tokens:
            metering === "reservation"
              ? { need: inputTokens + max, take: inputTokens + max }
              : { need: inputTokens + 1, take: inputTokens },
        },
        extra: {
          responses,
          finishReason: wanted > max ? "length" : "stop",
          includeUsage: body.stream_options?.include_usage === true,
          cachedTokens: hints.cacheReadTokens ?? 0,
        },
      };
    },

    rateLimitHeaders: (limiter, nowMs, mode) => rateLimitHeaders(limiter, nowMs, mode, ietf),

    errorBody({ status, kind, message }) {
      switch (kind) {
        case "rate-limit":
        case "ramp-limit":
          return err(
            message ?? `Rate limit reached for requests in organization ${ORGANIZATION}. Please try again later.`,
            "requests",
            "rate_limit_exceeded",
          );
        case "insufficient-quota":
        case "spend-limit":
          return err(
            message ??
              "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            "insufficient_quota",
          );
        case "authentication_error":
          return err(message ?? "Incorrect API key provided.", "invalid_request_error", null);
        case "overloaded":
        case "unavailable":
          return err(message ?? "The engine is currently overloaded, please try again later.", "server_error", null);
        case "server-error":
          return err(
            message ?? "The server had an error while processing your request. Sorry about that!",
            "server_error",
            null,
          );
        default:
          return err(
            message ?? (status === 404 ? "Unknown request URL" : `Error ${status}`),
            status >= 500 ? "server_error" : "invalid_request_error",
            null,
          );
      }
    },

    limitedResponse({ check, plan, limiter, nowMs }) {
      const dim = check.tooLarge[0] ?? check.limitedBy[0];
      const bucket = limiter.bucket(dim);
      const limit = bucket ? bucket.capacity : 0;
      const used = bucket ? Math.max(0, Math.ceil(limit - bucket.level(nowMs))) : 0;
      const need = plan.costs[dim]?.need ?? 0;
      const waitMs = Math.max(1, Math.ceil(check.tooLarge.length ? check.fullWaitMs : check.waitMs));
      const label = dim === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)";
      const message = check.tooLarge.length
        ? `Request too large for ${plan.model} in organization ${ORGANIZATION} on ${label}: Limit ${limit}, Requested ${need}. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.`
        : `Rate limit reached for ${plan.model} in organization ${ORGANIZATION} on ${label}: Limit ${limit}, Used ${used}, Requested ${need}. Please try again in ${formatGoDuration(waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
      return {
        body: err(message, dim, "rate_limit_exceeded"),
        headers: { "retry-after": String(retryAfterSeconds(waitMs)), "retry-after-ms": String(waitMs) },
      };
    },

    json({ plan, requestId, usage: mode, nowMs }) {
      if (plan.extra.responses) return responsesJson(plan, requestId, mode, nowMs);
      /** @type {Record<string, unknown>} */
      const completion = {
        id: `chatcmpl-${requestId.slice(8)}`,
        object: "chat.completion",
        created: Math.floor(nowMs / 1000),
        model: plan.model,
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: outputPieces(plan.outputTokens, 1)
                .map((p) => p.text)
                .join(""),
              refusal: null,
              annotations: [],
            },
            logprobs: null,
            finish_reason: plan.extra.finishReason,
          },
        ],
        service_tier: "default",
        system_fingerprint: "fp_mock",
      };
      if (mode !== "missing") completion.usage = usage(plan, mode);
      return completion;
    },

    frames({ plan, requestId, usage: mode, nowMs }) {
      if (plan.extra.responses) return responsesFrames(plan, requestId, mode, nowMs, chunks);
      const base = {
        id: `chatcmpl-${requestId.slice(8)}`,
        object: "chat.completion.chunk",
        created: Math.floor(nowMs / 1000),
        model: plan.model,
        service_tier: "default",
        system_fingerprint: "fp_mock",
      };
      const withUsage = plan.extra.includeUsage;
      /** @param {Record<string, unknown>} delta @param {string | null} finish */
      const chunk = (delta, finish) => ({
        ...base,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(withUsage ? { usage: null } : {}),
      });
      /** @type {import('./common.mjs').Frame[]} */
      const frames = [
        { wire: sse(chunk({ role: "assistant", content: "", refusal: null }, null)), outputTokens: 0 },
        ...outputPieces(plan.outputTokens, chunks).map((p) => ({
          wire: sse(chunk({ content: p.text }, null)),
          outputTokens: p.tokens,
        })),
        { wire: sse(chunk({}, plan.extra.finishReason)), outputTokens: 0 },
      ];
      if (withUsage && mode !== "missing") {
        frames.push({ wire: sse({ ...base, choices: [], usage: usage(plan, mode) }), outputTokens: 0 });
      }
      frames.push({ wire: sse("[DONE]"), outputTokens: 0 });
      return frames;
    },

    sseError() {
      return sse(err("The server had an error while processing your request. Sorry about that!", "server_error", null));
    },
  };

  return startMockServer(provider, { ...options, limits });
}
