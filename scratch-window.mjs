import { Pacer } from "llm-pacer";
import { VirtualClock, T0 } from "./tests/js/lib/harness.mjs";
const [shape, L, W, N] = [process.argv[2] ?? "d06", +(process.argv[3] ?? 20), +(process.argv[4] ?? 10), +(process.argv[5] ?? 200)];
const clock = new VirtualClock();
let windowStart = T0, used = 0, n429 = 0, sent = 0;
const head = (rem, reset) =>
  shape === "d06" ? { "ratelimit-limit": String(L), "ratelimit-remaining": String(rem), "ratelimit-reset": String(reset) }
  : shape === "d07" ? { ratelimit: `limit=${L}, remaining=${rem}, reset=${reset}` }
  : shape === "none" ? {}
  : shape === "d10" ? { ratelimit: `"gw";r=${rem};t=${reset}` }
  : { ratelimit: `"gw";r=${rem};t=${reset}`, "ratelimit-policy": `"gw";q=${L};w=${W}` };
const pacer = new Pacer({ clock, seed: 1, ...(process.env.AUTO ? { concurrency: "auto" } : {}), fetch: async () => {
  const now = clock.now();
  while (now >= windowStart + W * 1000) { windowStart += W * 1000; used = 0; }
  const reset = Math.ceil((windowStart + W * 1000 - now) / 1000);
  sent++;
  if (used >= L) { n429++; return new Response("{}", { status: 429, headers: { ...head(0, reset), "retry-after": String(reset) } }); }
  used++;
  return new Response("{}", { status: 200, headers: head(L - used, reset) });
}});
await Promise.all(Array.from({ length: N }, () => pacer.fetch("https://gw.example/v1/x", { method: "POST", body: "{}" }).then((r) => r.text())));
const ideal = (Math.ceil(N / L) - 1) * W;
console.log(shape, `L=${L} W=${W}s N=${N}: makespan ${(clock.elapsed / 1000).toFixed(1)} s, ideal ${ideal} s, ratio ${(clock.elapsed / 1000 / ideal).toFixed(2)}, 429s ${n429}, sends ${sent}`, JSON.stringify(pacer.limits()[0]?.requests ?? {}));
process.exit(0);
