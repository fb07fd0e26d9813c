// Independent mock of rate-limited LLM APIs, written from the providers' public rules.
// Runs as a child process (fork); config comes via IPC, stats go back via IPC.
//   family: "anthropic" | "openai" | "bare"
import http from "node:http";

const now = () => performance.now();
let cfg;
const rnd = (a, b) => a + Math.random() * (b - a);

class Bucket {
  constructor(limit, start = 1) {
    this.limit = limit;
    this.level = limit * start;
    this.t = now();
  }
  refill(t = now()) {
    this.level = Math.min(this.limit, this.level + ((t - this.t) / 60000) * this.limit);
    this.t = t;
  }
  get rate() {
    return this.limit / 60000;
  } // per ms
  take(x) {
    this.refill();
    this.level -= x;
  }
  give(x) {
    this.refill();
    this.level = Math.min(this.limit, this.level + x);
  }
  waitMs(x) {
    this.refill();
    return this.level >= x ? 0 : (x - this.level) / this.rate;
  }
  fullInMs() {
    this.refill();
    return Math.max(0, (this.limit - this.level) / this.rate);
  }
}

let B = {}; // name -> Bucket
const stats = { byClient: {}, arrivals: 0 };
const st = (c) =>
  (stats.byClient[c] ??= { attempts: 0, ok: 0, r429: 0, r529: 0, r503: 0, inTok: 0, outTok: 0, maxLevelDebt: 0 });
const history = []; // [{t, levels:{name:level}, full:{name:ms}}]
let inflight = 0;

function snapshot() {
  const s = { t: now(), lv: {}, full: {} };
  for (const [k, b] of Object.entries(B)) {
    b.refill();
    s.lv[k] = b.level;
    s.full[k] = b.fullInMs();
  }
  return s;
}
function headerState() {
  const d = cfg.headerDelayMs || 0;
  if (!d) return snapshot();
  const target = now() - d;
  let best = history[0] || snapshot();
  for (const h of history)
    if (h.t <= target) best = h;
    else break;
  // full time measured relative to the snapshot: shift so "reset" is as it was then
  return best;
}
const roundDown = (v, step) => (step > 1 ? Math.floor(v / step) * step : Math.floor(v));

