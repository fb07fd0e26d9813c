#!/usr/bin/env node
// The full chaos soak (issue 6, item 2): `node scripts/soak.mjs [--requests 20000] [--seed S]
// [--json]`. N calls through one Pacer against the Anthropic mock with random faults and random
// caller aborts (tests/js/lib/soak.mjs describes the mix). Prints a summary and exits non-zero
// on any violation: a call lost or settled twice, stats() not adding up, a request over the
// server's limits (the mock enforces them like the API: each is a bucket 429), work or timers
// left after close(), memory growing from 1/4 to the end.
// Not part of the suite (tests/js/soak.test.mjs runs a short one). Re-runs itself with
// --expose-gc so the memory samples are taken after a full GC. Loopback only; it stops by itself.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
if (typeof globalThis.gc !== "function") {
  const r = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), ...args], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
const { runSoak, violations } = await import("../tests/js/lib/soak.mjs");

const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const requests = opt("requests", 20_000);
const seed = opt("seed", Math.floor(Math.random() * 2 ** 31));
const json = args.includes("--json");
if (!(Number.isInteger(requests) && requests > 0) || !Number.isInteger(seed)) {
  console.error("usage: node scripts/soak.mjs [--requests N] [--seed S] [--json]");
  process.exit(2);
}
if (!json)
  console.log(
    `soak: seed ${seed}, ${requests} requests (rerun: node scripts/soak.mjs --requests ${requests} --seed ${seed})`,
  );
const s = await runSoak({ requests, seed, boundMs: Math.max(60_000, requests * 20) });
const v = violations(s);
if (json) {
  console.log(JSON.stringify({ ...s, violations: v }));
} else {
  const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const mem = (m) =>
    m ? `heap ${mb(m.heapUsed)}, rss ${mb(m.rss)}, wasm ${m.wasm === null ? "n/a" : mb(m.wasm)}` : "n/a";
  console.log(
    `requests ${s.requests}, settled ${s.settled}, lost ${s.lost}, settled twice ${s.settledTwice}, duration ${(s.durationMs / 1000).toFixed(1)} s`,
  );
  console.log("by outcome:");
  for (const [k, n] of Object.entries(s.outcomes).sort((a, b) => b[1] - a[1]))
    console.log(`  ${String(n).padStart(7)}  ${k}`);
  const st = s.stats;
  console.log(
    `stats(): attempts ${st.attempts}, retries ${st.retries}, rateLimited ${st.rateLimited}, overloaded ${st.overloaded}, serverErrors ${st.serverErrors}, networkErrors ${st.networkErrors}, waitMs ${Math.round(st.waitMs)}, queued ${st.queued}, inFlight ${st.inFlight}`,
  );
  console.log(
    `server (enforcing its limits): requests ${s.mock.requests}, admitted ${s.mock.admitted}, bucket 429s ${s.mock.limited}, injected faults ${s.mock.faults}, client aborts ${s.mock.aborted}`,
  );
  console.log(`wire: fetch calls ${s.wire.calls}, aborted in transit ${s.wire.aborted}, failed ${s.wire.failed}`);
  console.log(`memory: before ${mem(s.memory.before)}; at 1/4 ${mem(s.memory.quarter)}; end ${mem(s.memory.after)}`);
  console.log(v.length ? `FAIL (${v.length}):\n  ${v.join("\n  ")}` : "PASS: nothing lost, every rule held");
}
process.exitCode = v.length ? 1 : 0;
