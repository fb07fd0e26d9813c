// Benchmark (i), two builds side by side: the cost of a call through `pacer.fetch` of package A
// and of package B, in one process, rounds alternating (A B, B A, ...) so that drift in the
// machine's load falls on both alike, with a stub `fetch` and the body read four ways.
//
//   node scripts/bench/ab.mjs <package dir A> <package dir B> [--rounds R] [--calls N] [--long]
//                             [--events] [--cold MB]
//
// `--long`: every request is the 64 KB conversation of decisions.mjs instead of a small one.
// `--events`: every pacer has an `onEvent` listener (which does nothing).
// `--cold MB`: before each call, MB megabytes of other data are touched (only the calls are
// timed), so that each call finds the CPU's caches cold, as in a process with other work: a
// call then costs two to three times as much, and a build's code and data footprint shows.
//
// A package dir is a built `pkg/` (copy one aside before changing the code: `cp -r pkg
// /tmp/pkg-a`). Prints, per way of reading, the second-fastest round of each (a low quantile
// is steadier than the median on a shared machine) and B / A.

import path from "node:path";
import { pathToFileURL } from "node:url";
import { CONVERSATION_BODY, MESSAGE_BODY, MESSAGES_INIT } from "./fixtures.mjs";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args[i + 1]);
};
const [dirA, dirB] = args.filter((a, i) => !a.startsWith("--") && !["--rounds", "--calls"].includes(args[i - 1]));
if (!dirA || !dirB) {
  console.error(
    "usage: node scripts/bench/ab.mjs <package dir A> <package dir B> [--rounds R] [--calls N] [--long] [--events]",
  );
  process.exit(2);
}
const COLD_MB = flag("--cold", 0);
const ROUNDS = flag("--rounds", 15);
const CALLS = flag("--calls", COLD_MB ? 300 : 3000);
const load = (dir) => import(pathToFileURL(path.resolve(dir, "node/index.mjs")).href);
const [A, B] = await Promise.all([load(dirA), load(dirB)]);

const body = MESSAGE_BODY;
const headers = {
  "content-type": "application/json",
  "request-id": "req_bench",
  "anthropic-ratelimit-requests-limit": "1000000",
  "anthropic-ratelimit-requests-remaining": "999999",
  "anthropic-ratelimit-requests-reset": "2026-12-04T12:00:00Z",
};
const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const sse =
  event("message_start", {
    type: "message_start",
    message: { id: "m", usage: { input_tokens: 25, output_tokens: 1 } },
  }) +
  event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } }) +
  event("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 15 } }) +
  event("message_stop", { type: "message_stop" });
const init = args.includes("--long") ? { ...MESSAGES_INIT, body: CONVERSATION_BODY } : MESSAGES_INIT;
/** `--events`: each pacer with a listener, as `onEvent`, `debug` or OpenTelemetry add one. */
const onEvent = args.includes("--events") ? () => {} : undefined;
const make = (M, stream) =>
  new M.Pacer({
    fetch: async () =>
      stream
        ? new Response(sse, { headers: { ...headers, "content-type": "text/event-stream" } })
        : new Response(body, { headers }),
    onEvent,
  });

/** `--cold`: the other data, touched a cache line (64 bytes) at a time before each call. */
const other = new Float64Array(COLD_MB * 131_072);
let sink = 0;
const evict = () => {
  for (let i = 0; i < other.length; i += 8) sink += other[i]++;
};

/** µs per call, `CALLS` calls one at a time, each body read with `read`. */
async function round(pacer, read) {
  if (COLD_MB) {
    let ms = 0;
    for (let i = 0; i < CALLS; i++) {
      evict();
      const t = performance.now();
      await (await pacer.fetch("https://api.example/v1/messages", init))[read]();
      ms += performance.now() - t;
    }
    return (ms * 1000) / CALLS;
  }
  const t = performance.now();
  for (let i = 0; i < CALLS; i++) await (await pacer.fetch("https://api.example/v1/messages", init))[read]();
  await new Promise((r) => setTimeout(r, 0));
  return ((performance.now() - t) * 1000) / CALLS;
}
const low = (xs) => [...xs].sort((x, y) => x - y)[1];

console.log(
  `A: ${dirA}\nB: ${dirB}\n${ROUNDS} alternating rounds of ${CALLS} calls${COLD_MB ? `, ${COLD_MB} MB touched before each` : ""} (Node ${process.version})\n`,
);
console.log("body read            A µs/call   B µs/call   B / A   usage settled (A, B)");
for (const [read, stream] of [
  ["json", false],
  ["text", false],
  ["arrayBuffer", false],
  ["text", true],
]) {
  const [pa, pb] = [make(A, stream), make(B, stream)];
  await round(pa, read);
  await round(pb, read);
  const a = [];
  const b = [];
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2) {
      b.push(await round(pb, read));
      a.push(await round(pa, read));
    } else {
      a.push(await round(pa, read));
      b.push(await round(pb, read));
    }
  }
  const label = `${read}${stream ? " (stream)" : ""}`;
  const used = [pa, pb].map((p) => p.stats().outputTokensUsed > 0).join(", ");
  console.log(
    `${label.padEnd(18)} ${low(a).toFixed(1).padStart(10)} ${low(b).toFixed(1).padStart(11)} ${(low(b) / low(a)).toFixed(3).padStart(7)}   ${used}`,
  );
  pa.close();
  pb.close();
}
if (sink < 0) console.log(sink); // keeps `--cold`'s reads from being optimised away
