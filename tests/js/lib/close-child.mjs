// Run by contract-lifecycle.test.mjs in a child process: a program that uses a pacer with the
// real clock (real timers), leaves work queued and backing off, then closes the pacer and its
// server. With `close`, nothing may keep the event loop alive: the process must exit by itself.
// `node close-child.mjs no-close` skips `pacer.close()` (the control: then it must hang).
import { createServer } from "node:http";
import { Pacer } from "llm-pacer";

const closeIt = process.argv[2] !== "no-close";

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.url === "/busy") {
      res.writeHead(503, { "content-type": "application/json" });
      return res.end('{"type":"error","error":{"type":"api_error"}}');
    }
    res.writeHead(200, { "content-type": "application/json", connection: "close" });
    res.end('{"usage":{"input_tokens":3,"output_tokens":4}}');
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const init = {
  method: "POST",
  headers: { "content-type": "application/json", connection: "close" },
  body: '{"max_tokens":8,"messages":[]}',
};

// rpm 1: the first call goes, the second waits about a minute in the queue (a timer), and
// timeoutMs arms a deadline for each.
const pacer = new Pacer({ limits: { rpm: 1 }, timeoutMs: 600_000 });
const first = await pacer.fetch(`${base}/ok`, init);
await first.text();
const queued = pacer.fetch(`${base}/ok`, init).then(
  (r) => `resolved ${r.status}`,
  (e) => `rejected ${e.code}`,
);
// A 503 with a 50 s backoff: a call waiting out its retry (another timer).
const backoff = new Pacer({ retry: { jitter: "none", initialDelayMs: 50_000 } });
const retrying = backoff.fetch(`${base}/busy`, init).then((r) => `resolved ${r.status}`);
// Let both reach their waits.
while (pacer.stats().queued !== 1 || backoff.stats().queued !== 1) await new Promise((r) => setImmediate(r));

if (closeIt) {
  pacer.close();
  backoff.close();
  console.log(JSON.stringify({ queued: await queued, retrying: await retrying, stats: pacer.stats() }));
} else {
  console.log("not closing");
}
server.close();
server.closeAllConnections?.();
