// Benchmark (h), many calls in flight: N `pacer.fetch` calls submitted at once against a stub
// `fetch` that answers only when all are in, then settled together; microseconds per call to
// submit and to settle, at each N, and the settle cost at the largest N over the smallest
// (aim: flat, at most 1.5x: no per-call cost grows with the calls in flight).
//
//   node scripts/bench/scale.mjs [--sizes 2000,8000,32000] [--rounds 3]   (after build-pkg)

import { Pacer } from "llm-pacer";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg("sizes", "2000,8000,32000").split(",").map(Number);
const ROUNDS = Number(arg("rounds", "3"));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const tick = () => new Promise((r) => setTimeout(r, 0));

/** One round at `n` calls: [submit, settle] microseconds per call. */
async function round(n) {
  let open;
  const gate = new Promise((r) => (open = r));
  const pacer = new Pacer({
    concurrency: 1e6,
    fetch: async () => {
      await gate;
      return new Response(null, { status: 200 });
    },
  });
  const t0 = performance.now();
  const calls = Array.from({ length: n }, () =>
    pacer.fetch("https://api.example/v1/x", { method: "POST", body: "{}" }),
  );
  await tick();
  const t1 = performance.now();
  open();
  await Promise.all(calls);
  const t2 = performance.now();
  pacer.close();
  return [((t1 - t0) * 1000) / n, ((t2 - t1) * 1000) / n];
}

await round(SIZES[0]); // warm up
const rows = [];
for (const n of SIZES) {
  const r = [];
  for (let i = 0; i < ROUNDS; i++) r.push(await round(n));
  rows.push({ n, submit: median(r.map((x) => x[0])), settle: median(r.map((x) => x[1])) });
}
console.log("calls in flight   submit us/call   settle us/call");
for (const { n, submit, settle } of rows)
  console.log(`${String(n).padStart(15)}   ${submit.toFixed(1).padStart(14)}   ${settle.toFixed(1).padStart(14)}`);
const ratio = rows.at(-1).settle / rows[0].settle;
console.log(
  `\nsettle at ${rows.at(-1).n} over ${rows[0].n}: ${ratio.toFixed(2)}x (aim at most 1.5x)  (Node ${process.version})`,
);
