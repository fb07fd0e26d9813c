// Minimal: a headerless self-hosted server (8 slots, 200 ms) restarts 1 s into a 100-call batch and is
// down (connection refused) for 10 s. pacer concurrency:"auto", plain pacer.fetch.
// How many calls are lost, how fast, and why (giveup reasons)?
import http from "node:http";
import { Pacer } from "llm-pacer";
const C = 8,
  S = 200,
  N = 100,
  DOWN = Number(process.argv[2] ?? 10000);
let inflight = 0;
const sockets = new Set();
const handler = (req, res) => {
  req.resume();
  req.on("end", () => {
    if (inflight >= C) {
      res.writeHead(503);
      return res.end('{"error":{"code":503,"message":"busy"}}');
    }
    inflight++;
    setTimeout(() => {
      inflight--;
      if (!res.destroyed) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":5}}');
      }
    }, S);
  });
};
const mk = () => {
  const s = http.createServer(handler);
  s.on("connection", (c) => {
    sockets.add(c);
    c.on("close", () => sockets.delete(c));
  });
  return s;
};
let server = mk();
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;
let upAt;
setTimeout(() => {
  server.close();
  for (const s of sockets) s.destroy();
  inflight = 0;
  setTimeout(() => {
    server = mk();
    server.listen(port, "127.0.0.1");
    upAt = Date.now();
  }, DOWN);
}, 1000);
const giveups = {};
let retries = 0;
const p = new Pacer({
  concurrency: "auto",
  onEvent: (e) => {
    if (e.type === "giveup") giveups[e.reason] = (giveups[e.reason] ?? 0) + 1;
    if (e.type === "retry") retries++;
  },
});
const t0 = Date.now();
const failTimes = [];
const out = await Promise.allSettled(
  Array.from({ length: N }, () =>
    p
      .fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"model":"llama","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}',
      })
      .then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        (e) => {
          failTimes.push(Date.now() - t0);
          throw e;
        },
      ),
  ),
);
const ok = out.filter((o) => o.status === "fulfilled" && o.value === 200).length;
console.log(
  `outage ${DOWN} ms from t=1000 ms: ${ok}/${N} succeeded, ${N - ok} lost; last failure at t=${Math.max(...failTimes, 0)} ms (server back at t=${upAt ? upAt - t0 : "not yet"}); retries=${retries}; giveup reasons ${JSON.stringify(giveups)}`,
);
console.log(
  "first rejection:",
  out.find((o) => o.status === "rejected")?.reason?.cause?.code ??
    out.find((o) => o.status === "rejected")?.reason?.message,
);
process.exit(0);
