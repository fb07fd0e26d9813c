// `llm-pacer demo`: a batch of requests through `pacer.fetch`, against a local Anthropic-like
// server (mock-server.mjs) or, with `--live`, the real API; a live progress line, then a summary.

import { Pacer } from "llm-pacer";
import { startMockServer, inputTokensOf, outputTokensOf } from "./mock-server.mjs";
import {
  CliError,
  UsageError,
  int,
  messagesUrl,
  networkReason,
  parseOptions,
  percentile,
  redact,
  secs,
  short,
  table,
} from "./util.mjs";

/** Anthropic Tier 1 (per minute), the shape of the demo's limits. */
const TIER1 = { rpm: 50, itpm: 30_000, otpm: 8_000 };
const MAX_TOKENS = 1024;
const LIVE_MAX_TOKENS = 64;
const DEFAULT_MODEL = "claude-haiku-4-5";
const API = "https://api.anthropic.com";

export const OPTIONS = {
  requests: { type: "int", min: 1, max: 10_000 },
  concurrency: { type: "int", min: 1, max: 10_000 },
  seconds: { type: "number", min: 1, max: 3600 },
  seed: { type: "int", min: 0, max: 2 ** 32 - 1 },
  live: { type: "boolean" },
  url: { type: "string" },
  model: { type: "string" },
};

export const HELP = `\
llm-pacer demo: a batch of requests through pacer.fetch, with a live progress line and a summary

USAGE:
    npx llm-pacer [demo] [OPTIONS]

By default the requests go to a local server started for the run, which rate-limits like the
Anthropic API (RPM / ITPM / OTPM token buckets, the anthropic-ratelimit-* headers, 429 with
retry-after). Its limits have Tier 1's proportions, scaled so that the run takes about
--seconds. The summary compares the makespan with the lower bound the limits allow.

OPTIONS:
    --requests N      requests in the batch (default 200; 5 with --live)
    --concurrency C   the pacer's concurrency option (default 10; 2 with --live)
    --seconds S       target duration of the local run, seconds (default 30)
    --seed N          seed of the workload (default 1)
    --live            send to the real Anthropic API instead (needs ANTHROPIC_API_KEY; small
                      prompts, max_tokens ${LIVE_MAX_TOKENS}; the limits are learned from the headers)
    --url U           with --live: the API base URL (default ${API})
    --model M         with --live: the model (default ${DEFAULT_MODEL})
    -h, --help        print this help

Without a terminal the progress comes as plain lines every few seconds.
`;

/** A seeded PRNG (mulberry32): uniform in [0, 1). @param {number} seed */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FILLER = (() => {
  const words = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches ".repeat(
    20,
  );
  return words.repeat(Math.ceil(64_000 / words.length));
})();

/**
 * The local workload: input lognormal (median 1,500 tokens, sigma 0.5), `max_tokens` 1,024.
 * @param {number} n
 * @param {number} seed
 */
export function localBodies(n, seed) {
  const rand = prng(seed);
  const bodies = [];
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const tokens = Math.min(12_000, Math.max(20, Math.round(Math.exp(Math.log(1500) + 0.5 * z))));
    const head = `Request ${i + 1} of ${n}, seed ${seed}. Summarise: `;
    const text = head + FILLER.slice(0, Math.max(0, tokens * 4 - head.length));
    bodies.push({ model: "claude-demo", max_tokens: MAX_TOKENS, messages: [{ role: "user", content: text }] });
  }
  return bodies;
}

/** Three significant digits, rounded up. @param {number} x */
function roundUp3(x) {
  const p = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 2);
  return Math.ceil(x / p) * p;
}

/**
 * The shortest makespan the limits allow (ms): per limited dimension (total - capacity) /
 * refill rate, from full buckets; the largest over the dimensions.
 * @param {{ rpm?: number, itpm?: number, otpm?: number }} limits
 * @param {{ requests: number, input: number, output: number }} totals
 */
export function lowerBoundMs(limits, totals) {
  let lb = 0;
  for (const [limit, total] of [
    [limits.rpm, totals.requests],
    [limits.itpm, totals.input],
    [limits.otpm, totals.output],
  ]) {
    if (limit) lb = Math.max(lb, (Math.max(0, total - limit) * 60_000) / limit);
  }
  return lb;
}

/**
 * Limits in Tier 1's proportions, scaled so that the lower bound of `bodies` is about
 * `seconds`, and never below what the largest request needs.
 * @param {any[]} bodies
 * @param {number} seconds
 */
