// A small local stand-in for the Anthropic Messages API, for `llm-pacer demo`: it rate-limits
// the way Anthropic documents it and answers with Anthropic's headers and bodies, so what the
// demo shows is what the pacer does against the real service.
//
// - Limits: RPM, ITPM and OTPM token buckets of capacity = the per-minute limit, refilled
//   continuously at limit/60 per second (not reset per fixed minute), starting full.
// - Admission needs 1 request, the input tokens (ceil(characters / 4) of `system` and the
//   messages' text) and `max_tokens` of output (reserved at the start; the unused part is given
//   back when the response ends). Short anywhere: 429 `rate_limit_error` with `retry-after`
//   (whole seconds until it would fit, at least 1) and nothing debited.
// - Every answer carries `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-
//   {limit,remaining,reset}`: token `remaining` rounded to the nearest thousand (`rounding`:
//   "down" to the thousand below, "up" to the one above, "exact" whole tokens, for benches of
//   other servers), reset as RFC 3339 whole seconds when the bucket is full again (rounded up;
//   `reset: "down"`, the second before), `tokens-*` = whichever of input/output has less
//   remaining; plus `request-id` and `date`.
// - The output of a request is decided by the server, as with a model: a number in
//   [100, max_tokens] derived from a hash of the request (so a rerun gives the same numbers).
//   The response takes `ttftMs` plus the output at `tokensPerSecond`; its text is a short
//   placeholder, its `usage` the real count.
// - `stream: true`: the head at once (the whole `max_tokens` still reserved), then Anthropic's
//   events (`message_start` after `ttftMs`, the text and `message_delta`'s usage when written).
// - `head: "before"`: an answer that is no stream is written before the give-back (its
//   figures still count the whole `max_tokens`), not after it; `outputMax` caps the outputs
//   the server decides (give-back-heavy calls with a large `max_tokens`).
// - `perModel: true`: each `model` named has buckets of its own, as Anthropic meters each model
//   class apart (`stats.models` counts per model); by default one set for the organisation.
// - Not modelled: priority tier, cache tokens, 529s.

import http from "node:http";

/**
 * @typedef {object} MockLimits
 * @property {number} [rpm] requests per minute
 * @property {number} [itpm] input tokens per minute
 * @property {number} [otpm] output tokens per minute
 */

/** Characters per token of the server's count (a typical English ratio). */
export const CHARS_PER_TOKEN = 4;
/** The smallest output a request gets (unless `max_tokens` is smaller). */
export const MIN_OUTPUT = 100;

class Bucket {
  /** @param {number} capacity @param {number} now */
  constructor(capacity, now) {
    this.capacity = capacity;
    this.perMs = capacity / 60_000;
    this.level0 = capacity;
    this.at = now;
  }
  /** @param {number} now */
  level(now) {
    return Math.min(this.capacity, this.level0 + Math.max(0, now - this.at) * this.perMs);
  }
  /** @param {number} now @param {number} delta */
  add(now, delta) {
    this.level0 = Math.min(this.capacity, this.level(now) + delta);
    this.at = Math.max(this.at, now);
  }
  /** Ms until the level reaches `n` (Infinity if it never can). @param {number} now @param {number} n */
  waitMs(now, n) {
    if (n > this.capacity + 1e-6) return Infinity;
    const level = this.level(now);
    return level + 1e-6 >= n ? 0 : (n - level) / this.perMs;
  }
  /** @param {number} now */
  fullAt(now) {
    return now + (this.capacity - this.level(now)) / this.perMs;
  }
}

/** The text a request sends to the model. @param {any} body */
export function textOf(body) {
  /** @param {unknown} v @returns {string} */
  const walk = (v) => {
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return v.map(walk).join("");
    if (v && typeof v === "object") {
      const o = /** @type {Record<string, unknown>} */ (v);
      return (typeof o.text === "string" ? o.text : "") + (o.content !== undefined ? walk(o.content) : "");
    }
    return "";
  };
  let s = walk(body?.system);
  if (Array.isArray(body?.messages)) for (const m of body.messages) s += walk(m?.content);
  return s;
}

/** Input tokens the server counts for `body`. @param {any} body */
export const inputTokensOf = (body) => Math.ceil(textOf(body).length / CHARS_PER_TOKEN);

/**
 * The output the server generates for `body`: in [min(100, max_tokens), max_tokens], from an
 * FNV-1a hash of its text.
 * @param {any} body
 */
