// Mistral: a 429 whose monthly token quota is spent (`x-ratelimit-remaining-tokens-month: 0`)
// while the per-minute figures have room. Waiting does not help until the month turns: the
// 429 should be handed back at once (classified `insufficient_quota`), not retried.
// (Before session 39: 7 attempts and a 429 after some 25 s.)
import http from "node:http";
import { classify, Pacer, PacerError } from "llm-pacer";
let attempts = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    attempts++;
    res.writeHead(429, {
      "content-type": "application/json",
      "x-ratelimit-limit-tokens-minute": "500000",
      "x-ratelimit-remaining-tokens-minute": "499000",
      "x-ratelimit-limit-tokens-month": "1000000000",
      "x-ratelimit-remaining-tokens-month": "0",
      "x-ratelimit-limit-req-minute": "60",
      "x-ratelimit-remaining-req-minute": "59",
    });
    res.end(
      '{"object":"error","message":"Requests rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}',
    );
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const p = new Pacer();
const t0 = Date.now();
let outcome;
try {
  const r = await p.fetch(`http://127.0.0.1:${server.address().port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"model":"mistral-small-latest","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
  });
  const c = classify(r.status, r.headers, await r.json());
  outcome = `status ${r.status} (classify: ${JSON.stringify(c)})`;
} catch (e) {
  outcome = e instanceof PacerError ? `${e.name} (${e.code})` : String(e);
}
console.log(`${outcome} after ${attempts} attempts in ${Date.now() - t0} ms`);
server.close();
