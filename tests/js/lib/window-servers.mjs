// Servers that count by windows, and the runs against them, in virtual time: shared by the
// bench (scripts/bench/windows.mjs) and the test (tests/js/windows.test.mjs).
//
// A fixed-window server gives its quota back whole at each window's reset, nothing before it;
// a sliding log states the expiry of its oldest request as its reset; a continuously refilled
// bucket states when it is full again. Each writes OpenAI or IETF figures, and answers a 429
// without `retry-after` when the quota is spent (or, asked to, with its own wait in whole
// seconds rounded up: until the window ends, the oldest request expires, a request refills).

import { T0, VirtualClock } from "./harness.mjs";
import { prng } from "./soak.mjs";

const W = 60_000;
/**
 * The figures a server writes: `remaining` whole, `reset` in seconds from now (OpenAI's to the
 * millisecond, IETF's whole seconds rounded up), or in whole seconds as `round` gives them.
 */
export const FAMILIES = {
  openai: (limit, remaining, resetS, round) => ({
    "x-ratelimit-limit-requests": String(limit),
    "x-ratelimit-remaining-requests": String(remaining),
    "x-ratelimit-reset-requests": round ? `${round(resetS)}s` : `${resetS.toFixed(3)}s`,
  }),
  ietf: (limit, remaining, resetS, round = Math.ceil) => ({
    "ratelimit-policy": `"default";q=${limit};w=${W / 1000}`,
    ratelimit: `"default";r=${remaining};t=${round(resetS)}`,
  }),
};

/**
 * Figures with no limit: requests left and the reset alone (an IETF `RateLimit` without its
 * `RateLimit-Policy`; OpenAI's fields without `x-ratelimit-limit-requests`).
 */
export const BARE_FAMILIES = {
  "ietf, no policy": (_limit, remaining, resetS, round = Math.ceil) => ({
    ratelimit: `"default";r=${remaining};t=${round(resetS)}`,
  }),
  "openai, no limit": (_limit, remaining, resetS, round) => ({
    "x-ratelimit-remaining-requests": String(remaining),
    "x-ratelimit-reset-requests": round ? `${round(resetS)}s` : `${resetS.toFixed(3)}s`,
  }),
};

/** How a server may round the seconds of its reset (the `rounding` of {@link runBatch}). */
export const ROUNDINGS = { floor: Math.floor, nearest: Math.round };

/** A fixed-window server: `limit` a window, the first window opened `phase` ms before T0. */
function windows(limit, phase) {
  let start = T0 - phase;
  let used = 0;
  return (now) => {
    while (now >= start + W) {
      start += W;
      used = 0;
    }
    const ok = used < limit;
    if (ok) used++;
    const resetS = (start + W - now) / 1000;
    return { ok, remaining: limit - used, resetS, waitS: resetS };
  };
}

/** A continuously refilled bucket of `limit` a window, full at T0. */
function continuous(limit) {
  let level = limit;
  let last = T0;
  return (now) => {
    level = Math.min(limit, level + ((now - last) * limit) / W);
    last = now;
    const ok = level >= 1;
    if (ok) level -= 1;
    const waitS = (Math.max(0, 1 - level) * W) / limit / 1000;
    return { ok, remaining: Math.floor(level), resetS: ((limit - level) * W) / limit / 1000, waitS };
  };
}

/**
 * A sliding log of `limit` a window: a request counts until a window after it was admitted;
 * `reset` is when the oldest one counted expires (the quota is back by one then, not whole:
 * a server that says so reads its own reset otherwise than the specifications).
 */
function sliding(limit) {
  const log = [];
  return (now) => {
    while (log.length && log[0] + W <= now) log.shift();
    const ok = log.length < limit;
    if (ok) log.push(now);
    const resetS = log.length ? (log[0] + W - now) / 1000 : 0;
    return { ok, remaining: limit - log.length, resetS, waitS: resetS };
  };
}

/** The earliest the last of `n` calls can be answered, latency aside. */
function lowerBound(kind, limit, phase, n) {
  if (kind === "continuous") return ((n - limit) * W) / limit;
  if (kind === "sliding") return (Math.ceil(n / limit) - 1) * W;
  // The first window holds `limit` and ends at W - phase; each later one holds `limit` more.
  const windowsAfter = Math.ceil(n / limit) - 1;
  return windowsAfter === 0 ? 0 : W - phase + (windowsAfter - 1) * W;
}

/**
 * One batch: `4 x limit` calls at once through a `Pacer` (the class given: the package's, or
 * a build copied aside) against the server `kind` (`windows`, `sliding` or `continuous`)
 * writing `family`'s figures (the reset's seconds rounded as `rounding` says, if given), with
 * no latency or a uniform 0.3-3 s, its 429s with `retry-after` if `retryAfter`. Virtual time.
 * @returns {Promise<{ ratio: number, makespan: number, refused: number, failed: number }>}
 */
export async function runBatch(Pacer, { kind, family, limit, phase = 0, latency = false, rounding, retryAfter }) {
  const clock = new VirtualClock();
  const server = { continuous, sliding }[kind]?.(limit) ?? windows(limit, phase);
  const rand = prng(limit * 7 + phase + (latency ? 1 : 0));
  let refused = 0;
  const fetch = async () => {
    if (latency) await clock.sleep(300 + rand() * 2_700);
    const { ok, remaining, resetS, waitS } = server(clock.now());
    if (!ok) refused++;
    const figures = (FAMILIES[family] ?? BARE_FAMILIES[family])(limit, remaining, resetS, ROUNDINGS[rounding]);
    const headers = { "content-type": "application/json", ...figures };
    if (!ok && retryAfter) headers["retry-after"] = String(Math.max(1, Math.ceil(waitS)));
    return ok
      ? new Response('{"usage":{"prompt_tokens":5,"completion_tokens":5}}', { status: 200, headers })
      : new Response('{"error":{"code":"rate_limit_exceeded"}}', { status: 429, headers });
  };
  const pacer = new Pacer({ fetch, clock, seed: 7 });
  const n = 4 * limit;
  const init = {
    method: "POST",
    headers: { authorization: "Bearer bench", "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-bench", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
  };
  let failed = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      try {
        const res = await pacer.fetch("https://gateway.example/v1/chat/completions", init);
        if (res.status !== 200) failed++;
        await res.arrayBuffer();
      } catch {
        failed++;
      }
    }),
  );
  const makespan = clock.now() - T0;
  return { ratio: makespan / lowerBound(kind, limit, phase, n), makespan, refused, failed };
}
