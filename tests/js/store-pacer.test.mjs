// The `store` option with a real redis-server (issue 11): two pacers sharing one key stay
// within the server's limits together; Redis stopped mid-run and restarted costs no call and
// says so (store_unavailable, then store_resumed); a script flush is survived. Real time
// (the store's clock is Redis TIME), so the runs are kept to a few seconds. And, with a store
// of the test's own in virtual time: a store's wait is slept exactly, and counted as one
// attempt, whether or not limits are configured.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Redis from "ioredis";
import { Pacer } from "llm-pacer";
import { redisStore } from "llm-pacer/redis";
import { startAnthropicMock } from "./mock/index.mjs";
import { anthropicInit, bounded, T0, VirtualClock } from "./lib/harness.mjs";
import { startRedis } from "./lib/redis-server.mjs";
import { shareOneKey } from "./lib/store-share.mjs";

let server;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server?.stop();
});

const client = () =>
  new Redis(server.port, "127.0.0.1", { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 });

test("two pacers sharing one key through Redis never exceed the server's limits together", async () => {
  // 60 requests a minute; each pacer alone would send its 35 calls at once (35 < 60), the two
  // together 70: with the store, 60 go at once and the rest at the refill (1 a second).
  const [ca, cb] = [client(), client()];
  await Promise.all([ca, cb].map((c) => new Promise((r) => c.once("ready", r))));
  try {
    await shareOneKey([redisStore(ca, { prefix: "share" }), redisStore(cb, { prefix: "share" })], {
      rpm: 60,
      perPacer: 35,
    });
  } finally {
    ca.disconnect();
    cb.disconnect();
  }
});

test("Redis stopped mid-run and restarted: no call lost, store_unavailable then store_resumed", async () => {
  const mock = await startAnthropicMock({ limits: { rpm: 1000, itpm: null, otpm: null } });
  const c = client();
  c.on("error", () => {}); // reconnection errors while Redis is down
  await new Promise((r) => c.once("ready", r));
  try {
    const events = [];
    const store = redisStore(c, { prefix: "fault" });
    const pacer = new Pacer({ limits: { rpm: 1000 }, store, onEvent: (e) => events.push(e) });
    const run = async (n) => {
      const res = await Promise.all(
        Array.from({ length: n }, () => pacer.fetch(`${mock.url}/v1/messages`, anthropicInit())),
      );
      for (const r of res) {
        assert.equal(r.status, 200);
        await r.text();
      }
    };
    await run(3);
    await server.stop();
    await run(3); // the store is down: local admission
    server = await startRedis(server.port); // restarted, its script cache empty
    for (let i = 0; i < 100 && c.status !== "ready"; i++) await new Promise((r) => setTimeout(r, 50));
    // Down, the pacer asks the store once a second (not once a call): past that, a probe
    // goes beside a call, which does not wait for it; answered, the next call reserves.
    await new Promise((r) => setTimeout(r, 1_100));
    await run(3);
    await new Promise((r) => setTimeout(r, 50));
    await run(1);
    const reasons = events.filter((e) => e.type === "warning").map((e) => e.reason);
    assert.deepEqual(reasons, ["store_unavailable", "store_resumed"]);
    assert.equal(mock.stats.completed ?? mock.stats.admitted, 10);
  } finally {
    c.disconnect();
    await mock.close();
  }
});

test("a 429's pause beyond maxRetryAfterMs reaches another process through the store as the server's word: its call on the key is refused at once, not held", async () => {
  const mock = await startAnthropicMock({ limits: { rpm: 1000, itpm: null, otpm: null } });
  const [ca, cb] = [client(), client()];
  await Promise.all([ca, cb].map((c) => new Promise((r) => c.once("ready", r))));
  try {
    const [a, b] = [ca, cb].map((c) => new Pacer({ store: redisStore(c, { prefix: "longpause" }) }));
    const url = `${mock.url}/v1/messages`;
    await (await a.fetch(url, anthropicInit())).text();
    mock.script([{ status: 429, retryAfter: 400 }]); // 400 s, beyond the default 300 s
    const r = await a.fetch(url, anthropicInit());
    assert.equal(r.status, 429, "returned at once, as its hint is too long to wait");
    await r.text();
    await new Promise((r) => setTimeout(r, 200)); // the pause's write to Redis
    const t = performance.now();
    await assert.rejects(bounded(b.fetch(url, anthropicInit()), "b's call"), (e) => e.code === "RETRY_AFTER_TOO_LONG");
    assert.ok(performance.now() - t < 1_000, `refused after ${performance.now() - t} ms`);
    assert.equal(mock.log.length, 2, "b sent nothing");
    a.close();
    b.close();
  } finally {
    ca.disconnect();
    cb.disconnect();
    await mock.close();
  }
});

