// Repro: OpenAI-style server (x-ratelimit-* headers, Go-duration resets, charges input+max_tokens at
// admission and gives back the unused part at the end; 429 body "Please try again in 1.2s", no retry-after).
// Pacer configured with the server's exact limits (rpm 60, tpm 30,000); 70 calls at once.
// README: "a request it lets through is one the server will accept". Prints each 429's reason.
import { startServer } from "./harness.mjs";
import { Pacer } from "llm-pacer";
const L = { rpm: 60, tpm: 30000 };
const extra = JSON.parse(process.argv[2] || "{}");
const learn = process.argv[3] === "learn";
const srv = await startServer({ family: "openai", limits: L, outLo: 50, outHi: 150, latLo: 50, latHi: 800, ...extra });
const url = `http://127.0.0.1:${srv.port}/v1/chat/completions`;
const t0 = Date.now();
const T = () => ((Date.now() - t0) / 1000).toFixed(1);
const spy = async (u, init) => {
  const r = await fetch(u, init);
  if (r.status === 429) {
    const b = await r.clone().json();
    console.log(
      T(),
      "429:",
      b.error.message.slice(0, 110),
      "| remaining-req",
      r.headers.get("x-ratelimit-remaining-requests"),
      "reset-req",
      r.headers.get("x-ratelimit-reset-requests"),
    );
  }
  return r;
};
const pacer = new Pacer({ limits: learn ? undefined : L, fetch: spy });
const ps = [],
  lat = [];
for (let i = 0; i < 70; i++) {
  const s = Date.now();
  ps.push(
    pacer
      .fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-test-key-123456789" },
        body: JSON.stringify({
          model: "gpt-4o-mini",
          max_tokens: 256,
          messages: [{ role: "user", content: "a".repeat(400 + Math.floor(Math.random() * 1600)) }],
        }),
      })
      .then(async (r) => {
        await r.text();
        lat.push(Date.now() - s);
        return r.status;
      }),
  );
}
const st = await Promise.all(ps);
console.log(
  "total",
  T(),
  "s; non-200:",
  st.filter((s) => s !== 200).length,
  "pacer stats:",
  JSON.stringify({ rateLimited: pacer.stats().rateLimited, attempts: pacer.stats().attempts }),
  "ideal ~10.4 s (rpm: 10 calls beyond 60 at 1/s)",
);
srv.stop();
process.exit(0);
