// Groq's 429: `retry-after: 2` beside token figures that say 0 left and full again in 7.66 s.
// The server admits the retry after 2 s. How long does the pacer wait between the attempts?
// (Before session 39 it waited the figures' 7.7 s; the bound is retry-after's 2.2 s.)
import http from "node:http";
import { Pacer } from "llm-pacer";
const times = [];
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    times.push(Date.now());
    if (times.length === 1) {
      res.writeHead(429, {
        "content-type": "application/json",
        "retry-after": "2",
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-remaining-requests": "14399",
        "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "7.66s",
      });
      return res.end(
        '{"error":{"message":"Rate limit reached for model `llama-3.1-8b-instant` on tokens per minute (TPM): Limit 6000, Used 6000, Requested 120. Please try again in 1.2s.","type":"tokens","code":"rate_limit_exceeded"}}',
      );
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":20,"completion_tokens":1}}');
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const p = new Pacer();
const r = await p.fetch(`http://127.0.0.1:${server.address().port}/openai/v1/chat/completions`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: '{"model":"llama-3.1-8b-instant","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
});
await r.arrayBuffer();
console.log(
  `status ${r.status} after ${times.length} attempts; between the first two: ${times.length > 1 ? times[1] - times[0] : "-"} ms (retry-after 2 s; the token figures' reset 7.66 s)`,
);
server.close();