function goDur(ms) {
  ms = Math.max(0, Math.round(ms));
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${+s.toFixed(3)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${+(s - m * 60).toFixed(3)}s`;
}

function rlHeaders(hs) {
  const h = {};
  const stepT = cfg.roundTokens || 1,
    stepR = cfg.roundRequests || 1;
  const wall = Date.now() - (now() - hs.t);
  if (cfg.family === "anthropic") {
    for (const [k, name] of [
      ["rpm", "requests"],
      ["itpm", "input-tokens"],
      ["otpm", "output-tokens"],
    ]) {
      if (!B[k]) continue;
      const step = k === "rpm" ? stepR : stepT;
      h[`anthropic-ratelimit-${name}-limit`] = String(B[k].limit);
      h[`anthropic-ratelimit-${name}-remaining`] = String(Math.max(0, roundDown(hs.lv[k], step)));
      h[`anthropic-ratelimit-${name}-reset`] = new Date(Math.ceil((wall + hs.full[k]) / 1000) * 1000)
        .toISOString()
        .replace(".000Z", "Z");
    }
  } else if (cfg.family === "openai") {
    for (const [k, name] of [
      ["rpm", "requests"],
      ["tpm", "tokens"],
    ]) {
      const step = k === "rpm" ? stepR : stepT;
      h[`x-ratelimit-limit-${name}`] = String(B[k].limit);
      h[`x-ratelimit-remaining-${name}`] = String(Math.max(0, roundDown(hs.lv[k], step)));
      h[`x-ratelimit-reset-${name}`] = goDur(hs.full[k]);
    }
  }
  return h;
}

function countInput(body) {
  let chars = 0;
  if (typeof body.system === "string") chars += body.system.length;
  for (const m of body.messages || []) {
    if (typeof m.content === "string") chars += m.content.length;
    else for (const b of m.content || []) if (b.text) chars += b.text.length;
  }
  return Math.ceil(chars / (cfg.charsPerToken || 4));
}

// other clients, not using the pacer: Poisson requests at f * rpm, each with a share of tokens
function startOthers() {
  const f = cfg.others || 0;
  if (!f) return;
  const pending = [];
  const rpmLimit = B.rpm.limit;
  const perReqIn = (B.itpm?.limit ?? B.tpm.limit / 2) / rpmLimit;
  const perReqOut = (B.otpm?.limit ?? B.tpm.limit / 2) / rpmLimit;
  const ratePerMs = (f * rpmLimit) / 60000;
  let next = now() + -Math.log(Math.random()) / ratePerMs;
  setInterval(() => {
    const t = now();
    while (next <= t) {
      pending.push(t);
      next += -Math.log(Math.random()) / ratePerMs;
    }
    const s = st("others");
    for (let i = 0; i < pending.length; ) {
      s.attempts++;
      const cost = B.tpm ? { rpm: 1, tpm: perReqIn + perReqOut } : { rpm: 1, itpm: perReqIn, otpm: perReqOut };
      if (Object.entries(cost).every(([k, v]) => B[k].waitMs(v) === 0)) {
        for (const [k, v] of Object.entries(cost)) B[k].take(v);
        s.ok++;
        pending.splice(i, 1);
      } else {
        s.r429++;
        i++;
        break;
      }
    }
  }, 50).unref();
}

function send(res, status, headers, body) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

async function handle(req, res) {
  if (req.url === "/stats") return send(res, 200, {}, stats);
  let raw = "";
  for await (const c of req) raw += c;
  const client = req.headers["x-client"] || "pacer";
  const s = st(client);
  s.attempts++;
  stats.arrivals++;
  const body = JSON.parse(raw || "{}");
  const input = countInput(body);
  const maxTok = body.max_tokens ?? body.max_completion_tokens ?? 1024;
  const stream = !!body.stream;
  // random 529 / 503
  if (cfg.p529 && Math.random() < cfg.p529) {
    s.r529++;
    return send(res, 529, {}, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
  }
  if (cfg.slots && inflight >= cfg.slots) {
    s.r503++;
    return send(res, 503, {}, "Service Unavailable");
  }
  // rate limit check
  let cost;
  if (cfg.family === "anthropic") cost = { rpm: 1, itpm: input, otpm: cfg.outputMode === "reserve" ? maxTok : 1 };
  else cost = { rpm: 1, tpm: input + (cfg.chargeMaxTokens === false ? 0 : maxTok) };
  let wait = 0,
    which = null;
  for (const [k, v] of Object.entries(cost)) {
    const w = B[k].waitMs(v);
    if (w > wait) {
      wait = w;
      which = k;
    }
  }
  if (wait > 0) {
    s.r429++;
    const hs = headerState();
    const h = rlHeaders(hs);
    if (cfg.family === "anthropic") {
      h["retry-after"] = String(Math.ceil(wait / 1000));
      return send(res, 429, h, {
        type: "error",
        error: { type: "rate_limit_error", message: `rate limit exceeded (${which})` },
      });
    }
    if (cfg.family === "openai") {
      if (cfg.retryAfterHeader) h["retry-after"] = String(Math.ceil(wait / 1000));
      const dim = which === "rpm" ? "requests per min (RPM)" : "tokens per min (TPM)";
      return send(res, 429, h, {
        error: {
          message: `Rate limit reached for gpt-4o-mini in organization org-x on ${dim}: Limit ${B[which].limit}, Used ${Math.round(B[which].limit - B[which].level)}, Requested ${cost[which]}. Please try again in ${goDur(wait)}.`,
          type: which === "rpm" ? "requests" : "tokens",
          param: null,
          code: "rate_limit_exceeded",
        },
      });
    }
    res.writeHead(429, { "content-type": "text/plain" });
    return res.end("Too Many Requests");
  }
  // admit
  const _charged = {};
  if (cfg.family === "anthropic") {
    B.rpm.take(1);
    B.itpm.take(input);
    if (cfg.outputMode === "reserve") B.otpm.take(maxTok);
  } else {
    B.rpm.take(1);
    B.tpm.take(cost.tpm);
  }
  for (const [_k, b] of Object.entries(B)) s.maxLevelDebt = Math.min(s.maxLevelDebt, b.level / b.limit);
  const admitHeaders = rlHeaders(headerState());
  const out = Math.min(maxTok, Math.round(rnd(cfg.outLo ?? 100, cfg.outHi ?? 300)));
  const lat = rnd(cfg.latLo ?? 50, cfg.latHi ?? 800);
  s.inTok += input;
  s.outTok += out;
  inflight++;
  const settle = () => {
    inflight--;
    if (cfg.family === "anthropic") {
      if (cfg.outputMode === "reserve") B.otpm.give(maxTok - out);
      else B.otpm.take(out);
    } else if (cfg.chargeMaxTokens !== false) {
      if (cfg.giveBack !== false) B.tpm.give(maxTok - out);
    } else B.tpm.take(out);
    s.ok++;
  };
  const usage =
    cfg.family === "anthropic"
      ? { input_tokens: input, output_tokens: out }
      : { prompt_tokens: input, completion_tokens: out, total_tokens: input + out };
  if (!stream) {
    await new Promise((r) => setTimeout(r, lat));
    settle();
    const h = cfg.family === "bare" ? {} : cfg.headAfterSettle ? rlHeaders(headerState()) : admitHeaders;
    const text = "x".repeat(Math.min(out * 4, 20000));
    if (cfg.family === "anthropic")
      return send(res, 200, h, {
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: body.model,
        content: [{ type: "text", text }],
        stop_reason: "end_turn",
        usage,
      });
    return send(res, 200, h, {
      id: "chatcmpl-1",
      object: "chat.completion",
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage,
    });
  }
  const h = cfg.family === "bare" ? {} : admitHeaders;
  res.writeHead(200, { "content-type": "text/event-stream", ...h });
  const chunks = 5;
  if (cfg.family === "anthropic") {
    res.write(
      `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: body.model, content: [], usage: { input_tokens: input, output_tokens: 1 } } })}\n\n`,
    );
    res.write(
      `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`,
    );
    for (let i = 0; i < chunks; i++) {
      await new Promise((r) => setTimeout(r, lat / chunks));
      res.write(
        `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x".repeat(Math.ceil((out * 4) / chunks)) } })}\n\n`,
      );
    }
    settle();
    res.write(`event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`);
    res.write(
      `event: message_delta\ndata: ${JSON.stringify({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: out } })}\n\n`,
    );
    res.write(`event: message_stop\ndata: {"type":"message_stop"}\n\n`);
  } else {
    for (let i = 0; i < chunks; i++) {
      await new Promise((r) => setTimeout(r, lat / chunks));
      res.write(
        `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "x".repeat(Math.ceil((out * 4) / chunks)) } }] })}\n\n`,
      );
    }
    settle();
    res.write(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [], usage })}\n\n`);
    res.write(`data: [DONE]\n\n`);
  }
  res.end();
}

process.on("message", (m) => {
  if (m.type === "start") {
    cfg = m.cfg;
    const L = cfg.limits;
    const start = cfg.startLevel ?? 1;
    if (cfg.family === "anthropic")
      B = { rpm: new Bucket(L.rpm, start), itpm: new Bucket(L.itpm, start), otpm: new Bucket(L.otpm, start) };
    else B = { rpm: new Bucket(L.rpm, start), tpm: new Bucket(L.tpm, start) };
    setInterval(() => {
      history.push(snapshot());
      if (history.length > 400) history.shift();
    }, 50).unref();
    startOthers();
    const srv = http.createServer((req, res) =>
      handle(req, res).catch((e) => {
        try {
          send(res, 500, {}, { error: String(e) });
        } catch {}
      }),
    );
    srv.keepAliveTimeout = 30000;
    srv.listen(0, "127.0.0.1", () => process.send({ type: "port", port: srv.address().port }));
  } else if (m.type === "stats") {
    process.send({ type: "stats", stats });
  } else if (m.type === "exit") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
