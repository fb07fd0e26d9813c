// `llm-pacer probe`: one minimal request to an Anthropic or OpenAI-compatible API, then the
// rate-limit headers of the answer exactly as the server sent them, and, labelled apart, the
// pacer's own view after that answer (`pacer.limits()`).

import { Pacer } from "llm-pacer";
import {
  CliError,
  UsageError,
  chatUrl,
  int,
  isLocal,
  messagesUrl,
  networkReason,
  parseOptions,
  redact,
  shownUrl,
  secs,
  table,
} from "./util.mjs";

const TIMEOUT_MS = 30_000;

/** What differs between the two API families: endpoint, key, headers, body. */
const PROVIDERS = {
  anthropic: {
    base: "https://api.anthropic.com",
    model: "claude-haiku-4-5",
    keyVar: "ANTHROPIC_API_KEY",
    url: (u, command) => messagesUrl(u, command),
    headers: (key) => ({ "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json" }),
    body: (model) => ({ model, max_tokens: 1, messages: [{ role: "user", content: "Hi" }] }),
    limit: "max_tokens 1",
  },
  openai: {
    base: "https://api.openai.com",
    model: "gpt-4o-mini",
    keyVar: "OPENAI_API_KEY",
    url: (u, command) => chatUrl(u, command),
    headers: (key) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" }),
    body: (model) => ({ model, max_completion_tokens: 1, messages: [{ role: "user", content: "Hi" }] }),
    limit: "max_completion_tokens 1",
  },
};

export const OPTIONS = {
  url: { type: "string" },
  model: { type: "string" },
  provider: { type: "string" },
};

export const HELP = `\
llm-pacer probe: check your current rate limit status with one minimal request

USAGE:
    npx llm-pacer probe [--url U] [--provider anthropic|openai] [--model M]

Sends one minimal request (a two-letter prompt, 1 output token) through pacer.fetch: an
Anthropic Messages request, or an OpenAI Chat Completions request (also for OpenAI-compatible
servers). Prints the rate-limit headers of the answer exactly as the server sent them, then,
labelled as such, the pacer's view after that answer (pacer.limits(): per dimension the limit
per window, what its bucket holds, when it is full again, where the limit came from). Limits
are per model class, so probe the model you use.

OPTIONS:
    --url U         the API base URL, or the endpoint itself (default: the provider's API);
                    a base gets /v1/messages (Anthropic) or /v1/chat/completions (OpenAI;
                    /chat/completions after a base ending in /v1)
    --provider P    anthropic or openai (default: from the URL: a path ending in
                    /chat/completions or a host with "openai" in it is openai; else anthropic)
    --model M       the model (default ${PROVIDERS.anthropic.model}, or ${PROVIDERS.openai.model} for openai)
    -h, --help      print this help

ENVIRONMENT:
    ANTHROPIC_API_KEY   (anthropic) or OPENAI_API_KEY (openai): required for a remote URL;
                        for a local one (127.0.0.1, localhost) any key is accepted and one is
                        made up when it is not set

Exit status: 0 on a 2xx answer, 1 on an error answer or when the server cannot be reached.
`;

/** The provider for `--provider`, else from the URL. */
function providerOf(name, url) {
  if (name !== undefined) {
    if (!(name in PROVIDERS))
      throw new UsageError(`--provider: expected anthropic or openai, got \`${name}\``, "probe");
    return name;
  }
  if (url === undefined) return "anthropic";
  let u;
  try {
    u = new URL(url);
  } catch {
    return "anthropic"; // the URL check reports it
  }
  return /\/chat\/completions\/?$/.test(u.pathname) || /openai/i.test(u.hostname) ? "openai" : "anthropic";
}

/** The rate-limit headers of `res`, as sent (name, value), in a stable order. */
function rateLimitHeaders(res) {
  const rows = [];
  for (const [name, value] of res.headers) {
    if (/^(anthropic-ratelimit-|x-ratelimit-|ratelimit(-policy)?$|retry-after(-ms)?$)/.test(name))
      rows.push([name, value]);
  }
  return rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const DIMS = /** @type {const} */ ([
  ["requests", "requests"],
  ["inputTokens", "input tokens"],
  ["outputTokens", "output tokens"],
  ["tokens", "tokens"],
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
  const provider = providerOf(o.provider, o.url);
  const p = PROVIDERS[provider];
  const url = p.url(o.url ?? p.base, "probe");
  const model = o.model ?? p.model;
  const shown = shownUrl(url);
  let key = process.env[p.keyVar]?.trim();
  if (!key) {
    if (!isLocal(url)) {
      throw new CliError(
        `probe needs ${p.keyVar} in the environment to call ${new URL(url).origin} (it is not set). ` +
          "For a local server (--url http://127.0.0.1:PORT) any key will do.",
      );
    }
    key = "local-probe-key";
  }

  const pacer = new Pacer({ retry: { maxRetries: 0 }, timeoutMs: TIMEOUT_MS });
  const out = process.stdout;
  out.write(`llm-pacer probe: POST ${shown} (${provider}, model ${model}, ${p.limit})\n`);
  const started = performance.now();
  let res;
  try {
    res = await pacer.fetch(url, { method: "POST", headers: p.headers(key), body: JSON.stringify(p.body(model)) });
  } catch (e) {
    const err = /** @type {any} */ (e);
    if (err?.code === "TIMEOUT") throw new CliError(`no answer from ${shown} within ${TIMEOUT_MS / 1000} s`);
    throw new CliError(redact(`cannot reach ${shown}: ${networkReason(e)}`, key));
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
    process.stderr.write(
      redact(`llm-pacer probe: ${shown} answered ${res.status}${what ? ` ${what}` : ""}${tail}\n`, key),
    );
  }

  const headers = rateLimitHeaders(res);
  if (headers.length === 0) {
    out.write("\nThe answer carried no rate-limit headers.\n");
    return res.ok ? 0 : 1;
  }
  out.write(`\nRate-limit headers of the answer, as sent:\n${table(headers, { indent: "  ", left: [1] })}\n`);

  // One request, one limit key.
  const limits = pacer.limits()[0] ?? {};
  const now = Date.now();
  const rows = [["", "limit", "in bucket", "full again", "source"]];
  const per = { 1000: "/s", 60000: "/min", 3600000: "/h", 86400000: "/day" };
  for (const [dim, label] of DIMS) {
    const d = limits[dim];
    if (!d) continue;
    const full = d.resetAt > now ? `in ${secs(d.resetAt - now)}` : "now";
    const window = per[d.windowMs] ?? ` per ${secs(d.windowMs)}`;
    rows.push([label, `${int(d.limit)}${window}`, int(d.remaining), full, d.source]);
  }
  if (rows.length > 1) {
    out.write(
      "\nThe pacer's view after this answer (pacer.limits(): its own buckets, which smooth the\n" +
        "server's rounded counts and refill continuously; not the headers):\n" +
        `${table(rows, { indent: "  ", left: [3, 4] })}\n`,
    );
  }
  return res.ok ? 0 : 1;
}
