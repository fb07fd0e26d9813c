// Repro: lone pacer, Tier-1 limits configured exactly, 55 small calls at once (max_tokens 1024, real output 50-150).
// Server: server.mjs, Anthropic rules, max_tokens reserved, figures written at admission (pass {"headAfterSettle":true} to compare).
// Ideal ~6.4 s (50 rpm burst + 5 at 0.83/s). Prints the pacer copy each second: watch queued>0, inflight=0 with room.
import { startServer } from "./harness.mjs";
import { Pacer } from "llm-pacer";
const T1 = { rpm: 50, itpm: 30000, otpm: 8000 };
const extra = JSON.parse(process.argv[2] || "{}");
const srv = await startServer({
  family: "anthropic",
  limits: T1,
  outputMode: "reserve",
  outLo: 50,
  outHi: 150,
  ...extra,
});
const url = `http://127.0.0.1:${srv.port}/v1/messages`;
const t0 = Date.now();
const log = [];
const pacer = new Pacer({
  limits: T1,
  onEvent: (e) => {
    if (e.type !== "queued")
      log.push(`${((e.at - t0) / 1000).toFixed(2)} #${e.id} ${e.type} ${e.reason} d=${e.delayMs} ${e.status ?? ""}`);
  },
});
const ps = [];
for (let i = 0; i < 55; i++)
  ps.push(
    pacer
      .fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "sk-test-key-123456789" },
        body: JSON.stringify({
          model: "claude-sonnet-4-5",
          max_tokens: 1024,
          messages: [{ role: "user", content: "a".repeat(1000) }],
        }),
      })
      .then((r) => r.text()),
  );
const iv = setInterval(() => {
  const l = pacer.limits()[0];
  if (l)
    log.push(
      `${((Date.now() - t0) / 1000).toFixed(2)} LIMITS rpm=${l.requests?.remaining}/${l.requests?.limit} in=${l.inputTokens?.remaining} out=${l.outputTokens?.remaining}/${l.outputTokens?.limit} ${l.outputTokens?.source} inflight=${pacer.stats().inFlight} q=${pacer.stats().queued}`,
    );
}, 1000);
await Promise.all(ps);
clearInterval(iv);
console.log(log.join("\n"));
console.log("total", (Date.now() - t0) / 1000, JSON.stringify((await srv.stats()).byClient));
srv.stop();
