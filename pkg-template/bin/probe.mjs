// `llm-pacer probe`: one minimal request, then the rate limits the answer's headers report, as
// the pacer parsed them (`pacer.limits()`).

import { Pacer } from "llm-pacer";
import { CliError, int, isLocal, messagesUrl, networkReason, parseOptions, redact, secs, table } from "./util.mjs";

const API = "https://api.anthropic.com";
const DEFAULT_MODEL = "claude-haiku-4-5";
const TIMEOUT_MS = 30_000;

export const OPTIONS = {
  url: { type: "string" },
  model: { type: "string" },
};

export const HELP = `\
llm-pacer probe: check your current rate limit status with one minimal request

USAGE:
    npx llm-pacer probe [--url U] [--model M]

Sends one Messages API request (max_tokens 1, a two-letter prompt) through pacer.fetch and
prints the limits the answer's headers report, as llm-pacer parsed them: per dimension
(requests, input tokens, output tokens, tokens) the limit per minute, what remains, and when
the bucket is full again. Limits are per model class, so probe the model you use.

OPTIONS:
    --url U       the API base URL (default ${API}); a URL ending in /v1/messages is used as is
    --model M     the model (default ${DEFAULT_MODEL})
    -h, --help    print this help

ENVIRONMENT:
    ANTHROPIC_API_KEY   required for a remote URL; for a local one (127.0.0.1, localhost) any
                        key is accepted and one is made up when it is not set

Exit status: 0 on a 2xx answer, 1 on an error answer or when the server cannot be reached.
`;

const ROWS = /** @type {const} */ ([
  ["requests", "requests", "requests"],
  ["inputTokens", "input tokens", "input-tokens"],
  ["outputTokens", "output tokens", "output-tokens"],
  ["tokens", "tokens", "tokens"],
]);

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
export async function probe(argv) {
  const o = parseOptions(argv, /** @type {any} */ (OPTIONS), "probe");
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const url = messagesUrl(o.url ?? API, "probe");
  const model = o.model ?? DEFAULT_MODEL;
  let key = process.env.ANTHROPIC_API_KEY?.trim();
  if (!key) {
    if (!isLocal(url)) {
      throw new CliError(
        `probe needs ANTHROPIC_API_KEY in the environment to call ${new URL(url).origin} (it is not set). ` +
          "For a local server (--url http://127.0.0.1:PORT) any key will do.",
      );
    }
    key = "local-probe-key";
  }

  const pacer = new Pacer({ retry: { maxRetries: 0 }, timeoutMs: TIMEOUT_MS });
  const out = process.stdout;
  out.write(`llm-pacer probe: POST ${url} (model ${model}, max_tokens 1)\n`);
  const started = performance.now();
  let res;
  try {
    res = await pacer.fetch(url, {
      method: "POST",
      headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: "user", content: "Hi" }] }),
    });
  } catch (e) {
    const err = /** @type {any} */ (e);
    if (err?.code === "TIMEOUT") throw new CliError(`no answer from ${url} within ${TIMEOUT_MS / 1000} s`);
    throw new CliError(redact(`cannot reach ${url}: ${networkReason(e)}`, key));
  } finally {
    pacer.close();
  }
  const ms = performance.now() - started;
  const text = await res.text().catch(() => "");
  const requestId = res.headers.get("request-id") ?? res.headers.get("x-request-id");
  const tail = requestId ? ` (request-id ${requestId})` : "";
  if (res.ok) {
    out.write(`  answered ${res.status} in ${secs(ms)}${tail}\n`);
  } else {
    let type = "";
    let message = "";
    try {
      const body = JSON.parse(text);
      type = body?.error?.type ?? body?.error?.code ?? "";
      message = body?.error?.message ?? "";
    } catch {
      message = text.slice(0, 200).replace(/\s+/g, " ").trim();
    }
    const what = [type, message].filter(Boolean).join(": ");
    process.stderr.write(redact(`llm-pacer probe: ${url} answered ${res.status}${what ? ` ${what}` : ""}${tail}\n`, key));
  }

  // One request, one limit key.
  const limits = pacer.limits()[0] ?? {};
  const now = Date.now();
  const rows = [["", "limit", "remaining", "reset"]];
  for (const [dim, label, header] of ROWS) {
    let d = limits[dim];
    let note = "";
    if (!d) {
      // `tokens-*` (the most restrictive limit in effect) paces nothing when the specific
      // input/output headers are there; show it from the header as the server sent it.
      const limit = Number(res.headers.get(`anthropic-ratelimit-${header}-limit`));
      const remaining = Number(res.headers.get(`anthropic-ratelimit-${header}-remaining`));
      const reset = Date.parse(res.headers.get(`anthropic-ratelimit-${header}-reset`) ?? "");
      if (!(limit > 0)) continue;
      d = { limit, remaining, resetAt: reset };
      note = "  (header as sent)";
    }
    const reset = Number.isFinite(d.resetAt)
      ? `${new Date(Math.ceil(d.resetAt / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z")} (${d.resetAt > now ? `in ${secs(d.resetAt - now)}` : "full now"})`
      : "-";
    rows.push([label, int(d.limit), int(d.remaining), reset + note]);
  }
  if (rows.length > 1) {
    out.write(`\nRate limits (per minute) from the response headers:\n${table(rows, { indent: "  ", left: [3] })}\n`);
  } else {
    out.write("\nThe answer carried no rate-limit headers.\n");
  }
  return res.ok ? 0 : 1;
}
