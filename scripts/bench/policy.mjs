// Benchmark (a), policy quality: how close to the limits' lower bound a batch finishes, and how
// many 429s it costs, for 1 client and for 4 clients sharing one organisation's limits.
//
//   node scripts/bench/policy.mjs [--speed K] [--requests N] [--no-sim]
//
// Part 1, virtual time: the Rust simulator's comparison on the scenarios (1,000
// requests, Tier 1: RPM 50, ITPM 30,000, OTPM 8,000), llm-pacer against three baselines
// (`cargo run --release --bin simulate`).
//
// Part 2, real time, side by side in one run: the built package's `pacer.fetch` and the npm
// `bottleneck` (the usual recipe: a reservoir for RPM, reservoirs with a weight per request
// for input and output tokens, retry on 429 after `retry-after`) each drive real HTTP
// requests against their own instance of the test mock of the Anthropic API
// (tests/js/mock/), which keeps Tier 1's buckets on a clock running K times faster (so the
// limits refill K times faster; the bucket sizes and every number in the headers stay Tier
// 1's). llm-pacer reads time through the same clock (its `clock` option); bottleneck's
// reservoirs refill K times faster in real time. Same workload as the simulator (input
// lognormal median 1,500, max_tokens 1,024, output uniform in [100, 1,024], all at the
// start; the mock is told each request's output), concurrency 5 per client, N requests.
// Every run has its own mock, so the runs do not share limits.

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Bottleneck from "bottleneck";
import { Pacer } from "llm-pacer";
import { startAnthropicMock } from "../../tests/js/mock/index.mjs";
// The demo's seeded PRNG and lower bound: one recipe for both.
import { prng, lowerBoundMs } from "../../pkg/bin/demo.mjs"; // the built package (scripts/build-pkg.mjs)

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args[i + 1]);
};
const SPEED = flag("--speed", 40);
const N = flag("--requests", 300);
const CONCURRENCY = 5;
const TIER1 = { rpm: 50, itpm: 30_000, otpm: 8_000 };
const MAX_TOKENS = 1024;

