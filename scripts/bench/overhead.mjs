// Benchmark (c), wrapper overhead: requests per second through `pacer.fetch` against raw
// `fetch`, to a local node:http server with no limits (in a child process, so that it does not
// share the client's event loop), as a ratio from one run.
//
//   node scripts/bench/overhead.mjs [--seconds-per-round S] [--rounds R] [--concurrency C]
//
// The client keeps C requests in flight and reads every body. Rounds alternate (raw, pacer,
// raw, pacer, ...; R of each, 1.5 s each by default) so that drift in the machine's load
// falls on both alike; the medians are compared. Two bodies: a Messages-like JSON answer
// with `usage` and Anthropic rate-limit headers (the pacer sees the usage as the client reads
// the body), and an empty 204-like 200. Last, the same for a wrapper that does nothing but
// read every response header: the floor of any wrapper that reads rate-limit headers.

import { fork } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { MESSAGE_BODY, MESSAGES_INIT } from "./fixtures.mjs";

if (process.argv[2] === "--server") {
  const body = MESSAGE_BODY;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/empty") {
        res.writeHead(200, { "content-length": "0" });
        return res.end();
      }
      const reset = new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, "Z");
      res.writeHead(200, {
        "content-type": "application/json",
        "request-id": "req_bench",
        "anthropic-ratelimit-requests-limit": "1000000",
        "anthropic-ratelimit-requests-remaining": "999999",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-input-tokens-limit": "1000000000",
        "anthropic-ratelimit-input-tokens-remaining": "1000000000",
        "anthropic-ratelimit-input-tokens-reset": reset,
        "anthropic-ratelimit-output-tokens-limit": "1000000000",
        "anthropic-ratelimit-output-tokens-remaining": "1000000000",
        "anthropic-ratelimit-output-tokens-reset": reset,
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
} else {
  const { Pacer } = await import("llm-pacer");
  const args = process.argv.slice(2);
  const flag = (name, dflt) => {
    const i = args.indexOf(name);
    return i < 0 ? dflt : Number(args[i + 1]);
  };
  const ROUND_MS = flag("--seconds-per-round", 1.5) * 1000;
  const ROUNDS = flag("--rounds", 5);
  const C = flag("--concurrency", 16);

  const child = fork(fileURLToPath(import.meta.url), ["--server"], { stdio: "inherit" });
  const port = await new Promise((resolve) => child.once("message", resolve));
  const init = MESSAGES_INIT;

  /** Requests per second with C in flight for ROUND_MS. */
  async function round(f, url) {
    let done = 0;
    const end = performance.now() + ROUND_MS;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (performance.now() < end) {
          const res = await f(url, init);
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`status ${res.status}`);
          done++;
        }
      }),
    );
    return (done * 1000) / (performance.now() - t);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

  console.log(
    `wrapper overhead: ${C} in flight, ${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s each (Node ${process.version})\n`,
  );
  console.log("body                          raw fetch req/s   pacer.fetch req/s   ratio");
  for (const [label, path] of [
    ["JSON with usage + headers", "/v1/messages"],
    ["empty 200", "/empty"],
  ]) {
    const url = `http://127.0.0.1:${port}${path}`;
    const pacer = new Pacer();
    await round(fetch, url); // warm up both
    await round(pacer.fetch, url);
    const raw = [];
    const paced = [];
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(await round(fetch, url));
      paced.push(await round(pacer.fetch, url));
    }
    const [a, b] = [median(raw), median(paced)];
    console.log(
      `${label.padEnd(28)}  ${a.toFixed(0).padStart(15)}   ${b.toFixed(0).padStart(17)}   ${(b / a).toFixed(3)}`,
    );
    pacer.close();
  }
  // The floor of any wrapper that reads the rate-limit headers: one that only reads them all.
  const url = `http://127.0.0.1:${port}/v1/messages`;
  const headersOnly = async (u, i) => {
    const res = await fetch(u, i);
    let lines = "";
    for (const [name, value] of res.headers) lines += `${name}:${value}\n`;
    if (lines.length === 0) throw new Error("no headers");
    return res;
  };
  await round(headersOnly, url);
  const raw = [];
  const wrapped = [];
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(await round(fetch, url));
    wrapped.push(await round(headersOnly, url));
  }
  console.log(
    `\na wrapper that only reads every response header (JSON): ${(median(wrapped) / median(raw)).toFixed(3)}x raw fetch`,
  );
  child.kill();
}
