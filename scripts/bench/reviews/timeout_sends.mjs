// Calls sent with almost no time left. 5,000 calls at once (or the first argument), `concurrency`
// 10, `timeoutMs` 2,000, against a server answering in 50 ms: most calls wait out their time in
// the queue; how many attempts still reach the server with 5 ms or less before the call's
// deadline (each costs the server a request, then is aborted on the wire)?
import http from "node:http";
import { Pacer } from "llm-pacer";
const calls = Number(process.argv[2] ?? 5000);
const TIMEOUT = 2000;
let attempts = 0,
  late = 0;
const server = http.createServer((req, res) => {
  attempts++;
  const left = Number(req.headers["x-call-start"]) + TIMEOUT - Date.now();
  if (left <= 5) late++;
  req.resume();
  req.on("end", () =>
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}');
    }, 50),
  );
});
server.on("clientError", () => {});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const p = new Pacer({ concurrency: 10, timeoutMs: TIMEOUT });
const url = `http://127.0.0.1:${server.address().port}/v1/chat/completions`;
const outcomes = {};
await Promise.all(
  Array.from({ length: calls }, () =>
    p
      .fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-call-start": String(Date.now()) },
        body: '{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
      })
      .then(async (r) => {
        await r.arrayBuffer();
        return `status ${r.status}`;
      })
      .catch((e) => e.code ?? e.name)
      .then((o) => {
        outcomes[o] = (outcomes[o] ?? 0) + 1;
      }),
  ),
);
console.log(
  `${calls} calls: ${JSON.stringify(outcomes)}; attempts ${attempts}, ${late} of them with 5 ms or less left`,
);
server.close();