export function scaledLimits(bodies, seconds) {
  const totals = { requests: bodies.length, input: 0, output: 0 };
  let maxInput = 0;
  for (const b of bodies) {
    const input = inputTokensOf(b);
    totals.input += input;
    totals.output += outputTokensOf(b);
    maxInput = Math.max(maxInput, input);
  }
  const burst = 1 + seconds / 60; // a full bucket, then `seconds` of refill
  let scale = Math.max(totals.requests / TIER1.rpm, totals.input / TIER1.itpm, totals.output / TIER1.otpm) / burst;
  // Every request must fit a full bucket, with room for the pacer's estimate of its input
  // (it errs high: about characters / 3 where this server counts characters / 4).
  scale = Math.max(scale, (MAX_TOKENS * 1.25) / TIER1.otpm, (maxInput * 1.6) / TIER1.itpm);
  const limits = {
    rpm: Math.max(1, Math.ceil(TIER1.rpm * scale)),
    itpm: roundUp3(TIER1.itpm * scale),
    otpm: roundUp3(TIER1.otpm * scale),
  };
  return { limits, scale, totals };
}

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
export async function demo(argv) {
  const o = parseOptions(argv, /** @type {any} */ (OPTIONS), "demo");
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!o.live) {
    for (const name of ["url", "model"]) {
      if (o[name] !== undefined) throw new UsageError(`--${name} applies only with --live`, "demo");
    }
    return local(o);
  }
  if (o.seconds !== undefined)
    throw new UsageError("--seconds applies only to the local run (not with --live)", "demo");
  if (o.requests > 100) throw new UsageError("--requests: at most 100 with --live (it spends real tokens)", "demo");
  return live(o);
}

/** @param {Record<string, any>} o */
async function local(o) {
  const n = o.requests ?? 200;
  const concurrency = o.concurrency ?? 10;
  const seconds = o.seconds ?? 30;
  const bodies = localBodies(n, o.seed ?? 1);
  const { limits, scale } = scaledLimits(bodies, seconds);
  const server = await startMockServer({ limits });
  const out = process.stdout;
  try {
    out.write(
      `llm-pacer demo: ${int(n)} requests through pacer.fetch to a local Anthropic-like server (${server.url})\n` +
        table(
          [
            [
              "limits",
              `RPM ${int(limits.rpm)}, ITPM ${int(limits.itpm)}, OTPM ${int(limits.otpm)} (Tier 1 x ${scale.toFixed(2)}, sized for a ~${seconds} s run)`,
            ],
            ["server", "Anthropic's arithmetic: buckets start full, refill continuously; 429 + retry-after when short"],
            [
              "workload",
              `input lognormal median 1,500 tokens, max_tokens ${int(MAX_TOKENS)}, output 100-${int(MAX_TOKENS)}; all queued at once`,
            ],
            [
              "client",
              `new Pacer({ limits: { rpm: ${limits.rpm}, itpm: ${limits.itpm}, otpm: ${limits.otpm} }, concurrency: ${concurrency} })`,
            ],
            ["progress", "in/out: tokens used in the last 60 s / the limit per minute; 429s: what the pacer saw"],
          ],
          { indent: "  ", left: [1] },
        ) +
        "\n\n",
    );
    const pacer = new Pacer({ limits, concurrency });
    const report = await runBatch({
      pacer,
      url: `${server.url}/v1/messages`,
      headers: { "x-api-key": "demo-key", "anthropic-version": "2023-06-01", "content-type": "application/json" },
      bodies,
      inputPerRequest: bodies.reduce((s, b) => s + inputTokensOf(b), 0) / n,
      maxTokens: MAX_TOKENS,
      plainEveryMs: Math.min(5000, Math.max(1000, Math.round((seconds * 1000) / 6 / 1000) * 1000)),
    });
    summary(
      report,
      limits,
      "from full buckets",
      `${int(server.stats.requests)} requests, ${int(server.stats.admitted)} admitted, ${int(server.stats.rateLimited)} answered 429`,
      MAX_TOKENS,
    );
    return report.failed === 0 && report.final429 === 0 ? 0 : 1;
  } finally {
    await server.close();
  }
}