test("a fleet that knows no limit opens through Redis with one probe: the others wait for its figures, or go once its 2xx shows the server sends none", async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (const figures of [true, false]) {
    const [ca, cb] = [client(), client()];
    await Promise.all([ca, cb].map((c) => new Promise((r) => c.once("ready", r))));
    const prefix = `probe-${figures}`;
    try {
      const sent = [];
      let release;
      const gate = new Promise((r) => {
        release = r;
      });
      const headers = {
        "content-type": "application/json",
        ...(figures
          ? { "anthropic-ratelimit-output-tokens-limit": "8000", "anthropic-ratelimit-output-tokens-remaining": "7000" }
          : {}),
      };
      const answering = (name, wait) => async () => {
        sent.push(name);
        await wait;
        return new Response('{"usage":{"input_tokens":1,"output_tokens":1}}', { headers });
      };
      const a = new Pacer({ fetch: answering("a", gate), store: redisStore(ca, { prefix }) });
      const b = new Pacer({ fetch: answering("b"), store: redisStore(cb, { prefix }) });
      const url = "https://api.anthropic.com/v1/messages";
      const pa = a.fetch(url, anthropicInit());
      for (let i = 0; i < 100 && sent.length === 0; i++) await sleep(10);
      const pb = b.fetch(url, anthropicInit());
      await sleep(400);
      assert.deepEqual(sent, ["a"], "b waits for a's answer, the fleet's probe");
      release();
      await (await bounded(pa, "a's call")).text();
      const t = performance.now();
      await (await bounded(pb, "b's call")).text();
      assert.deepEqual(sent, ["a", "b"]);
      assert.ok(performance.now() - t < 1_000, `b went ${performance.now() - t} ms after a's answer`);
      const [key] = await ca.keys(`{${prefix}:*`);
      const state = await ca.hgetall(key);
      if (figures) assert.ok(Number(state.c3) === 8000 && state.o !== "1", JSON.stringify(state));
      else assert.ok(state.o === "1" && state.c3 === undefined, JSON.stringify(state));
      a.close();
      b.close();
    } finally {
      ca.disconnect();
      cb.disconnect();
    }
  }
});

/** A `fetch` answering 200 with a usage at once, each send's virtual time pushed to `sent`. */
const recording = (clock, sent) => async () => {
  sent.push(clock.now() - T0);
  return new Response('{"usage":{"input_tokens":1,"output_tokens":1}}', {
    headers: { "content-type": "application/json" },
  });
};

test("unknown store shapes are refused at construction, each bad part named", () => {
  assert.throws(() => new Pacer({ store: 42 }), TypeError);
  assert.throws(() => new Pacer({ store: { reserve() {} } }), TypeError);
  // An optional operation that is no function is named, not skipped in silence.
  const store = { reserve() {}, settle() {} };
  assert.throws(
    () => new Pacer({ store: { ...store, learn: 5 } }),
    (e) => e instanceof TypeError && /`store\.learn` must be a function/.test(e.message),
  );
  new Pacer({ store: { ...store, learn: undefined } }).close();
  // A Redis client given as it is: the message says how to make the store.
  const redis = client();
  try {
    assert.throws(
      () => new Pacer({ store: redis }),
      (e) => e instanceof TypeError && /redisStore\(client\)/.test(e.message),
    );
  } finally {
    redis.disconnect();
  }
});

for (const limits of [undefined, { rpm: 1_000 }])
  test(`a store's wait is slept exactly and the call admitted once (limits ${JSON.stringify(limits)})`, async () => {
    // The README's Redis example configures no limits: the first call on a key then opens as
    // the probe the key's other calls wait for. Told to wait, it was not sent: it asks again
    // at its turn, not after the probe's ten seconds.
    const clock = new VirtualClock();
    const asked = [];
    const store = {
      async reserve(_key, r) {
        asked.push([clock.now() - T0, Boolean(r.turn)]);
        return r.turn ? { admit: true } : { admit: false, waitMs: 300, blocker: "requests" };
      },
      async settle() {},
    };
    const sent = [];
    const events = [];
    const fetch = recording(clock, sent);
    const pacer = new Pacer({ fetch, store, clock, limits, onEvent: (e) => events.push(e) });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit());
    await res.text();
    assert.deepEqual(asked, [
      [0, false],
      [300, true],
    ]);
    assert.deepEqual(sent, [300]);
    const admitted = events.filter((e) => e.type === "admitted");
    assert.deepEqual(
      admitted.map((e) => e.delayMs),
      [300],
    );
    assert.equal(pacer.stats().attempts, 1);
  });

