// Repro: 12 calls of ~4,000-token prompts (16k chars) at once, Tier-1 limits configured correctly,
// mock Anthropic server (server.mjs: continuous buckets, max_tokens reserved, headers at admission).
// Expected: ~36-39 s (ITPM-bound; a naive retry-on-retry-after client takes ~39 s). Prints a timeline.
import { startServer } from "./harness.mjs";
import { Pacer } from "llm-pacer";
const T1 = { rpm: 50, itpm: 30000, otpm: 8000 };
const extra = JSON.parse(process.argv[2] || "{}");
const srv = await startServer({
  family: "anthropic",
  limits: T1,
  outputMode: "reserve",
  outLo: 100,
  outHi: 300,
  latLo: 50,
  latHi: 800,
  ...extra,
});
const url = `http://127.0.0.1:${srv.port}/v1/messages`;
const t0 = Date.now();
const T = () => ((Date.now() - t0) / 1000).toFixed(1);
const pacer = new Pacer({
  limits: T1,
  onEvent: (e) => {
    if (["wait", "retry", "giveup", "admitted"].includes(e.type))
      console.log(T(), `#${e.id}`, e.type, e.reason, "delayMs=" + e.delayMs, e.status ?? "");
  },
});
const ps = [];
for (let i = 0; i < 12; i++)
  ps.push(
    pacer
      .fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "sk-test-key-123456789" },
        body: JSON.stringify({
          model: "claude-sonnet-4-5",
          max_tokens: 512,
          messages: [{ role: "user", content: "a".repeat(15000 + Math.floor(Math.random() * 2000)) }],
        }),
      })
      .then(async (r) => {
        await r.text();
        console.log(T(), "done", i, r.status);
      }),
  );
const iv = setInterval(() => {
  const l = pacer.limits()[0];
  const s = pacer.stats();
  if (l)
    console.log(
      T(),
      `copy: rpm=${l.requests.remaining.toFixed(1)} in=${Math.round(l.inputTokens.remaining)} out=${Math.round(l.outputTokens.remaining)} queued=${s.queued} inFlight=${s.inFlight}`,
    );
}, 5000);
const ok = await Promise.race([
  Promise.all(ps).then(() => true),
  new Promise((r) => setTimeout(() => r(false), 120000)),
]);
clearInterval(iv);
console.log("all done:", ok, "after", T(), "s; server:", JSON.stringify((await srv.stats()).byClient.pacer));
srv.stop();
pacer.close();
process.exit(0);
