// Fleet measurement (issue 11, a first cut): K pacers, each with its own Redis connection,
// share one organisation's limit key against the loopback Anthropic mock (rpm 60, metered
// like Anthropic, over-limit admissions recorded instead of refused), with and without the
// Redis store. K pacers run in ONE Node process here (not K processes yet).
//
//   node scripts/bench/fleet.mjs [K=2] [callsPerPacer=35]
//
// Prints per run: makespan, the lower bound (calls beyond the full bucket at its refill
// rate), admissions over the limit (would be 429s), failures, and the store's added latency
// per reservation (p50, p99). Needs redis-server (scripts/setup.sh) and pkg/ built.
import Redis from "ioredis";
import { Pacer } from "llm-pacer";
import { redisStore } from "llm-pacer/redis";
import { startAnthropicMock } from "../../tests/js/mock/index.mjs";
import { anthropicInit } from "../../tests/js/lib/harness.mjs";
import { startRedis } from "../../tests/js/lib/redis-server.mjs";

const K = Number(process.argv[2] ?? 2);
const N = Number(process.argv[3] ?? 35);
const RPM = 60;
const server = await startRedis();
const pct = (xs, p) => (xs.length ? xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] : NaN);
for (const useStore of [false, true]) {
  const mock = await startAnthropicMock({ limits: { rpm: RPM, itpm: null, otpm: null }, enforce: false });
  const clients = [];
  const lat = [];
  const prefix = `bench${Date.now()}`;
  const pacers = [];
  for (let k = 0; k < K; k++) {
    const c = new Redis(server.port, "127.0.0.1");
    clients.push(c);
    await new Promise((r) => c.once("ready", r));
    const s = redisStore(c, { prefix });
    const timed = {
      reserve: async (key, r) => {
        const t = performance.now();
        try {
          return await s.reserve(key, r);
        } finally {
          lat.push(performance.now() - t);
        }
      },
      settle: (...a) => s.settle(...a),
    };
    pacers.push(new Pacer({ limits: { rpm: RPM }, ...(useStore ? { store: timed } : {}) }));
  }
  const t0 = Date.now();
  const calls = [];
  for (let i = 0; i < N; i++) for (const p of pacers) calls.push(p.fetch(`${mock.url}/v1/messages`, anthropicInit()).then(async (r) => (await r.text(), r.status), () => "failed"));
  const statuses = await Promise.all(calls);
  const makespan = (Date.now() - t0) / 1000;
  const lower = Math.max(0, K * N - RPM) / (RPM / 60);
  console.log(
    JSON.stringify({
      K, calls: K * N, store: useStore, makespan_s: makespan, lower_bound_s: lower,
      ratio: lower ? +(makespan / lower).toFixed(2) : null,
      over_limit: mock.violations().length, failed: statuses.filter((s) => s !== 200).length,
      store_ms_p50: useStore ? +pct(lat, 0.5).toFixed(2) : null, store_ms_p99: useStore ? +pct(lat, 0.99).toFixed(2) : null,
    }),
  );
  clients.forEach((c) => c.disconnect());
  await mock.close();
}
await server.stop();