test("a turn a token bucket holds is asked for again within a second, silently; one the request bucket holds is slept whole", async () => {
  // The store says wait 20 s for output tokens: its wait counts nothing other processes'
  // calls in flight give back at their settlement. At 2.5 s (another process settled) it has
  // the tokens: the re-check a second takes them then, not at 20 s. A wait on requests is
  // exact (nothing comes back): asked for again at its end only.
  for (const [blocker, want] of [
    ["outputTokens", 3_000],
    ["requests", 20_000],
  ]) {
    const clock = new VirtualClock();
    const asked = [];
    const store = {
      async reserve(_key, r) {
        const t = clock.now() - T0;
        asked.push([t, Boolean(r.turn)]);
        if (r.turn && t >= 2_500) return { admit: true };
        return { admit: false, waitMs: 20_000 - t, blocker };
      },
      async settle() {},
    };
    const sent = [];
    const events = [];
    const fetch = recording(clock, sent);
    const pacer = new Pacer({ fetch, store, clock, limits: { rpm: 1_000 }, onEvent: (e) => events.push(e) });
    const res = await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit());
    await res.text();
    assert.deepEqual(sent, [want], blocker);
    if (blocker === "requests")
      assert.deepEqual(asked, [
        [0, false],
        [20_000, true],
      ]);
    else
      assert.deepEqual(
        asked.map(([t]) => t),
        [0, 1_000, 2_000, 3_000],
      );
    const waits = events.filter((e) => e.type === "wait" && e.reason === "store");
    assert.equal(waits.length, 1, `one wait announced (${blocker}), re-checks silent`);
    pacer.close();
  }
});

test("a reservation is settled in the store, its own figures after it (and a 429 refunds it)", async () => {
  // llm-pacer/redis answers `levels: {}` when no process knew a limit: it took nothing, but a
  // bucket learned meanwhile from another answer counted the request, as the server did: not
  // settled there, its figures go at once, and at a stream's end what it gave back, up to them
  // (`giveBack`: output tokens only; a store without it is not asked). A JSON answer's own figures may count its
  // settlement already: for a reservation the store held, they go after it.
  for (const levels of [{}, { outputTokens: 7_000 }]) {
    const clock = new VirtualClock();
    const ops = [];
    const store = {
      async reserve() {
        ops.push("reserve");
        return { admit: true, levels };
      },
      async settle() {
        ops.push("settle");
      },
      async refund(_key, r) {
        ops.push(r.turnOnly ? "unbook" : "refund");
      },
      async learn() {
        ops.push("learn");
      },
      async giveBack(_key, dims) {
        ops.push(`give back ${dims.map((d) => `${d.dim} ${d.given} up to ${d.upTo}`).join(", ")}`);
      },
    };
    const figures = {
      "anthropic-ratelimit-output-tokens-limit": "8000",
      "anthropic-ratelimit-output-tokens-remaining": "7000",
    };
    const fetch = async () =>
      new Response('{"usage":{"input_tokens":1,"output_tokens":1}}', {
        headers: { "content-type": "application/json", ...figures },
      });
    const pacer = new Pacer({ fetch, store, clock });
    await (await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit())).text();
    await drainedStore(clock);
    // anthropicInit's max_tokens is 64; the answer used 1.
    // (An answer that is no stream may have been written after the server gave back: not
    // given back again.)
    const settled = Object.keys(levels).length ? ["settle", "learn"] : ["learn"];
    assert.deepEqual(ops, ["reserve", ...settled], JSON.stringify(levels));
    // A stream's head comes before its output, counting the whole reservation: its figures
    // go at once.
    ops.length = 0;
    const sse =
      'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":2}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const streaming = new Pacer({
      fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream", ...figures } }),
      store,
      clock,
    });
    await (await streaming.fetch("https://api.anthropic.com/v1/messages", anthropicInit())).text();
    await drainedStore(clock);
    const after = Object.keys(levels).length ? ["settle"] : ["give back outputTokens 62 up to 7000"];
    assert.deepEqual(ops, ["reserve", "learn", ...after], `a stream, ${JSON.stringify(levels)}`);
  }
  // A 429 on a reservation the store held: given back there, as in the local limiter.
  const clock = new VirtualClock();
  const ops = [];
  const store = {
    async reserve() {
      ops.push("reserve");
      return { admit: true, levels: { requests: 9 } };
    },
    async settle() {
      ops.push("settle");
    },
    async refund(_key, r) {
      ops.push(r.turnOnly ? "unbook" : "refund");
    },
  };
  let n = 0;
  const fetch = async () =>
    n++ === 0
      ? new Response('{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {
          status: 429,
          headers: { "retry-after": "1", "content-type": "application/json" },
        })
      : new Response('{"usage":{"input_tokens":1,"output_tokens":1}}', {
          headers: { "content-type": "application/json" },
        });
  const pacer = new Pacer({ fetch, store, clock, limits: { rpm: 1_000 } });
  await (await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit())).text();
  await drainedStore(clock);
  assert.deepEqual(ops.slice(0, 2), ["reserve", "refund"]);
  assert.deepEqual(ops.slice(-2), ["reserve", "settle"]);
});

