// Benchmark (j), servers that count by windows: how close to the lower bound a batch finishes
// against a gateway whose quota comes back whole at each window's reset (nothing before it),
// against a sliding log that states each request's expiry as its reset, and against a
// continuously refilled bucket that sends the same header family (the control).
//
//   node scripts/bench/windows.mjs [--pkg DIR] [--bare] [--retry-after]
//
// Virtual time, through the built package's `pacer.fetch` (or the one in DIR: a build copied
// aside, to compare) with a stub `fetch` standing in for the server: the pacer's `clock`
// option, and a clock that moves to the earliest pending sleep whenever the process is idle.
// Each run: `4 x limit` calls at once (no concurrency cap, limits learned from the headers),
// a 429 without `retry-after` when the quota is spent, OpenAI (`x-ratelimit-*-requests`, the
// reset a Go duration) or IETF (`RateLimit-Policy` / `RateLimit`) figures, no latency or a
// uniform 0.3-3 s, the first window starting with the batch or 37 s before it, the reset as
// the family writes it (OpenAI's to the millisecond, IETF's whole seconds rounded up) or in
// whole seconds rounded down or to the nearest (a server may round either way). Prints each
// run's makespan over the lower bound (the last window the batch needs opens then; for the
// continuous bucket, its refill) and the 429s, then the worst. `--bare`: the same servers with
// figures that state no limit (an IETF `RateLimit` without its policy, OpenAI's fields without
// the limit) instead. `--retry-after`: each 429 states the server's own wait (`retry-after`,
// whole seconds rounded up: until the window ends, the oldest request expires, one refills).

import { pathToFileURL } from "node:url";
import { BARE_FAMILIES, FAMILIES, ROUNDINGS, runBatch } from "../../tests/js/lib/window-servers.mjs";

const args = process.argv.slice(2);
const at = args.indexOf("--pkg");
const families = Object.keys(args.includes("--bare") ? BARE_FAMILIES : FAMILIES);
const retryAfter = args.includes("--retry-after");
const width = Math.max(8, ...families.map((f) => f.length));
const { Pacer } = await import(at < 0 ? "llm-pacer" : pathToFileURL(`${args[at + 1]}/node/index.mjs`).href);

const rows = [];
console.log(
  `server       ${"headers".padEnd(width)} reset    limit  phase  latency     makespan  ratio   429s  failed`,
);
const KINDS = ["windows", "sliding", "continuous"];
for (const kind of KINDS)
  for (const family of families)
    for (const rounding of [undefined, ...Object.keys(ROUNDINGS)])
      for (const limit of [10, 60])
        for (const phase of kind === "windows" ? [0, 37_000] : [0])
          for (const latency of [false, true]) {
            const r = await runBatch(Pacer, { kind, family, limit, phase, latency, rounding, retryAfter });
            rows.push({ kind, ...r });
            console.log(
              `${kind.padEnd(12)} ${family.padEnd(width)} ${(rounding ?? "as sent").padEnd(8)} ${String(limit).padStart(5)}  ${String(phase / 1000).padStart(4)} s  ${latency ? "0.3-3 s" : "none   "}  ${(r.makespan / 1000).toFixed(1).padStart(9)} s  ${r.ratio.toFixed(3)}  ${String(r.refused).padStart(5)}  ${String(r.failed).padStart(6)}`,
            );
          }
for (const kind of KINDS) {
  const of = rows.filter((r) => r.kind === kind);
  const worst = of.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const r429 = Math.max(...of.map((r) => r.refused));
  const failed = of.reduce((s, r) => s + r.failed, 0);
  console.log(`worst, ${kind}: ratio ${worst.ratio.toFixed(3)}, at most ${r429} 429s in a run, ${failed} calls failed`);
}