export function outputTokensOf(body) {
  const max = body.max_tokens;
  if (max <= MIN_OUTPUT) return max;
  let h = 0x811c9dc5;
  const s = `${body.model}\n${textOf(body)}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return MIN_OUTPUT + (h % (max - MIN_OUTPUT + 1));
}

/** The bucket of `name` in a set of limits' buckets. @param {[string, Bucket][]} buckets @param {string} name */
const bucketIn = (buckets, name) => buckets.find(([n]) => n === name)?.[1];

/** RFC 3339, whole seconds, rounded by `round`. @param {number} ms @param {(x: number) => number} round */
const rfc3339 = (ms, round) => new Date(round(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * Starts the server on 127.0.0.1 (a free port).
 * @param {{ limits: MockLimits, ttftMs?: number, tokensPerSecond?: number, rounding?: "nearest" | "down" | "up" | "exact", reset?: "up" | "down", head?: "after" | "before", outputMax?: number, perModel?: boolean, now?: () => number }} options
 */
export async function startMockServer(options) {
  const now = options.now ?? Date.now;
  const ttftMs = options.ttftMs ?? 50;
  const tokensPerSecond = options.tokensPerSecond ?? 4000;
  const rounding = options.rounding ?? "nearest";
  const thousands = { nearest: Math.round, down: Math.floor, up: Math.ceil, exact: null }[rounding];
  if (thousands === undefined) throw new TypeError(`rounding: nearest, down, up or exact, not ${rounding}`);
  const resetRound = { up: Math.ceil, down: Math.floor }[options.reset ?? "up"];
  if (!resetRound) throw new TypeError(`reset: up or down, not ${options.reset}`);
  const head = options.head ?? "after";
  if (!["after", "before"].includes(head)) throw new TypeError(`head: after or before, not ${head}`);
  const t0 = now();
  /** The buckets of one set of limits, full at `t`. @param {number} t @returns {[string, Bucket][]} */
  const fresh = (t) => {
    /** @type {[string, Bucket][]} */
    const out = [];
    for (const [name, limit] of [
      ["requests", options.limits.rpm],
      ["input-tokens", options.limits.itpm],
      ["output-tokens", options.limits.otpm],
    ]) {
      if (limit !== undefined) out.push([/** @type {string} */ (name), new Bucket(/** @type {number} */ (limit), t)]);
    }
    return out;
  };
  /** The organisation's buckets, or with `perModel` each model's (by its name). */
  const sets = new Map([["", fresh(t0)]]);
  const setOf = (/** @type {string} */ model) => {
    const k = options.perModel ? model : "";
    let set = sets.get(k);
    if (!set) sets.set(k, (set = fresh(now())));
    return set;
  };
  const stats = {
    requests: 0,
    admitted: 0,
    rateLimited: 0,
    inputTokens: 0,
    outputTokens: 0,
    firstAt: NaN,
    lastAt: NaN,
    /** @type {Record<string, { admitted: number, inputTokens: number, outputTokens: number }>} */
    models: {},
  };
  let seq = 0;
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();

  /** @param {string} requestId @param {[string, Bucket][]} [buckets] the request's (none: the organisation's) */
  const headers = (requestId, buckets = setOf("")) => {
    const bucket = (/** @type {string} */ name) => bucketIn(buckets, name);
    const t = now();
    /** @type {Record<string, string>} */
    const h = { "content-type": "application/json", "request-id": requestId, date: new Date(t).toUTCString() };
    const put = (/** @type {string} */ name, /** @type {Bucket} */ b, /** @type {boolean} */ round) => {
      const level = b.level(t);
      h[`anthropic-ratelimit-${name}-limit`] = String(b.capacity);
      h[`anthropic-ratelimit-${name}-remaining`] = String(
        round && thousands
          ? Math.min(b.capacity, Math.max(0, thousands(level / 1000) * 1000))
          : Math.max(0, Math.floor(level)),
      );
      h[`anthropic-ratelimit-${name}-reset`] = rfc3339(b.fullAt(t), resetRound);
    };
    for (const [name, b] of buckets) put(name, b, name !== "requests");
    const i = bucket("input-tokens");
    const o = bucket("output-tokens");
    const tightest = i && o ? (o.level(t) < i.level(t) ? o : i) : (i ?? o);
    if (tightest) put("tokens", tightest, true);
    return h;
  };

  /** @param {http.ServerResponse} res @param {number} status @param {string} type @param {string} message @param {string} id @param {Record<string, string>} [extra] @param {[string, Bucket][]} [buckets] */
  const error = (res, status, type, message, id, extra = {}, buckets = undefined) => {
    res.writeHead(status, { ...headers(id, buckets), ...extra });
    res.end(JSON.stringify({ type: "error", error: { type, message }, request_id: id }));
  };

  const server = http.createServer(async (req, res) => {
    const id = `req_demo_${String(++seq).padStart(8, "0")}`;
    stats.requests++;
    if (Number.isNaN(stats.firstAt)) stats.firstAt = now();
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path !== "/v1/messages") return error(res, 404, "not_found_error", `Not found: ${path}`, id);
    if (req.method !== "POST") return error(res, 405, "invalid_request_error", `Method ${req.method} not allowed`, id);
    const chunks = [];
    try {
      for await (const c of req) chunks.push(c);
    } catch {
      return;
    }
    const key = req.headers["x-api-key"];
    if (!(typeof key === "string" && key.trim()) && !/^Bearer\s+\S/i.test(req.headers.authorization ?? "")) {
      return error(res, 401, "authentication_error", "x-api-key header is required", id);
    }
    if (!req.headers["anthropic-version"])
      return error(res, 400, "invalid_request_error", "anthropic-version: header is required", id);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return error(res, 400, "invalid_request_error", "The request body is not valid JSON.", id);
    }
    const bad =
      !body || typeof body !== "object"
        ? "The request body must be a JSON object."
        : typeof body.model !== "string" || !body.model
          ? "model: Field required"
          : !(Number.isInteger(body.max_tokens) && body.max_tokens >= 1)
            ? "max_tokens: Input should be a valid integer greater than or equal to 1"
            : !Array.isArray(body.messages) || body.messages.length === 0
              ? "messages: at least one message is required"
              : body.stream !== undefined && typeof body.stream !== "boolean"
                ? "stream: Input should be a valid boolean"
                : null;
    if (bad) return error(res, 400, "invalid_request_error", bad, id);

    const input = inputTokensOf(body);
    const output = Math.min(outputTokensOf(body), Math.max(MIN_OUTPUT, options.outputMax ?? Infinity));
    const buckets = setOf(body.model);
    const bucket = (/** @type {string} */ name) => bucketIn(buckets, name);
    const per = (stats.models[body.model] ??= { admitted: 0, inputTokens: 0, outputTokens: 0 });
    const need = { requests: 1, "input-tokens": input, "output-tokens": body.max_tokens };
    const t = now();
    let wait = 0;
    /** @type {string | null} */
    let short = null;
    for (const [name, b] of buckets) {
      const w = b.waitMs(t, need[/** @type {keyof typeof need} */ (name)]);
      if (w > 0 && (short === null || w > wait)) [wait, short] = [w, name];
    }
    if (short !== null) {
      stats.rateLimited++;
      const b = /** @type {Bucket} */ (bucket(short));
      if (wait === Infinity) wait = b.fullAt(t) - t;
      const what = short.replace("-", " ");
      return error(
        res,
        429,
        "rate_limit_error",
        `This request would exceed the rate limit for your organization of ${b.capacity.toLocaleString("en-US")} ${what} per minute. Please try again later.`,
        id,
        { "retry-after": String(Math.max(1, Math.ceil(wait / 1000))) },
        buckets,
      );
    }
    for (const [name, b] of buckets) b.add(t, -need[/** @type {keyof typeof need} */ (name)]);
    stats.admitted++;
    stats.inputTokens += input;
    per.admitted++;
    per.inputTokens += input;
    const sleep = (/** @type {number} */ ms) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve(undefined);
        }, ms);
        timers.add(timer);
      });
    const msg = `msg_demo_${id.slice(9)}`;
    const words = ["lorem", "ipsum", "dolor", "sit", "amet"];
    const text = Array.from({ length: Math.min(output, 64) }, (_, k) => words[k % 5]).join(" ");
    const stop = output === body.max_tokens ? "max_tokens" : "end_turn";
    const usage = { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    // The response is complete: the unused part of the output reservation goes back.
    const done = () => {
      bucket("output-tokens")?.add(now(), body.max_tokens - output);
      stats.outputTokens += output;
      per.outputTokens += output;
      stats.lastAt = now();
    };
    if (body.stream === true) {
      // A stream's head goes at once, with the whole `max_tokens` still reserved; the
      // events follow as the model writes, the usage in `message_start` and `message_delta`.
      res.writeHead(200, { ...headers(id, buckets), "content-type": "text/event-stream", "cache-control": "no-cache" });
      const event = (/** @type {string} */ type, /** @type {object} */ data) =>
        res.destroyed || res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      await sleep(ttftMs);
      event("message_start", {
        message: {
          id: msg,
          type: "message",
          role: "assistant",
          model: body.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      });
      event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
      await sleep((output / tokensPerSecond) * 1000);
      done();
      event("content_block_delta", { index: 0, delta: { type: "text_delta", text } });
      event("content_block_stop", { index: 0 });
      event("message_delta", { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: output } });
      event("message_stop", {});
      res.end();
      return;
    }
    await sleep(ttftMs + (output / tokensPerSecond) * 1000);
    // An answer that is no stream: the give-back comes before its head is read, so the
    // headers show the corrected level (`head: "before"`: after, and they do not).
    if (head === "after") done();
    const figures = headers(id, buckets);
    if (head === "before") done();
    if (res.destroyed) return;
    res.writeHead(200, figures);
    res.end(
      JSON.stringify({
        id: msg,
        type: "message",
        role: "assistant",
        model: body.model,
        content: [{ type: "text", text }],
        stop_reason: stop,
        stop_sequence: null,
        usage: { ...usage, output_tokens: output },
      }),
    );
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(undefined));
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    /**
     * The bucket levels now, by header name (`requests`, `input-tokens`, `output-tokens`): the
     * organisation's, or with `perModel` those of `model`.
     * @param {string} [model]
     */
    levels: (model = "") => Object.fromEntries(setOf(model).map(([name, b]) => [name, b.level(now())])),
    /** Stops listening and cuts every connection. */
    close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
