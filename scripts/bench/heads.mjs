// Benchmark (k), stream heads written at admission: uncoordinated pacers in real time against
// the Anthropic test mock, on calls that give back most of their `max_tokens`.
//
//   node scripts/bench/heads.mjs [--pkg DIR] [--seeds N]
//
// The mock meters as Anthropic documents (continuous buckets; RPM 120, ITPM 40,000, OTPM
// 40,000, output reserved at `max_tokens` and given back to the real output at the end; token
// `remaining` rounded to the nearest thousand) and writes a stream's rate-limit figures either
// when it admits the request (`streamHeadFigures: "admission"`: the head is sent 50-300 ms
// later, other calls settling meanwhile) or when it writes the head. 150 calls at once, split
// between 1 or 2 pacers (`concurrency: 5` each, limits learned from the headers):
// `max_tokens` 256 to 2,048, output 10-60% of it, input 50-350 tokens, 30% of them streams.
// Prints each run's wall time over the lower bound of what the mock counted (per limit,
// (total - capacity) / refill rate; the largest), its 429s and failed calls, then the worst.
// Real time: about 20 s a run. `--pkg DIR`: a build copied aside, to compare.

import { pathToFileURL } from "node:url";
import { startAnthropicMock } from "../../tests/js/mock/anthropic.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args[i + 1];
};
const dir = opt("--pkg", null);
const seeds = Number(opt("--seeds", 2));
const { Pacer } = await import(dir ? pathToFileURL(`${dir}/node/index.mjs`).href : "llm-pacer");

const LIMITS = { rpm: 120, itpm: 40_000, otpm: 40_000 };
const CALLS = 150;

/** A small seeded generator (LCG), so that both builds see the same calls. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** One run: the wall time over the lower bound, 429s and failed calls. */
async function run({ seed, pacers, figures }) {
  const mock = await startAnthropicMock({ limits: LIMITS, streamHeadFigures: figures, eventDelayMs: 5 });
  const rand = rng(seed);
  const calls = Array.from({ length: CALLS }, () => {
    const maxTokens = [256, 512, 1_024, 2_048][Math.floor(rand() * 4)];
    return {
      maxTokens,
      output: Math.max(1, Math.floor(maxTokens * (0.1 + 0.5 * rand()))),
      input: 50 + Math.floor(rand() * 300),
      latency: 50 + Math.floor(rand() * 250),
      stream: rand() < 0.3,
    };
  });
  const ps = Array.from({ length: pacers }, (_, i) => new Pacer({ concurrency: 5, seed: seed * 10 + i }));
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    calls.map(async (c, i) => {
      try {
        const res = await ps[i % pacers].fetch(`${mock.url}/v1/messages`, {
          method: "POST",
          headers: {
            "x-api-key": "sk-ant-bench",
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
            "x-mock-input-tokens": String(c.input),
            "x-mock-output-tokens": String(c.output),
            "x-mock-latency-ms": String(c.latency),
          },
          body: JSON.stringify({
            model: "claude-bench",
            max_tokens: c.maxTokens,
            messages: [{ role: "user", content: "hi" }],
            ...(c.stream ? { stream: true } : {}),
          }),
        });
        if (res.status !== 200) failed++;
        await res.arrayBuffer();
      } catch {
        failed++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1_000;
  const st = mock.stats;
  await mock.close();
  const bound = Math.max(
    ((st.admitted - LIMITS.rpm) * 60) / LIMITS.rpm,
    ((st.inputTokens - LIMITS.itpm) * 60) / LIMITS.itpm,
    ((st.outputTokens - LIMITS.otpm) * 60) / LIMITS.otpm,
  );
  return { wall, bound, ratio: wall / bound, limited: st.limited, failed };
}

console.log("figures of a stream   pacers  seed     wall   bound  ratio  429s  failed");
const worst = {};
for (const figures of ["admission", "head"])
  for (const pacers of [1, 2])
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await run({ seed, pacers, figures });
      console.log(
        `${`at ${figures}`.padEnd(20)} ${String(pacers).padStart(7)} ${String(seed).padStart(5)} ${r.wall.toFixed(1).padStart(7)} s ${r.bound.toFixed(1).padStart(5)} s ${r.ratio.toFixed(2).padStart(6)} ${String(r.limited).padStart(5)} ${String(r.failed).padStart(7)}`,
      );
      const k = `at ${figures}, ${pacers} pacer${pacers > 1 ? "s" : ""}`;
      const w = worst[k] ?? { ratio: 0, limited: 0, failed: 0 };
      worst[k] = {
        ratio: Math.max(w.ratio, r.ratio),
        limited: Math.max(w.limited, r.limited),
        failed: w.failed + r.failed,
      };
    }
for (const [k, w] of Object.entries(worst))
  console.log(
    `worst, figures ${k}: ratio ${w.ratio.toFixed(2)}, at most ${w.limited} 429s in a run, ${w.failed} calls failed`,
  );
