// Drives a workload through llm-pacer (or a naive client) against server.mjs; returns metrics.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Pacer } from "llm-pacer";

const here = fileURLToPath(new URL(".", import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startServer(cfg) {
  const child = fork(here + "server.mjs", [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise((res, rej) => {
    child.once("message", (m) => res(m.port));
    child.once("error", rej);
    child.send({ type: "start", cfg });
  });
  return {
    port,
    stats: () =>
      new Promise((res) => {
        child.once("message", (m) => res(m.stats));
        child.send({ type: "stats" });
      }),
    stop: () => {
      try {
        child.kill("SIGKILL");
      } catch {}
    },
  };
}

function makeNaive({ maxRetries = 10, concurrency = Infinity } = {}) {
  let active = 0;
  const q = [];
  const acquire = () => (active < concurrency ? (active++, Promise.resolve()) : new Promise((r) => q.push(r)));
  const release = () => {
    const n = q.shift();
    if (n) n();
    else active--;
  };
  return async (url, init) => {
    await acquire();
    try {
      for (let n = 0; ; n++) {
        const res = await fetch(url, init);
        if (res.ok || n >= maxRetries || ![429, 500, 502, 503, 529].includes(res.status)) return res;
        await res.arrayBuffer();
        const ra = res.headers.get("retry-after");
        const wait = ra != null ? Number(ra) * 1000 : Math.random() * Math.min(32000, 1000 * 2 ** n);
        await sleep(wait);
      }
    } finally {
      release();
    }
  };
}

const pct = (a, p) => {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

// cell: { name, server: cfg, client: {kind:"pacer", opts} | {kind:"naive", ...}, workload }
// workload: { kind:"burst"|"steady", n, rate (calls/s, steady), promptChars:[lo,hi], maxTokens, stream, model }
export async function runCell(cell) {
  const srv = await startServer(cell.server);
  const url =
    cell.server.family === "anthropic"
      ? `http://127.0.0.1:${srv.port}/v1/messages`
      : `http://127.0.0.1:${srv.port}/v1/chat/completions`;
  let f,
    pacer,
    events = { retry: 0, giveup: {} };
  if (cell.client.kind === "pacer") {
    pacer = new Pacer({
      ...cell.client.opts,
      onEvent: (e) => {
        if (e.type === "retry") events.retry++;
        if (e.type === "giveup") events.giveup[e.reason] = (events.giveup[e.reason] || 0) + 1;
      },
    });
    f = pacer.fetch;
  } else f = makeNaive(cell.client);
  const w = cell.workload;
  const model = w.model ?? (cell.server.family === "anthropic" ? "claude-sonnet-4-5" : "gpt-4o-mini");
  const lat = [],
    fails = {};
  let ok = 0;
  const t0 = performance.now();
  let tEnd = t0;
  const one = async (_i) => {
    const chars = Math.round(w.promptChars[0] + Math.random() * (w.promptChars[1] - w.promptChars[0]));
    const body = { model, max_tokens: w.maxTokens, messages: [{ role: "user", content: "a".repeat(chars) }] };
    if (w.stream) {
      body.stream = true;
      if (cell.server.family !== "anthropic") body.stream_options = { include_usage: true };
    }
    const s = performance.now();
    try {
      const res = await f(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": "sk-test-key-123456789",
          "anthropic-version": "2023-06-01",
          "x-client": "pacer",
        },
        body: JSON.stringify(body),
      });
      const _text = await res.text();
      if (res.status === 200) ok++;
      else fails["status_" + res.status] = (fails["status_" + res.status] || 0) + 1;
    } catch (e) {
      const k = e.code || e.name || "error";
      fails[k] = (fails[k] || 0) + 1;
    }
    const e = performance.now();
    lat.push(e - s);
    if (e > tEnd) tEnd = e;
  };
  const ps = [];
  if (w.kind === "burst") for (let i = 0; i < w.n; i++) ps.push(one(i));
  else {
    for (let i = 0; i < w.n; i++) {
      const at = t0 + (i * 1000) / w.rate;
      const d = at - performance.now();
      if (d > 0) await sleep(d);
      ps.push(one(i));
    }
  }
  const hardCap = (cell.capS ?? 80) * 1000;
  const done = await Promise.race([Promise.all(ps).then(() => true), sleep(hardCap).then(() => false)]);
  const stats = await srv.stats();
  srv.stop();
  const pst = pacer ? pacer.stats() : null;
  if (pacer) pacer.close();
  const me = stats.byClient.pacer || { attempts: 0, r429: 0, r529: 0, inTok: 0, outTok: 0 };
  const total = (tEnd - t0) / 1000;
  // ideal: binding limit's time for the work this client actually did, from full buckets
  const L = cell.server.limits,
    fo = cell.server.others || 0;
  const meanLat = ((cell.server.latLo ?? 50) + (cell.server.latHi ?? 800)) / 2000;
  const dims =
    cell.server.family === "anthropic"
      ? {
          rpm: [w.n, L.rpm],
          itpm: [me.inTok, L.itpm],
          otpm: [me.outTok + (cell.server.outputMode === "reserve" ? w.maxTokens - me.outTok / w.n : 0), L.otpm],
        }
      : {
          rpm: [w.n, L.rpm],
          tpm: [
            me.inTok + me.outTok + (cell.server.chargeMaxTokens === false ? 0 : w.maxTokens - me.outTok / w.n),
            L.tpm,
          ],
        };
  let ideal = 0,
    binding = "";
  for (const [k, [c, lim]] of Object.entries(dims)) {
    const start = lim * (cell.server.startLevel ?? 1);
    const t = Math.max(0, c - start) / ((lim * (1 - fo)) / 60);
    if (t > ideal) {
      ideal = t;
      binding = k;
    }
  }
  if (w.kind === "steady") ideal = Math.max(ideal, (w.n - 1) / w.rate);
  ideal += meanLat;
  const r = {
    name: cell.name,
    n: w.n,
    ok,
    fails,
    done,
    attempts: me.attempts,
    r429: me.r429,
    pct429: +((100 * me.r429) / w.n).toFixed(1),
    r529: me.r529,
    r503: me.r503,
    total: +total.toFixed(1),
    ideal: +ideal.toFixed(1),
    ratio: +(total / ideal).toFixed(2),
    binding,
    p50: Math.round(pct(lat, 0.5)),
    p99: Math.round(pct(lat, 0.99)),
    others: stats.byClient.others ? { ok: stats.byClient.others.ok, r429: stats.byClient.others.r429 } : undefined,
    minLevel: +me.maxLevelDebt?.toFixed?.(3),
    pacer: pst
      ? {
          retries: pst.retries,
          giveup: events.giveup,
          inRes: pst.inputTokensReserved,
          outRes: pst.outputTokensReserved,
        }
      : undefined,
  };
  return r;
}

export async function runCells(cells, parallel = 1) {
  const out = [];
  let i = 0;
  const worker = async () => {
    while (i < cells.length) {
      const c = cells[i++];
      const r = await runCell(c);
      console.log(JSON.stringify(r));
      out.push(r);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}
