// Repro: lone pacer (Tier-1 limits configured) + other clients (not paced) using 30% of each limit.
// 45 calls at once, max_tokens 4096, real output 100-300 tokens. Server: server.mjs, Anthropic rules,
// max_tokens reserved up front, figures at admission. Expected ~50 s (70% of 8,000 OTPM for ~9,000
// output tokens + one 4,096 reservation). Prints the pacer's copy and progress every 5 s.
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
  others: 0.3,
  ...extra,
});
const url = `http://127.0.0.1:${srv.port}/v1/messages`;
const t0 = Date.now();
const T = () => ((Date.now() - t0) / 1000).toFixed(1);
let done = 0,
  r429 = 0;
const pacer = new Pacer({
  limits: T1,
  onEvent: (e) => {
    if (e.type === "retry") r429++;
  },
});
const ps = [];
for (let i = 0; i < 45; i++)
  ps.push(
    pacer
      .fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "sk-test-key-123456789" },
        body: JSON.stringify({
          model: "claude-sonnet-4-5",
          max_tokens: 4096,
          messages: [{ role: "user", content: "a".repeat(400 + Math.floor(Math.random() * 1600)) }],
        }),
      })
      .then(async (r) => {
        await r.text();
        done++;
      }),
  );
const iv = setInterval(() => {
  const l = pacer.limits()[0];
  const s = pacer.stats();
  if (l)
    console.log(
      T(),
      `done=${done} retries=${r429} copy: rpm=${l.requests.remaining.toFixed(1)} in=${Math.round(l.inputTokens.remaining)} out=${Math.round(l.outputTokens.remaining)} (${l.outputTokens.source}) queued=${s.queued} inFlight=${s.inFlight}`,
    );
}, 5000);
const ok = await Promise.race([
  Promise.all(ps).then(() => true),
  new Promise((r) => setTimeout(() => r(false), 150000)),
]);
clearInterval(iv);
const st = await srv.stats();
console.log(
  "all done:",
  ok,
  "done",
  done,
  "/45 after",
  T(),
  "s; server pacer:",
  JSON.stringify(st.byClient.pacer),
  "others:",
  JSON.stringify(st.byClient.others),
);
srv.stop();
pacer.close();
process.exit(0);