/** @param {Record<string, any>} o */
async function live(o) {
  const key = process.env.ANTHROPIC_API_KEY?.trim();
  if (!key) {
    throw new CliError(
      "demo --live sends real requests and needs ANTHROPIC_API_KEY in the environment (it is not set). " +
        "Without --live the demo runs against a local server and needs no key.",
    );
  }
  const url = messagesUrl(o.url ?? API, "demo");
  const model = o.model ?? DEFAULT_MODEL;
  const n = o.requests ?? 5;
  const concurrency = o.concurrency ?? 2;
  const bodies = Array.from({ length: n }, (_, i) => ({
    model,
    max_tokens: LIVE_MAX_TOKENS,
    messages: [{ role: "user", content: `Write the number ${i + 1} in words, nothing else.` }],
  }));
  process.stdout.write(
    `llm-pacer demo --live: ${n} small requests (max_tokens ${LIVE_MAX_TOKENS}, model ${model}) through pacer.fetch to ${url}\n` +
      `  client  new Pacer({ concurrency: ${concurrency} })   (limits learned from the response headers)\n\n`,
  );
  const pacer = new Pacer({ concurrency });
  const report = await runBatch({
    pacer,
    url,
    headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    bodies,
    inputPerRequest: 20,
    maxTokens: LIVE_MAX_TOKENS,
    plainEveryMs: 2000,
    secret: key,
  });
  const learned = pacer.limits()[0] ?? {};
  const limits = { rpm: learned.requests?.limit, itpm: learned.inputTokens?.limit, otpm: learned.outputTokens?.limit };
  summary(report, limits, "from full buckets; yours may not have been", "", LIVE_MAX_TOKENS);
  return report.failed === 0 && report.final429 === 0 ? 0 : 1;
}

/**
 * @typedef {object} Report
 * @property {number} n
 * @property {number} ok 2xx responses
 * @property {Record<number, number>} byStatus final statuses the caller got
 * @property {number} final429 429s that reached the caller
 * @property {number} failed rejected calls
 * @property {string[]} errors the first few rejection messages
 * @property {number} makespanMs
 * @property {number[]} latencies sorted, ms
 * @property {{ input: number, output: number }} used tokens from usage
 * @property {Record<string, number>} stats pacer.stats() at the end
 */

/**
 * Sends every body at once through `pacer.fetch`, shows progress, returns the report.
 * @param {{ pacer: any, url: string, headers: Record<string, string>, bodies: any[], inputPerRequest: number, maxTokens: number, plainEveryMs: number, secret?: string }} a
 * @returns {Promise<Report>}
 */
async function runBatch(a) {
  const out = process.stdout;
  const tty = Boolean(out.isTTY);
  const n = a.bodies.length;
  const start = performance.now();
  /** @type {[number, number, number][]} completions: time, input, output */
  const recent = [];
  /** @type {Report} */
  const r = {
    n,
    ok: 0,
    byStatus: {},
    final429: 0,
    failed: 0,
    errors: [],
    makespanMs: 0,
    latencies: [],
    used: { input: 0, output: 0 },
    stats: {},
  };
  let done = 0;
  let outputSeen = 0;

  const line = () => {
    const now = performance.now();
    const elapsed = now - start;
    const s = a.pacer.stats();
    const lim = a.pacer.limits()[0] ?? {};
    // Tokens per minute: the usage of the responses of the last 60 s (in the first minute
    // this can exceed the limit by what the full buckets held at the start).
    while (recent.length && recent[0][0] < now - 60_000) recent.shift();
    let inW = 0;
    let outW = 0;
    for (const [, i, o] of recent) [inW, outW] = [inW + i, outW + o];
    // "used in the last minute (limit L/min)": the first minute can exceed L by what the
    // full buckets held at the start, so the two are never written as one fraction.
    const limitOf = (/** @type {any} */ d) => (d ? ` (limit ${short(d.limit)}/min)` : "");
    // ETA: what the queue still needs beyond what the buckets hold, at the refill rate.
    const avgOut = done > 0 ? outputSeen / done : a.maxTokens / 2;
    let eta = 0;
    for (const [d, need] of [
      [lim.requests, s.queued],
      [lim.inputTokens, s.queued * a.inputPerRequest],
      [lim.outputTokens, s.queued * avgOut],
    ]) {
      if (d && d.limit > 0) eta = Math.max(eta, (Math.max(0, need - Math.max(0, d.remaining)) * 60_000) / d.limit);
    }
    const fields = [
      `${(elapsed / 1000).toFixed(1).padStart(5)} s`,
      `${String(done).padStart(String(n).length)}/${n} done`,
      `used in last min: input ${short(inW)}${limitOf(lim.inputTokens)}, output ${short(outW)}${limitOf(lim.outputTokens)}`,
      `queue ${s.queued}`,
      `in flight ${s.inFlight}`,
      `429s ${s.rateLimited}`,
      `retries ${s.retries}`,
      done < n ? `ETA ${secs(Math.ceil(eta / 1000) * 1000)}` : "finished",
    ];
    return fields.join("  ");
  };
  const show = () => {
    if (tty) {
      const text = line();
      const width = (out.columns ?? 100) - 1;
      out.write(`\r\x1b[2K${text.length > width ? text.slice(0, width - 1) + "…" : text}`);
    } else {
      out.write(`${line()}\n`);
    }
  };
  const timer = setInterval(show, tty ? 200 : a.plainEveryMs);
  try {
    await Promise.all(
      a.bodies.map(async (body) => {
        const t = performance.now();
        try {
          const res = await a.pacer.fetch(a.url, { method: "POST", headers: a.headers, body: JSON.stringify(body) });
          const json = await res.json().catch(() => null);
          r.byStatus[res.status] = (r.byStatus[res.status] ?? 0) + 1;
          if (res.ok) {
            r.ok++;
            const u = json?.usage ?? {};
            const input = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
            const output = u.output_tokens ?? 0;
            r.used.input += input;
            r.used.output += output;
            outputSeen += output;
            recent.push([performance.now(), input, output]);
          } else {
            if (res.status === 429) r.final429++;
            if (r.errors.length < 3)
              r.errors.push(`${res.status} ${json?.error?.type ?? ""}: ${json?.error?.message ?? ""}`.trim());
          }
        } catch (e) {
          r.failed++;
          if (r.errors.length < 3)
            r.errors.push(
              /** @type {any} */ (e)?.code
                ? `${/** @type {any} */ (e).code}: ${/** @type {Error} */ (e).message}`
                : networkReason(e),
            );
        }
        done++;
        r.latencies.push(performance.now() - t);
      }),
    );
  } finally {
    clearInterval(timer);
  }
  r.makespanMs = performance.now() - start;
  r.latencies.sort((x, y) => x - y);
  show();
  if (tty) out.write("\n");
  r.stats = a.pacer.stats();
  r.errors = r.errors.map((e) => redact(e, a.secret));
  return r;
}

