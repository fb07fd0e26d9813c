// `concurrency: "auto"` against a fast server (session 40): N calls submitted at once to a
// headerless server with S slots answering in M ms (a call beyond the slots gets an immediate
// bare 503), through a Pacer with `concurrency: "auto"` or a fixed N. Prints the wall time,
// the attempts and 503s, and a timeline of the server's slots in use (the time-weighted mean
// and the most per step).
//   node scripts/bench/reviews/auto_fast.mjs [calls=2000] [slots=8] [ms=20] [auto|N] [--jitter 0.2] [--every 500]
import http from "node:http";
import { Pacer } from "llm-pacer";

const flag = (name, def) => {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  process.argv.splice(i, 2);
  return v;
};
const jitter = flag("--jitter", 0);
const every = flag("--every", 500);
const trace = flag("--trace", 0);
const [calls = 2000, slots = 8, ms = 20] = process.argv.slice(2, 5).map(Number);
const setting = process.argv[5] ?? "auto";
const concurrency = setting === "auto" ? "auto" : Number(setting);

const t0 = performance.now();
const clock = () => performance.now() - t0;
let inflight = 0,
  attempts = 0,
  refused = 0,
  changed = 0;
// One step of the timeline: slot-ms in use, the most in use, answered, refused.
const steps = [];
const step = (i) => {
  while (steps.length <= i) steps.push({ area: 0, max: 0, ok: 0, refused: 0 });
  return steps[i];
};
const at = (t) => step(Math.floor(t / every));
const move = (d) => {
  const now = clock();
  // Spread the slots in use since the last change over the steps it spans.
  for (let i = Math.floor(changed / every); i * every < now; i++) {
    const from = Math.max(changed, i * every);
    step(i).area += inflight * (Math.min(now, (i + 1) * every) - from);
  }
  changed = now;
  inflight += d;
  const s = at(now);
  s.max = Math.max(s.max, inflight);
};
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    attempts++;
    if (inflight >= slots) {
      refused++;
      at(clock()).refused++;
      res.writeHead(503, { "content-type": "application/json" });
      return res.end('{"object":"error","message":"Service Unavailable","code":503}');
    }
    move(1);
    const wait = ms * (1 + jitter * (2 * Math.random() - 1));
    setTimeout(() => {
      move(-1);
      at(clock()).ok++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}');
    }, wait);
  });
});
server.keepAliveTimeout = 60_000;
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/v1/chat/completions`;

// --trace K: the first K attempts as the pacer saw them (sent, answered, status, in flight).
const traced = [];
let sent = 0;
const fetchTraced = async (u, init) => {
  const sentAt = clock();
  const flying = ++sent;
  try {
    const r = await fetch(u, init);
    if (traced.length < trace) traced.push(`${sentAt.toFixed(1)}->${clock().toFixed(1)} ${r.status} ${flying}`);
    return r;
  } finally {
    sent--;
  }
};
const p = new Pacer({ concurrency, ...(trace ? { fetch: fetchTraced } : {}) });
const pending = Array.from({ length: calls }, () =>
  p
    .fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model":"llama","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
    })
    .then(
      async (r) => {
        await r.arrayBuffer();
        return r.status;
      },
      () => "error",
    ),
);
const submitted = clock();
const st = await Promise.all(pending);
const wall = clock();
move(0);
const bad = st.filter((s) => s !== 200).length;
const floor = (calls / slots) * ms;
console.log(
  `${calls} calls, ${slots} slots of ${ms} ms${jitter ? ` (±${jitter * 100}%)` : ""}, concurrency ${JSON.stringify(concurrency)}: ` +
    `${(wall / 1000).toFixed(2)} s (${(wall / floor).toFixed(2)}x the ${(floor / 1000).toFixed(2)} s floor), ` +
    `${attempts} attempts, ${refused} 503s (${((100 * refused) / attempts).toFixed(1)}%), ${bad} calls not 200`,
);
if (trace)
  console.log(
    `submitted in ${submitted.toFixed(0)} ms; first attempts (sent->answered ms, status, in flight): ${traced.join(", ")}`,
  );
console.log(`slots in use per ${every} ms (mean/most, answered, 503s):`);
const cells = steps.map(
  (s, i) =>
    `${((i * every) / 1000).toFixed(1).padStart(5)}s ${(s.area / every).toFixed(1).padStart(4)}/${String(s.max).padEnd(2)} ${String(s.ok).padStart(4)} ${String(s.refused).padStart(3)}`,
);
for (let i = 0; i < cells.length; i += 4) console.log(cells.slice(i, i + 4).join("  |"));
server.close();
p.close?.();