if (!args.includes("--no-sim")) {
  console.log("== Part 1: virtual time, the simulator (cargo run --release --bin simulate)\n");
  const r = spawnSync("cargo", ["run", "--quiet", "--release", "--bin", "simulate"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
  console.log();
}

// --- the clock: virtual epoch ms running SPEED times faster than real time ----------------
const origin = Date.now();
const vnow = () => origin + (Date.now() - origin) * SPEED;
const realSleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
const clock = { now: vnow, sleep: (ms, signal) => realSleep(ms / SPEED, signal) };

// --- the workload (the simulator's recipe, seeded) -----------------------------------------
const rand = prng(1);
const FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ".repeat(1000);
const workload = Array.from({ length: N }, (_, i) => {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const input = Math.max(1, Math.round(Math.exp(Math.log(1500) + 0.5 * z)));
  const output = 100 + Math.floor(rand() * (MAX_TOKENS - 100 + 1));
  const ttfb = 600 * Math.exp(0.4 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
  // The mock counts ceil(characters / 4) of the message text.
  const text = `${i} ${FILLER}`.slice(0, input * 4);
  return {
    input,
    output,
    latencyMs: (ttfb + (output / 80) * 1000) / SPEED, // real ms: time to first byte + 80 tokens/s
    body: JSON.stringify({
      model: "claude-bench",
      max_tokens: MAX_TOKENS,
      messages: [{ role: "user", content: text }],
    }),
  };
});
const totals = workload.reduce(
  (t, w) => ({ requests: t.requests + 1, input: t.input + w.input, output: t.output + w.output }),
  { requests: 0, input: 0, output: 0 },
);
const lowerBound = lowerBoundMs(TIER1, totals);

const headersFor = (w) => ({
  "x-api-key": "bench",
  "anthropic-version": "2023-06-01",
  "content-type": "application/json",
  "x-mock-output-tokens": String(w.output),
  "x-mock-latency-ms": String(Math.round(w.latencyMs)),
});

// --- strategies -----------------------------------------------------------------------------

/** llm-pacer: one Pacer per client, configured with the organisation's limits. */
function pacerClient(url, { builtinEstimate = false } = {}) {
  const pacer = new Pacer({
    limits: TIER1,
    concurrency: CONCURRENCY,
    clock,
    seed: 7,
    // By default the same exact input count bottleneck gets as its weight; the built-in
    // estimate errs high (about characters / 3 where this mock counts characters / 4).
    estimate: builtinEstimate
      ? undefined
      : ({ body }) => ({ input: Math.ceil(body.messages[0].content.length / 4), output: body.max_tokens }),
  });
  return {
    async send(w) {
      const res = await pacer.fetch(url, { method: "POST", headers: headersFor(w), body: w.body });
      await res.arrayBuffer();
      return res.status;
    },
    retries: () => pacer.stats().retries,
  };
}

/**
 * bottleneck: a reservoir of RPM requests, refilled continuously (1 per 60/RPM s, the way the
 * provider refills), then reservoirs of ITPM and OTPM tokens with the request's input and
 * `max_tokens` as the job's weight; `maxConcurrent` 5; on a 429, retried after
 * `retry-after` (up to 6 times, like llm-pacer's default), through all three again.
 */
function bottleneckClient(url, limits) {
  const tick = 1000 / SPEED; // one virtual second, in real ms
  const reservoir = (perMinute, extra = {}) =>
    new Bottleneck({
      reservoir: perMinute,
      reservoirIncreaseAmount: perMinute / 60,
      reservoirIncreaseInterval: tick,
      reservoirIncreaseMaximum: perMinute,
      // bottleneck adds to the reservoir on a heartbeat, and only once `reservoirIncreaseInterval`
      // has fully passed: a heartbeat as long as the interval skips about every other one
      // (half the rate). A fifth of it keeps the refill within 20% of the configured rate.
      heartbeatInterval: tick / 5,
      ...extra,
    });
  const rpm = reservoir(limits.rpm, { maxConcurrent: CONCURRENCY });
  const itpm = reservoir(limits.itpm);
  const otpm = reservoir(limits.otpm);
  let retries = 0;
  rpm.on("failed", (error, info) => {
    if (error.status === 429 && info.retryCount < 6) {
      retries++;
      return (Number(error.retryAfter) * 1000) / SPEED;
    }
    return undefined;
  });
  return {
    async send(w) {
      try {
        return await rpm.schedule(() =>
          itpm.schedule({ weight: w.input }, () =>
            otpm.schedule({ weight: MAX_TOKENS }, async () => {
              const res = await fetch(url, { method: "POST", headers: headersFor(w), body: w.body });
              await res.arrayBuffer();
              if (res.status === 429)
                throw Object.assign(new Error("429"), { status: 429, retryAfter: res.headers.get("retry-after") ?? 1 });
              return res.status;
            }),
          ),
        );
      } catch (e) {
        return e.status ?? 0;
      }
    },
    retries: () => retries,
    stop: () => Promise.all([rpm, itpm, otpm].map((l) => l.disconnect())),
  };
}

/** One run: `clients` clients of one kind against a fresh mock; request i goes to client i % K. */
async function run(name, clients, make) {
  const mock = await startAnthropicMock({ now: vnow, limits: TIER1 });
  const url = `${mock.url}/v1/messages`;
  const cs = Array.from({ length: clients }, () => make(url));
  const t0 = vnow();
  const statuses = await Promise.all(workload.map((w, i) => cs[i % clients].send(w)));
  const makespan = vnow() - t0;
  await Promise.all(cs.map((c) => c.stop?.()));
  const stats = mock.stats;
  await mock.close();
  return {
    name,
    clients,
    makespan,
    ratio: makespan / lowerBound,
    r429: stats.rateLimited,
    attempts: stats.requests,
    retries: cs.reduce((s, c) => s + c.retries(), 0),
    failures: statuses.filter((s) => s !== 200).length,
  };
}

console.log(
  `== Part 2: real time, side by side (clock x${SPEED}: Tier 1 refills ${SPEED}x faster; ${N} requests; lower bound ${(lowerBound / 1000).toFixed(1)} s of server time)\n`,
);
const started = Date.now();
const quarter = { rpm: TIER1.rpm / 4, itpm: TIER1.itpm / 4, otpm: TIER1.otpm / 4 };
const results = await Promise.all([
  run("llm-pacer", 1, (url) => pacerClient(url)),
  run("llm-pacer, built-in estimate", 1, (url) => pacerClient(url, { builtinEstimate: true })),
  run("bottleneck", 1, (url) => bottleneckClient(url, TIER1)),
  run("llm-pacer", 4, (url) => pacerClient(url)),
  run("llm-pacer, built-in estimate", 4, (url) => pacerClient(url, { builtinEstimate: true })),
  run("bottleneck, full limits each", 4, (url) => bottleneckClient(url, TIER1)),
  run("bottleneck, limits / 4 each", 4, (url) => bottleneckClient(url, quarter)),
]);
const rows = [
  ["strategy", "clients", "makespan", "lower bound", "ratio", "429s", "429s/attempts", "retries", "failures"],
];
for (const r of results) {
  rows.push([
    r.name,
    String(r.clients),
    `${(r.makespan / 1000).toFixed(1)} s`,
    `${(lowerBound / 1000).toFixed(1)} s`,
    r.ratio.toFixed(3),
    String(r.r429),
    `${((100 * r.r429) / r.attempts).toFixed(1)}%`,
    String(r.retries),
    String(r.failures),
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
console.log(
  `\n(times are server time, the mock's clock; ${((Date.now() - started) / 1000).toFixed(0)} s of wall time. ` +
    "failures: requests that did not end in a 200 — a strategy that gives up finishes sooner)",
);
