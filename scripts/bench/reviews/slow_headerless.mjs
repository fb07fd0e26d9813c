// Finding 1: configured limits + a server that sends no rate-limit headers + answers that take
// longer than ~3 s => the pacer's requests bucket ends far below the server's, and later calls wait.
// Self-contained: a node:http server answering every POST after 10 s, no rate-limit headers.
// limits: { rpm: 600 } (10/s, bucket 600). Two batches of 30 calls, one after the other.
// Expected: each batch ~10 s (30 requests in a 600 bucket; the server's bucket is full again 3 s after).
import http from "node:http";
import { Pacer } from "llm-pacer";
const LAT = +(process.argv[2] ?? 10_000);
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () =>
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "msg",
          type: "message",
          role: "assistant",
          content: [{ type: "text", text: "ok" }],
          usage: { input_tokens: 10, output_tokens: 5 },
        }),
      );
    }, LAT),
  );
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/v1/messages`;
const pacer = new Pacer({ limits: { rpm: 600 } });
const call = () =>
  pacer
    .fetch(url, {
      method: "POST",
      headers: { "x-api-key": "sk-test-123456789", "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 100,
        messages: [{ role: "user", content: "hello" }],
      }),
    })
    .then((r) => r.json());
for (let b = 1; b <= 2; b++) {
  const t = performance.now();
  await Promise.all(Array.from({ length: 30 }, call));
  const rq = pacer.limits()[0].requests;
  console.log(
    `batch ${b}: 30 calls took ${((performance.now() - t) / 1000).toFixed(1)}s; pacer's requests bucket ${rq.remaining.toFixed(0)}/${rq.limit}, full in ${((rq.resetAt - Date.now()) / 1000).toFixed(0)}s`,
  );
}
pacer.close();
server.closeAllConnections();
server.close();
