// Shared pieces of the `llm-pacer` command: option parsing, errors, number formatting.
// Node built-ins only (the package has no dependencies).

/** A mistake in the command line: printed with a hint and exit code 2. */
export class UsageError extends Error {
  /** @param {string} message @param {string} [command] */
  constructor(message, command) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A failure worth a one-line message and exit code 1 (never a stack trace). */
export class CliError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * @typedef {object} OptionSpec
 * @property {"int" | "number" | "string" | "boolean"} type
 * @property {number} [min] smallest accepted value (numbers)
 * @property {number} [max] largest accepted value (numbers)
 * @property {readonly string[]} [choices] accepted values (strings)
 */

/**
 * Parses `--name value`, `--name=value`, `--flag` and `-h`/`--help` against `spec`; anything
 * else is a {@link UsageError} naming the argument. Returns the given options by name (absent
 * ones are left out) and `help: true` when help was asked for (nothing else is checked then).
 * @param {string[]} argv
 * @param {Record<string, OptionSpec>} spec
 * @param {string} command for the messages
 * @returns {Record<string, any>}
 */
export function parseOptions(argv, spec, command) {
  if (argv.includes("-h") || argv.includes("--help")) return { help: true };
  /** @type {Record<string, any>} */
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--") || arg === "--") {
      throw new UsageError(`unexpected argument \`${arg}\``, command);
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const opt = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!opt) throw new UsageError(`unknown option \`--${name}\``, command);
    if (opt.type === "boolean") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`, command);
      out[name] = true;
      continue;
    }
    let raw;
    if (eq >= 0) {
      raw = arg.slice(eq + 1);
    } else {
      raw = argv[++i];
      if (raw === undefined || (raw.startsWith("--") && raw.length > 2)) {
        throw new UsageError(`--${name} needs a value`, command);
      }
    }
    out[name] = convert(name, raw, opt, command);
  }
  return out;
}

/** @param {string} name @param {string} raw @param {OptionSpec} opt @param {string} command */
function convert(name, raw, opt, command) {
  if (opt.type === "string") {
    if (raw === "") throw new UsageError(`--${name} needs a value`, command);
    if (opt.choices && !opt.choices.includes(raw)) {
      throw new UsageError(
        `--${name}: expected ${opt.choices.map((c) => `\`${c}\``).join(" or ")}, got \`${raw}\``,
        command,
      );
    }
    return raw;
  }
  const n = raw.trim() === "" ? NaN : Number(raw);
  const what = opt.type === "int" ? "an integer" : "a number";
  if (!Number.isFinite(n) || (opt.type === "int" && !Number.isInteger(n))) {
    throw new UsageError(`--${name}: expected ${what}, got \`${raw}\``, command);
  }
  if ((opt.min !== undefined && n < opt.min) || (opt.max !== undefined && n > opt.max)) {
    const range =
      opt.max === undefined
        ? `at least ${opt.min}`
        : opt.min === undefined
          ? `at most ${opt.max}`
          : `from ${opt.min} to ${opt.max}`;
    throw new UsageError(`--${name}: expected ${what} ${range}, got \`${raw}\``, command);
  }
  return n;
}

/** `12,345` (rounded to an integer). @param {number} n */
export const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");

/** `12.3k`, `1.2M`: short counts for the progress line. @param {number} n */
export function short(n) {
  if (!Number.isFinite(n)) return "-";
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(n));
}

/** `12.3 s` (or `450 ms` below a second). @param {number} ms */
export function secs(ms) {
  if (!Number.isFinite(ms)) return "-";
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Nearest-rank percentile `p` (0..1) of ascending `sorted` (NaN when empty).
 * @param {number[]} sorted
 * @param {number} p
 */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * Rows of cells as aligned text: the first column left-aligned, the others right-aligned
 * unless `left` lists them.
 * @param {string[][]} rows
 * @param {{ indent?: string, left?: number[] }} [o]
 */
export function table(rows, o = {}) {
  const widths = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  const left = new Set([0, ...(o.left ?? [])]);
  return rows
    .map(
      (r) =>
        (o.indent ?? "") +
        r
          .map((c, i) =>
            i === r.length - 1 && left.has(i) ? c : left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]),
          )
          .join("  "),
    )
    .join("\n");
}

/**
 * The Anthropic Messages endpoint for `--url`: a base URL gets `/v1/messages` appended (`/messages`
 * after a base ending in `/v1`); a URL that already ends in `/v1/messages` is taken as is.
 * @param {string} url
 * @param {string} command
 */
export function messagesUrl(url, command) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url: not a URL: \`${url}\``, command);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new UsageError(`--url: expected an http:// or https:// URL, got \`${url}\``, command);
  }
  if (!/\/v1\/messages\/?$/.test(u.pathname)) {
    const base = u.pathname.replace(/\/+$/, "");
    u.pathname = /\/v1$/.test(base) ? `${base}/messages` : `${base}/v1/messages`;
  }
  return u.href;
}

/**
 * The OpenAI Chat Completions endpoint for `--url`: a URL that already ends in
 * `/chat/completions` is taken as is; a base ending in `/v1` gets `/chat/completions`, any
 * other base `/v1/chat/completions`.
 * @param {string} url
 * @param {string} command
 */
export function chatUrl(url, command) {
  const u = new URL(messagesUrl(url, command)); // the same checks
  const base = new URL(url).pathname.replace(/\/+$/, "");
  u.pathname = /\/chat\/completions$/.test(base)
    ? base
    : /\/v1$/.test(base)
      ? `${base}/chat/completions`
      : `${base}/v1/chat/completions`;
  return u.href;
}

/** Whether `url` points at this machine (any API key will do there). @param {string} url */
export function isLocal(url) {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/**
 * What a failed `fetch` means, in words: the network error's code when Node gives one
 * (`ECONNREFUSED`, `ENOTFOUND`, ...), else its message.
 * @param {unknown} e
 */
export function networkReason(e) {
  const err = /** @type {any} */ (e);
  const cause = err?.cause;
  const code = cause?.code ?? err?.code;
  /** @type {Record<string, string>} */
  const words = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host name lookup failed",
    ECONNRESET: "connection reset",
    ETIMEDOUT: "connection timed out",
    UND_ERR_CONNECT_TIMEOUT: "connection timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    CERT_HAS_EXPIRED: "TLS certificate expired",
    DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed TLS certificate",
  };
  if (typeof code === "string") return Object.hasOwn(words, code) ? `${words[code]} (${code})` : code;
  const msg = cause?.message ?? err?.message;
  return typeof msg === "string" && msg ? msg : String(e);
}

/**
 * `url` as it may be printed: a password in it, and the value of a `key` parameter (Gemini's
 * `?key=`), as `[redacted]`.
 */
export function shownUrl(/** @type {string} */ url) {
  const mark = "llm-pacer-redacted";
  try {
    const u = new URL(url);
    if (!u.password && !u.searchParams.has("key")) return url;
    if (u.password) u.password = mark;
    if (u.searchParams.has("key")) u.searchParams.set("key", mark);
    return u.href.replaceAll(mark, "[redacted]");
  } catch {
    return url;
  }
}

/** Replaces every occurrence of `secret` in `text` (a key must never be printed). */
export function redact(/** @type {string} */ text, /** @type {string | undefined} */ secret) {
  return secret && secret.length >= 4 ? text.split(secret).join("[redacted]") : text;
}
