// Minimal: 40 calls at once to a headerless self-hosted server with 8 slots (50 ms each, bare 503 beyond),
// through a Pacer with default options. How many calls get the 503 back, and why?
import http from "node:http";
import { Pacer } from "llm-pacer";
let inflight = 0,
  attempts = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    attempts++;
    if (inflight >= 8) {
      res.writeHead(503, { "content-type": "application/json" });
      return res.end('{"object":"error","message":"Service Unavailable","code":503}');
    }
    inflight++;
    setTimeout(() => {
      inflight--;
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}');
    }, 50);
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const gave = {};
let retries = 0;
const p = new Pacer({
  onEvent: (e) => {
    if (e.type === "giveup") gave[e.reason] = (gave[e.reason] ?? 0) + 1;
    if (e.type === "retry") retries++;
  },
});
const t0 = Date.now();
const st = await Promise.all(
  Array.from({ length: 40 }, () =>
    p
      .fetch(`http://127.0.0.1:${server.address().port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"model":"llama","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
      })
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
  ),
);
console.log(
  `${st.filter((s) => s === 503).length}/40 calls returned 503 in ${Date.now() - t0} ms; server attempts ${attempts}; retries ${retries}; giveup ${JSON.stringify(gave)}`,
);
server.close();