/**
 * @param {Report} r
 * @param {{ rpm?: number, itpm?: number, otpm?: number }} limits
 * @param {string} boundNote
 * @param {string} serverLine
 * @param {number} maxTokens every request's max_tokens
 */
function summary(r, limits, boundNote, serverLine, maxTokens) {
  const lb = lowerBoundMs(limits, { requests: r.n, input: r.used.input, output: r.used.output });
  const statuses = Object.entries(r.byStatus)
    .map(([k, v]) => `${v} x ${k}`)
    .join(", ");
  const rows = [
    ["requests", `${int(r.ok)}/${int(r.n)} done (${statuses || "no responses"}), ${int(r.failed)} failed`],
    ["makespan", secs(r.makespanMs)],
    [
      "lower bound",
      lb > 0
        ? `${secs(lb)} (what the limits allow for this workload, ${boundNote})`
        : "0 s (the batch fits the buckets at once)",
    ],
    ["ratio", lb > 0 ? `${(r.makespanMs / lb).toFixed(3)}x the lower bound` : "- (no rate-limited phase to compare)"],
    ["429s", `${int(r.stats.rateLimited)} seen by llm-pacer, ${int(r.final429)} reached the caller`],
    ["retries", int(r.stats.retries)],
    ["tokens used", `input ${int(r.used.input)}, output ${int(r.used.output)}`],
    [
      "latency p50/p99",
      `${secs(percentile(r.latencies, 0.5))} / ${secs(percentile(r.latencies, 0.99))} (pacer.fetch to the end of the body, queueing included)`,
    ],
  ];
  if (serverLine) rows.push(["server", serverLine]);
  process.stdout.write(`\nSummary\n${table(rows, { indent: "  ", left: [1] })}\n`);
  // The bound counts the output really generated; the server reserves max_tokens at
  // admission, so the last requests wait for room for all of it. Say so when that matters.
  if (lb > 0 && limits.otpm && r.ok > 0) {
    const gapMs = (Math.max(0, maxTokens - r.used.output / r.ok) * 60_000) / limits.otpm;
    if (gapMs > 0.1 * lb) {
      process.stdout.write(
        `  note: the server reserves max_tokens (${int(maxTokens)}) at admission, so the last requests wait for ` +
          `room for all of it: about ${secs(gapMs)} more than the bound at this size (longer runs make it small)\n`,
      );
    }
  }
  if (r.errors.length) process.stdout.write(`  first errors: ${r.errors.join("; ")}\n`);
}