/** Let the store work queued after a call's end run (a few turns of virtual time). */
test("a store without giveBack is not asked for it: a fleet's first call settles as before", async () => {
  const clock = new VirtualClock();
  const ops = [];
  const store = {
    async reserve() {
      ops.push("reserve");
      return { admit: true, levels: {} }; // no bucket: the fleet's first call
    },
    async settle() {
      ops.push("settle");
    },
    async learn() {
      ops.push("learn");
    },
  };
  // A stream (its head before its give-back: what a store with `giveBack` would be asked).
  const sse =
    'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}\n\n' +
    'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":1}}\n\n' +
    'event: message_stop\ndata: {"type":"message_stop"}\n\n';
  const fetch = async () =>
    new Response(sse, {
      headers: {
        "content-type": "text/event-stream",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7000",
      },
    });
  const pacer = new Pacer({ fetch, store, clock });
  const res = await pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit());
  assert.equal(res.status, 200);
  await res.text();
  await drainedStore(clock);
  assert.deepEqual(ops, ["reserve", "learn"]);
  const stats = pacer.stats();
  assert.equal(stats.outputTokensUsed, 1, "settled");
  assert.equal(stats.inFlight, 0);
});

async function drainedStore(clock) {
  for (let i = 0; i < 20; i++) await clock.advance(10);
}

test("a configured limit binds the fleet through Redis, whatever higher limit the server states", async () => {
  // Each of two pacers is configured to 3 requests a minute and sends 3 calls; the server says
  // its limit is 6,000. Together they send 3 within the calls' deadline, not 6: a higher
  // limit in the headers never raises the shared bucket past the configured one.
  const [ca, cb] = [client(), client()];
  await Promise.all([ca, cb].map((c) => new Promise((r) => c.once("ready", r))));
  let sent = 0;
  const fetch = async () => {
    sent++;
    return new Response(JSON.stringify({ usage: { input_tokens: 10, output_tokens: 5 } }), {
      headers: {
        "content-type": "application/json",
        "anthropic-ratelimit-requests-limit": "6000",
        "anthropic-ratelimit-requests-remaining": "5999",
      },
    });
  };
  try {
    const prefix = `configured-${Date.now()}`;
    const pacers = [ca, cb].map(
      (c) => new Pacer({ limits: { rpm: 3 }, timeoutMs: 1500, fetch, store: redisStore(c, { prefix }) }),
    );
    const outcomes = await Promise.all(
      pacers.flatMap((p) =>
        Array.from({ length: 3 }, () =>
          p.fetch("https://api.anthropic.com/v1/messages", anthropicInit()).then(
            async (r) => (await r.text(), r.status),
            (e) => e.code,
          ),
        ),
      ),
    );
    assert.equal(sent, 3, JSON.stringify(outcomes));
    assert.deepEqual(outcomes.toSorted(), [200, 200, 200, "TIMEOUT", "TIMEOUT", "TIMEOUT"]);
    for (const p of pacers) assert.equal(p.limits()[0].requests.limit, 3);
  } finally {
    ca.disconnect();
    cb.disconnect();
  }
});
