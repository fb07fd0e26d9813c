// Benchmark (g), a fleet: K Node processes, each with its own pacer, share one organisation's
// limits on one loopback server that meters like Anthropic (the demo's server:
// pkg/bin/mock-server.mjs), with and without a shared store.
//
//   node scripts/bench/fleet.mjs [--processes 2,4,8,16] [--requests N] [--seconds S]
//                                [--concurrency C] [--seed N] [--store none,redis,do]
//                                [--tokens-per-second T] [--rounding nearest|down|up|exact]
//                                [--reset up|down] [--stream] [--models M]
//                                [--max-tokens N] [--output-max N] [--head after|before]
//
// The workload is the demo's (input lognormal median 1,500 tokens, max_tokens 1,024, output
// decided by the server in [100, 1,024], written at T tokens a second after 50 ms, default
// 4,000: --tokens-per-second 30 makes answers of 3 to 34 s, as a long answer that is no
// stream takes; the tokens' `remaining` rounded to the nearest thousand as Anthropic's, or
// down, or up, or exact; the resets' whole seconds rounded up, or down; with --stream each
// request streams, its head written at admission); its N requests are dealt round-robin to
// the K processes, which all start together and send theirs at once. With --models M the
// requests name M models in turn (each process's share too), which the server meters on
// buckets of their own, as Anthropic meters model classes, each with the limits below.
// --max-tokens N states N (and the OTPM is 1.95 N, as Tier 1's 8,000 against 4,096),
// --output-max caps what the server writes, and --head before has it write an answer that is
// no stream before it gives back the unused reservation (its figures still count it). The server's limits are Tier
// 1's proportions scaled so that the batch's lower bound is about S seconds (so a run takes
// under a minute in real time). No process is given limits: each learns them from the
// headers, alone (`none`) or through the store (`redis`: a `redis-server` this script starts
// on a free loopback port, and `llm-pacer/redis` with ioredis in every process; `do`: K
// Workers in one Miniflare sharing `llm-pacer/cloudflare`'s Durable Object, fleet-do.mjs).
//
// Printed per K and store: makespan (from the start to the server's last answer) / lower
// bound, 429s (per request sent to the server), calls that failed, with a store the latency
// each store operation added (p50 / p99 of the store's own calls, timed in the processes),
// and the opening: when the first answer ended and how many requests the server had admitted
// by then (long answers: the probes). Aims with the store (issue 11): no failed call, at
// most 0.5% 429s, at most 1.05x the lower bound at K = 16.

import { fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { startRedis } from "../../tests/js/lib/redis-server.mjs";
import { runShare, timed } from "./fleet-share.mjs";

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === "--child") {
  await child();
} else {
  await main();
}

/** One process of the fleet: waits for its work, runs it through its own pacer, reports. */
async function child() {
  const { Pacer } = await import("llm-pacer");
  const [work] = await once(process, "message");
  /** @type {number[]} */
  const storeMs = [];
  /** @type {Record<string, number>} */
  const storeOps = {};
  let store;
  let client;
  if (work.redisUrl) {
    const { redisStore } = await import("llm-pacer/redis");
    const { default: Redis } = await import("ioredis");
    client = new Redis(work.redisUrl);
    store = timed(redisStore(client, { prefix: work.prefix }), storeMs, storeOps);
  }
  const pacer = new Pacer({ concurrency: work.concurrency, ...(store ? { store } : {}) });
  process.send?.({ ready: true });
  await once(process, "message"); // go
  const report = await runShare(pacer, work);
  process.send?.({ ...report, storeMs, storeOps });
  client?.disconnect();
  process.exit(0);
}

async function main() {
  const { localBodies, scaledLimits, lowerBoundMs } = await import("../../pkg/bin/demo.mjs");
  const { startMockServer } = await import("../../pkg/bin/mock-server.mjs");
  const args = process.argv.slice(2);
  const opt = (/** @type {string} */ name, /** @type {string} */ dflt) => {
    const i = args.indexOf(name);
    return i < 0 ? dflt : args[i + 1];
  };
  const ks = opt("--processes", "2,4,8,16").split(",").map(Number);
  const n = Number(opt("--requests", "400"));
  const seconds = Number(opt("--seconds", "30"));
  const concurrency = Number(opt("--concurrency", "5"));
  const seed = Number(opt("--seed", "1"));
  // A flag's value, one of `allowed` (the first by default).
  const check = (/** @type {string} */ flag, /** @type {string[]} */ allowed, /** @type {string} */ v) => {
    if (allowed.includes(v)) return v;
    throw new Error(`${flag}: ${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}, not ${v}`);
  };
  const choice = (/** @type {string} */ flag, /** @type {string[]} */ allowed) =>
    check(flag, allowed, opt(flag, allowed[0]));
  const stores = opt("--store", "none,redis")
    .split(",")
    .map((st) => check("--store", ["none", "redis", "do"], st));
  const tokensPerSecond = Number(opt("--tokens-per-second", "4000"));
  const rounding = choice("--rounding", ["nearest", "down", "up", "exact"]);
  const stream = args.includes("--stream");
  const reset = choice("--reset", ["up", "down"]);

  const maxTokens = Number(opt("--max-tokens", "0"));
  const outputMax = Number(opt("--output-max", "0"));
  const head = choice("--head", ["after", "before"]);
  for (const [flag, v] of [
    ["--max-tokens", maxTokens],
    ["--output-max", outputMax],
  ])
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${flag}: a whole number, not ${v}`);
  const models = Number(opt("--models", "1"));
  if (!(Number.isInteger(models) && models >= 1)) throw new Error(`--models: a whole number from 1, not ${models}`);
  // Request j goes to process j % K; its model is (j / K) % M, so that each process sends
  // every model. The limits are scaled to one model's share.
  const bodies = localBodies(n, seed).map((/** @type {any} */ b, j) => ({
    ...b,
    ...(models > 1 ? { model: `${b.model}-${Math.floor(j / Math.max(...ks)) % models}` } : {}),
    ...(maxTokens ? { max_tokens: maxTokens } : {}),
  }));
  const { limits } = scaledLimits(
    bodies.filter((/** @type {any} */ b) => models === 1 || b.model.endsWith("-0")),
    seconds,
  );
  if (maxTokens) limits.otpm = Math.ceil(1.95 * maxTokens);
  let redis;
  if (stores.includes("redis")) redis = await startRedis();
  console.log(
    `fleet: ${n} requests dealt to K processes (concurrency ${concurrency} each), limits RPM ${limits.rpm}, ` +
      `ITPM ${limits.itpm}, OTPM ${limits.otpm} (Tier 1 scaled; lower bound about ${seconds} s); limits learned from headers; ` +
      `output at ${tokensPerSecond} tokens/s, remaining rounded ${rounding}, resets ${reset}, head ${head} the give-back${stream ? ", streams" : ""}${maxTokens ? `, max_tokens ${maxTokens}` : ""}${outputMax ? `, output at most ${outputMax}` : ""}${models > 1 ? `, ${models} models metered apart` : ""}\n`,
  );
  const rows = [
    [
      "K",
      "store",
      "makespan / lower bound",
      "429s",
      "failed",
      "store p50 / p99 per op",
      "store ops per call",
      "first answer, admitted by then",
    ],
  ];
  try {
    for (const k of ks) {
      for (const store of stores) {
        const r = await run({
          k,
          store,
          bodies,
          limits,
          concurrency,
          redisUrl: redis?.url,
          lowerBoundMs,
          startMockServer,
          seed,
          tokensPerSecond,
          rounding,
          reset,
          stream,
          models,
          head,
          outputMax,
        });
        rows.push(r);
        console.log(rows[rows.length - 1].join("  |  "));
      }
    }
  } finally {
    await redis?.stop();
  }
  console.log();
  const width = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const [i, r] of rows.entries()) {
    console.log(`| ${r.map((x, c) => x.padEnd(width[c])).join(" | ")} |`);
    if (i === 0) console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  }
}

/** @param {any} a */
async function run(a) {
  const server = await a.startMockServer({
    limits: a.limits,
    tokensPerSecond: a.tokensPerSecond,
    rounding: a.rounding,
    reset: a.reset,
    perModel: a.models > 1,
    head: a.head,
    ...(a.outputMax ? { outputMax: a.outputMax } : {}),
  });
  const workers = a.store === "do" ? await (await import("./fleet-do.mjs")).doFleet(a.k) : null;
  const procs = workers
    ? []
    : Array.from({ length: a.k }, () => fork(self, ["--child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  try {
    const prefix = `fleet-${process.pid}-${a.k}-${Date.now()}`;
    const shares = Array.from({ length: a.k }, (_, i) => ({
      url: server.url,
      concurrency: a.concurrency,
      bodies: a.bodies.filter((/** @type {any} */ _, j) => j % a.k === i),
      redisUrl: a.store === "redis" ? a.redisUrl : undefined,
      prefix,
      stream: a.stream,
    }));
    /** @type {Promise<any>[]} */
    let results;
    let t0;
    if (workers) {
      t0 = Date.now();
      results = shares.map((w, i) => workers.send(i, w));
    } else {
      for (const [i, p] of procs.entries()) p.send(shares[i]);
      await Promise.all(procs.map((p) => once(p, "message")));
      results = procs.map((p) => once(p, "message").then(([m]) => m));
      t0 = Date.now();
      for (const p of procs) p.send({ go: true });
    }
    // The opening: when the first answer ended, and how many requests the server had admitted
    // by then (the fleet's probes, if it knew no limit).
    let opening = "-";
    const watch = setInterval(() => {
      if (server.stats.outputTokens > 0) {
        opening = `${((Date.now() - t0) / 1000).toFixed(1)} s, ${server.stats.admitted}`;
        clearInterval(watch);
      }
    }, 10);
    const done = await Promise.all(results);
    clearInterval(watch);
    const s = server.stats;
    // The makespan ends at the server's last answer (on its clock, `Date.now`), not at the
    // reports: the Workers answer 200 ms after their last call (fleet-do.mjs).
    const makespan = s.lastAt - t0;
    // The lower bound of the model whose share takes longest (each is metered apart).
    const lb = Math.max(
      ...Object.values(s.models).map((/** @type {any} */ m) =>
        a.lowerBoundMs(a.limits, { requests: m.admitted, input: m.inputTokens, output: m.outputTokens }),
      ),
    );
    const failed = done.reduce((x, d) => x + d.failed, 0);
    const storeMs = done.flatMap((d) => d.storeMs).sort((x, y) => x - y);
    const pct = (/** @type {number} */ q) => storeMs[Math.min(storeMs.length - 1, Math.floor(q * storeMs.length))];
    const errs = [...new Set(done.flatMap((d) => d.errors))].slice(0, 3);
    /** @type {Record<string, number>} */
    const ops = {};
    for (const d of done) for (const [m, n] of Object.entries(d.storeOps ?? {})) ops[m] = (ops[m] ?? 0) + n;
    const calls = a.bodies.length;
    const perCall = ["reserve", "settle", "learn", "giveBack", "pause"]
      .filter((m) => ops[m])
      .map((m) => `${(ops[m] / calls).toFixed(2)} ${m}`)
      .join(", ");
    return [
      String(a.k),
      a.store,
      `${(makespan / lb).toFixed(3)} (${(makespan / 1000).toFixed(1)} s / ${(lb / 1000).toFixed(1)} s)`,
      `${s.rateLimited} (${((100 * s.rateLimited) / Math.max(1, s.requests)).toFixed(1)}%)`,
      `${failed}${errs.length ? ` (${errs.join(", ")})` : ""}`,
      storeMs.length ? `${pct(0.5).toFixed(2)} / ${pct(0.99).toFixed(2)} ms` : "-",
      perCall || "-",
      opening,
    ];
  } finally {
    for (const p of procs) p.kill();
    await workers?.dispose();
    await server.close();
  }
}
