// The retry contract of `pacer.fetch` (DESIGN.md section 3, "Precise semantics"), branch by
// branch, against the mock Anthropic and OpenAI servers, in virtual time: the pacer's `clock`
// and the mock's `now` are one VirtualClock, so a `retry-after: 30` costs no real time and the
// wait between two attempts is read exactly from the mock's log.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pacer, PacerError, RetryAfterTooLongError } from "llm-pacer";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { anthropicInit, openaiInit, mockEnv, gap, drained, outcome, VirtualClock, T0 } from "./lib/harness.mjs";

/** The spread the contract allows on top of a hint: min(10%, 1 s). */
const spread = (hintMs) => Math.min(hintMs / 10, 1000);

/** Types and reasons of the events of call `id`. */
const trail = (events, id = 1) => events.filter((e) => e.id === id).map((e) => `${e.type}:${e.reason}`);

describe("server hints", () => {
  for (const hintS of [1, 7, 30]) {
    test(`429 with retry-after: ${hintS} waits at least the hint and at most min(10%, 1 s) longer`, async (t) => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const env = await mockEnv(t, startAnthropicMock);
        env.mock.script([{ status: 429, retryAfter: hintS }, "ok"]);
        const pacer = env.make({ seed });
        const res = await pacer.fetch(env.url, anthropicInit());
        assert.equal(res.status, 200);
        assert.equal(env.mock.log.length, 2);
        const waited = gap(env.mock, 0);
        const hint = hintS * 1000;
        assert.ok(waited >= hint, `seed ${seed}: waited ${waited} < hint ${hint}`);
        // The driver rounds the sleep up to a whole ms.
        assert.ok(
          waited <= Math.ceil(hint + spread(hint)),
          `seed ${seed}: waited ${waited} > ${hint} + ${spread(hint)}`,
        );
        const retry = env.events.find((e) => e.type === "retry");
        assert.equal(retry.reason, "rate_limited");
        assert.ok(retry.delayMs >= hint && retry.delayMs < hint + spread(hint), `delayMs ${retry.delayMs}`);
        await drained(pacer);
      }
    });
  }

  test("the jitter on a hint is spread over the allowed range (not always the hint itself)", async (t) => {
    const delays = new Set();
    for (let seed = 1; seed <= 8; seed++) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, retryAfter: 2 }, "ok"]);
      const pacer = env.make({ seed });
      await (await pacer.fetch(env.url, anthropicInit())).text();
      delays.add(Math.round(env.events.find((e) => e.type === "retry").delayMs));
    }
    assert.ok(delays.size >= 4, `delays ${[...delays]}`);
    for (const d of delays) assert.ok(d >= 2000 && d <= 2200, `delay ${d}`);
  });

  test("a real bucket 429 (the mock's own retry-after) is waited out, then admitted", async (t) => {
    const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 2 } });
    // Headers would teach the pacer the limit; a pacer that does not know it yet sends all 3.
    const pacer = env.make({ seed: 7, concurrency: 3 });
    const calls = [1, 2, 3].map(() =>
      pacer.fetch(env.url, anthropicInit({ headers: { "x-mock-fault": "ok; ratelimit-headers=missing" } })),
    );
    const statuses = (await Promise.all(calls)).map((r) => r.status);
    assert.deepEqual(statuses, [200, 200, 200]);
    const limited = env.mock.log.filter((e) => e.outcome === "limited");
    assert.equal(limited.length, 1);
    const retried = env.mock.log.at(-1);
    assert.equal(retried.outcome, "ok");
    assert.ok(retried.at - limited[0].at >= limited[0].retryAfter * 1000, "waited the bucket's retry-after");
    assert.equal(pacer.stats().rateLimited, 1);
    await drained(pacer);
  });

  test("retry-after-ms wins over retry-after (whichever is longer)", async (t) => {
    for (const [retryAfter, retryAfterMs, want] of [
      [20, 1500, 1500],
      [1, 4000, 4000],
      [3, "250.5", 250.5],
    ]) {
      const env = await mockEnv(t, startOpenAIMock);
      env.mock.script([{ status: 429, retryAfter, retryAfterMs }, "ok"]);
      const pacer = env.make({ seed: 11 });
      const res = await pacer.fetch(env.url, openaiInit());
      assert.equal(res.status, 200);
      const waited = gap(env.mock, 0);
      assert.ok(
        waited >= want && waited <= Math.ceil(want + spread(want)),
        `${retryAfter}/${retryAfterMs}: waited ${waited}`,
      );
    }
  });

  test("retry-after as an HTTP date is read against the server's Date header", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    // The pacer's clock is 1 h ahead of the server's (their Date says so): the date is 5 s after
    // the server's now, so the wait is 5 s, not 5 s - 1 h.
    const skewed = { now: () => env.clock.t + 3_600_000, sleep: env.clock.sleep };
    env.mock.script([{ status: 429, retryAfter: new Date(env.clock.t + 5000).toUTCString() }, "ok"]);
    const pacer = new Pacer({ clock: skewed, seed: 2 });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
    const waited = gap(env.mock, 0);
    assert.ok(waited >= 5000 && waited <= 5500, `waited ${waited}`);
  });

  test("a garbage retry-after-ms falls back to retry-after", async (t) => {
    for (const bad of ["NaN", "-1", "abc", "1e400", "Infinity", ""]) {
      const env = await mockEnv(t, startOpenAIMock);
      env.mock.script([{ status: 429, retryAfter: 2, retryAfterMs: bad }, "ok"]);
      const pacer = env.make({ seed: 5 });
      assert.equal((await pacer.fetch(env.url, openaiInit())).status, 200);
      const waited = gap(env.mock, 0);
      assert.ok(waited >= 2000 && waited <= 2200, `${JSON.stringify(bad)}: waited ${waited}`);
    }
  });

  test("garbage hints are ignored: the backoff applies (no 0 ms retry, no multi-day sleep)", async (t) => {
    const garbage = [
      { retryAfter: "soon" },
      { retryAfter: "-5" },
      { retryAfter: "NaN" },
      { retryAfter: "1e999" },
      { retryAfter: "Infinity" },
      { retryAfter: "0x10" },
      { retryAfter: "1s" },
      { retryAfter: "99999999999" }, // 3000 years of seconds: absurd, not "too long"
      { retryAfter: "Fri, 31 Dec 9999 23:59:59 GMT" }, // absurd date
      { retryAfterMs: "-250" },
      { retryAfterMs: "NaN" },
      { retryAfterMs: "soon" },
    ];
    for (const hint of garbage) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, ...hint }, { status: 429, ...hint }, "ok"]);
      const pacer = env.make({ retry: { jitter: "none", initialDelayMs: 1000, multiplier: 2 } });
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, 200, JSON.stringify(hint));
      // Exactly the base delays 1000 and 2000: the hint played no part.
      assert.deepEqual([gap(env.mock, 0), gap(env.mock, 1)], [1000, 2000], JSON.stringify(hint));
      // The waits went through the virtual clock (not a wall-time bound: flaky when loaded).
      const slept = env.clock.sleeps.map((x) => Math.round(x.ms));
      assert.ok(slept.includes(1000) && slept.includes(2000), `virtual sleeps ${slept}`);
    }
  });

  test("a hint beyond maxRetryAfterMs returns the 429 at once (and so does a 30-day one by default)", async (t) => {
    for (const [options, retryAfter] of [
      [{ retry: { maxRetryAfterMs: 10_000 } }, 11],
      [{}, 2_592_000],
    ]) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, retryAfter }]);
      const pacer = env.make(options);
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("retry-after"), String(retryAfter));
      assert.equal((await res.json()).error.type, "rate_limit_error");
      assert.equal(env.mock.log.length, 1);
      assert.equal(env.clock.elapsed, 0, "no time spent");
      assert.deepEqual(trail(env.events).slice(-1), ["giveup:retry_after_too_long"]);
    }
    // At the bound itself the hint is waited on.
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 10 }, "ok"]);
    const pacer = env.make({ retry: { maxRetryAfterMs: 10_000 } });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
    assert.ok(gap(env.mock, 0) >= 10_000);
  });
});

describe("which statuses are retried", () => {
  test("529 is retried (reason overloaded), with exponential backoff", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([529, 529, "ok"]);
    const pacer = env.make({ retry: { jitter: "none", initialDelayMs: 100, multiplier: 3 } });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 200);
    assert.deepEqual([gap(env.mock, 0), gap(env.mock, 1)], [100, 300]);
    const s = pacer.stats();
    assert.equal(s.overloaded, 2);
    assert.equal(s.retries, 2);
    assert.equal(s.serverErrors, 0);
    assert.deepEqual(
      env.events.filter((e) => e.type === "retry").map((e) => e.reason),
      ["overloaded", "overloaded"],
    );
  });

  for (const status of [500, 502, 503, 504, 408, 409]) {
    test(`${status} is retried`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([status, "ok"]);
      const pacer = env.make({ retry: { jitter: "none", initialDelayMs: 50 } });
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, 200);
      assert.equal(env.mock.log.length, 2);
      assert.equal(gap(env.mock, 0), 50);
      assert.equal(pacer.stats().retries, 1);
      assert.equal(pacer.stats().serverErrors, status >= 500 ? 1 : 0);
      assert.equal(env.events.find((e) => e.type === "retry").reason, `status_${status}`);
    });
  }

  for (const status of [400, 401, 403, 404, 413, 422]) {
    test(`${status} is returned at once, not retried`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([status, "ok"]);
      const pacer = env.make();
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, status);
      assert.equal((await res.json()).type, "error", "the body is the caller's to read");
      assert.equal(env.mock.log.length, 1);
      assert.equal(pacer.stats().retries, 0);
      assert.equal(env.clock.elapsed, 0);
      assert.deepEqual(trail(env.events).slice(-1), [`giveup:status_${status}`]);
    });
  }

  test("x-should-retry: true retries a status that is not retryable", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 400, shouldRetry: true }, { status: 404, shouldRetry: "true" }, "ok"]);
    const pacer = env.make({ retry: { jitter: "none", initialDelayMs: 10 } });
    const res = await pacer.fetch(env.url, anthropicInit());
    assert.equal(res.status, 200);
    assert.equal(env.mock.log.length, 3);
  });

  for (const status of [429, 503, 529]) {
    test(`x-should-retry: false returns a ${status} at once`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status, shouldRetry: false, retryAfter: 1 }, "ok"]);
      const pacer = env.make();
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, status);
      assert.equal(env.mock.log.length, 1);
      assert.equal(env.clock.elapsed, 0);
      assert.deepEqual(trail(env.events).slice(-1), ["giveup:should_retry_false"]);
    });
  }

  test("the Anthropic spend-limit 429 is returned at once, even with x-should-retry: true", async (t) => {
    for (const fault of ["spend-limit", { kind: "spend-limit", shouldRetry: true }]) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([fault, "ok"]);
      const pacer = env.make();
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, 429);
      assert.equal((await res.json()).error.details.error_code, "enforced_spend_limit_reached");
      assert.equal(env.mock.log.length, 1);
      assert.equal(env.clock.elapsed, 0);
      assert.deepEqual(trail(env.events).slice(-1), ["giveup:spend_limit"]);
      // It paused nobody: the next call goes at once.
      assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
      assert.equal(env.clock.elapsed, 0);
    }
  });

  test("OpenAI insufficient_quota is returned at once; rate_limit_exceeded is retried", async (t) => {
    const env = await mockEnv(t, startOpenAIMock);
    env.mock.script(["insufficient-quota", { status: 429, retryAfterMs: 300 }, "ok"]);
    const pacer = env.make();
    const first = await pacer.fetch(env.url, openaiInit());
    assert.equal(first.status, 429);
    assert.equal((await first.json()).error.code, "insufficient_quota");
    assert.equal(env.mock.log.length, 1);
    const second = await pacer.fetch(env.url, openaiInit());
    assert.equal(second.status, 200);
    assert.equal(env.mock.log.length, 3);
    assert.ok(gap(env.mock, 1) >= 300);
    assert.deepEqual(trail(env.events, 1).slice(-1), ["giveup:insufficient_quota"]);
  });

  test("retryOn replaces the default list", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const pacer = env.make({ retry: { retryOn: [418, 503], jitter: "none", initialDelayMs: 10 } });
    env.mock.script([418, "ok"]);
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200, "418 is retried now");
    env.mock.script([503, "ok"]);
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200, "503 still, it is listed");
    for (const status of [429, 529, 500]) {
      env.mock.script([{ status, retryAfter: 1 }]);
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.equal(res.status, status, `${status} is no longer retried`);
      await res.text();
    }
    assert.equal(env.mock.log.length, 7);
    // Two 10 ms backoffs; the 429, not retried, still holds its key for its 1 s (the 529 after
    // it waits); the 529's hint is its own.
    assert.equal(env.clock.elapsed, 1_020, "two 10 ms backoffs and the 429's pause");

    const none = env.make({ retry: { retryOn: [] } });
    env.mock.script([503, "ok"]);
    assert.equal((await none.fetch(env.url, anthropicInit())).status, 503, "an empty list retries no status");
  });
});

describe("the retry budget of attempts", () => {
  test("maxRetries is respected and the last Response is returned, not thrown", async (t) => {
    for (const maxRetries of [0, 1, 3]) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script(Array.from({ length: 6 }, () => ({ status: 429, retryAfter: 1 })));
      const pacer = env.make({ retry: { maxRetries } });
      const res = await pacer.fetch(env.url, anthropicInit());
      assert.ok(res instanceof Response);
      assert.equal(res.status, 429);
      assert.equal((await res.json()).error.type, "rate_limit_error");
      assert.equal(env.mock.log.length, maxRetries + 1);
      const s = pacer.stats();
      assert.equal(s.attempts, maxRetries + 1);
      assert.equal(s.retries, maxRetries);
      assert.equal(s.rateLimited, maxRetries + 1);
      assert.deepEqual(trail(env.events).slice(-1), ["giveup:max_retries"]);
      await drained(pacer);
    }
  });

  test("the default is 6 retries", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script(Array.from({ length: 10 }, () => 503));
    const pacer = env.make({ budget: false });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 503);
    assert.equal(env.mock.log.length, 7);
  });

  test("a spent retry budget holds retries behind one probe, and hands a call back only when the probe runs out", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const retry = { jitter: "none", initialDelayMs: 10, maxDelayMs: 10 };
    // Eight calls at once, twenty 503s, then the server recovers. 10 tokens, one per
    // failure: retries go while more than 5 remain, then one call probes and the others
    // wait, holding their 503s. Every call gets its answer: 20 refused attempts, 8 answered.
    env.mock.script(Array.from({ length: 20 }, () => 503));
    const pacer = env.make({ retry: { ...retry, maxRetries: 30 } });
    const all = await Promise.all(Array.from({ length: 8 }, () => pacer.fetch(env.url, anthropicInit())));
    assert.deepEqual(
      all.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(env.mock.log.length, 28);
    assert.ok(env.events.some((e) => e.type === "wait" && e.reason === "budget"));
    assert.ok(!env.events.some((e) => e.type === "giveup"));
    await drained(pacer);

    // An outage longer than the probe's retries: the held calls get their last 503 when it
    // gives up, and no call retries beyond it.
    env.mock.reset();
    env.events.length = 0;
    env.mock.script(Array.from({ length: 60 }, () => 503));
    const short = env.make({ retry: { ...retry, maxRetries: 3 } });
    const failed = await Promise.all(Array.from({ length: 8 }, () => short.fetch(env.url, anthropicInit())));
    assert.deepEqual(
      failed.map((r) => r.status),
      Array(8).fill(503),
    );
    const reasons = env.events.filter((e) => e.type === "giveup").map((e) => e.reason);
    assert.ok(reasons.includes("budget") && reasons.includes("max_retries"), reasons.join());
    assert.ok(env.mock.log.length < 8 * 4, `${env.mock.log.length} attempts`);
    env.mock.reset();
    await drained(short);

    // 429s are paced by the limiter, not the budget.
    env.mock.script([{ status: 429, retryAfter: 1 }, "ok"]);
    assert.equal((await short.fetch(env.url, anthropicInit())).status, 200);

    const free = env.make({ budget: false, ...{ retry } });
    env.mock.reset();
    env.mock.script(Array.from({ length: 20 }, () => 503));
    assert.equal((await free.fetch(env.url, anthropicInit())).status, 503);
    assert.equal(env.mock.log.length, 7);
  });

  test("a network failure is retried; after the last retry the fetch error itself rejects", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script(["reset", "ok"]);
    const pacer = env.make({ retry: { maxRetries: 2, jitter: "none", initialDelayMs: 20 } });
    assert.equal((await pacer.fetch(env.url, anthropicInit())).status, 200);
    assert.equal(pacer.stats().networkErrors, 1);

    env.mock.script(["reset", "reset", "reset", "ok"]);
    const r = await outcome(pacer.fetch(env.url, anthropicInit()));
    assert.equal(r.ok, false);
    assert.equal(env.tf.errors.length, 4);
    assert.equal(r.error, env.tf.errors.at(-1), "the last attempt's own error");
    assert.ok(r.error instanceof TypeError);
    assert.ok(!(r.error instanceof PacerError));
    assert.equal(pacer.stats().networkErrors, 4);
    assert.equal(env.mock.pending(), 1, "no fourth attempt");
    env.mock.script([]);
  });

  test("a request fetch refuses itself (a malformed URL, a body on a GET) rejects with its TypeError at once", async () => {
    // Before, each was retried as a network error until the budget stopped it: five
    // attempts, 8.9 s, for a URL that can never parse.
    for (const [input, init] of [
      ["notaurl?key=k", { method: "POST", body: "{}" }],
      ["http://127.0.0.1:9/v1/messages", { method: "GET", body: "{}" }],
      // A scheme fetch does not send over HTTP fails every time.
      ["ftp://127.0.0.1:9/v1/messages", { method: "POST", body: "{}" }],
    ]) {
      const events = [];
      const pacer = new Pacer({ onEvent: (e) => events.push(`${e.type}:${e.reason}`) });
      const error = await pacer.fetch(input, init).then(
        () => assert.fail("resolved"),
        (e) => e,
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.ok(!(error instanceof PacerError));
      assert.equal(pacer.stats().attempts, 1, input);
      assert.equal(pacer.stats().retries, 0, input);
      assert.deepEqual(events.slice(-1), ["giveup:invalid_request"], input);
      await drained(pacer);
    }
  });

  test('a redirect the request forbids (redirect: "error") rejects with fetch\'s TypeError at once', async () => {
    // undici refuses it the same way every time; it was retried as a network error, five
    // attempts over 7.5 s. (A redirect fetch may follow is followed, as ever.)
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
      if (req.url === "/v1/messages") res.writeHead(302, { location: "/v2/messages" }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${server.address().port}/v1/messages`;
      const events = [];
      const pacer = new Pacer({ onEvent: (e) => events.push(`${e.type}:${e.reason}`) });
      const error = await pacer.fetch(url, { method: "POST", body: "{}", redirect: "error" }).then(
        () => assert.fail("resolved"),
        (e) => e,
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.equal(pacer.stats().attempts, 1);
      assert.deepEqual(events.slice(-1), ["giveup:invalid_request"]);
      const followed = await pacer.fetch(url, { method: "POST", body: "{}" });
      assert.equal(followed.status, 200);
      await followed.text();
      await drained(pacer);
    } finally {
      server.close();
    }
  });

  test("a port fetch blocks, or a redirect loop, rejects with fetch's TypeError at once", async () => {
    // undici refuses both the same way every time (its `cause`: "bad port", "redirect count
    // exceeded"); they were retried as network errors.
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => res.writeHead(302, { location: req.url }).end());
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    try {
      const loop = `http://127.0.0.1:${server.address().port}/v1/messages`;
      for (const url of ["http://127.0.0.1:6000/v1/messages", loop]) {
        const events = [];
        const pacer = new Pacer({ onEvent: (e) => events.push(`${e.type}:${e.reason}`) });
        const error = await pacer.fetch(url, { method: "POST", body: "{}" }).then(
          () => assert.fail("resolved"),
          (e) => e,
        );
        assert.ok(error instanceof TypeError, String(error));
        assert.equal(pacer.stats().attempts, 1, url);
        assert.deepEqual(events.slice(-1), ["giveup:invalid_request"], url);
        pacer.close();
      }
    } finally {
      server.close();
    }
  });

  test("a fetch option that resolves with no Response (no numeric status) is a network error", async () => {
    // Before, an object went to the caller as if it were a response (`giveup:status_other`).
    for (const value of [{}, { status: "200" }, "ok", null]) {
      const events = [];
      const pacer = new Pacer({
        retry: { maxRetries: 0 },
        fetch: async () => value,
        onEvent: (e) => events.push(`${e.type}:${e.reason}`),
      });
      const r = await outcome(pacer.fetch("https://example.com/v1/messages", { method: "POST", body: "{}" }));
      assert.equal(r.ok, false, JSON.stringify(value));
      assert.ok(r.error instanceof TypeError);
      assert.match(r.error.message, /no Response/);
      assert.equal(pacer.stats().networkErrors, 1);
      await drained(pacer);
    }
    // A response of another realm (or a polyfill) has one: it is a response.
    const foreign = { status: 200, statusText: "OK", headers: new Headers(), body: null, ok: true, type: "default" };
    const pacer = new Pacer({ fetch: async () => foreign });
    assert.equal(await pacer.fetch("https://example.com/"), foreign);
  });

  test("a custom fetch that throws synchronously is a network error too", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const boom = new TypeError("boom");
    let n = 0;
    const pacer = new Pacer({
      clock: env.clock,
      retry: { maxRetries: 1, jitter: "none", initialDelayMs: 5 },
      fetch: () => {
        n++;
        throw boom;
      },
    });
    await assert.rejects(pacer.fetch(env.url, anthropicInit()), (e) => e === boom);
    assert.equal(n, 2);
  });
});

describe("server-imposed pauses", () => {
  // A 503's or 529's stated wait too: RFC 9110 reads a 503's Retry-After as how long the
  // service is expected to be unavailable, not one request's wait.
  for (const status of [429, 503, 529]) {
    test(`a ${status} with a hint pauses the calls behind it; they go after the hint`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status, retryAfter: 5 }]);
      const pacer = env.make({ concurrency: 1, seed: 3 });
      const a = pacer.fetch(env.url, anthropicInit());
      const b = pacer.fetch(env.url, anthropicInit());
      assert.deepEqual(
        (await Promise.all([a, b])).map((r) => r.status),
        [200, 200],
      );
      assert.equal(env.mock.log.length, 3);
      for (const e of env.mock.log.slice(1))
        assert.ok(e.at - env.mock.log[0].at >= 5000, "nothing sent during the pause");
    });
  }

  // The pause belongs to the server, not to the call that got the 429: it holds the queue
  // whatever happens to that call (Engine::retry_delay pauses before deciding the retry).
  const streamBody = () => {
    const json = JSON.stringify({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    return new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(json));
        c.close();
      },
    });
  };
  // (Both calls draw on one limit key, which the pause holds: a stream body names no model,
  // so the second call is a stream too.)
  for (const [name, options, init] of [
    ["out of retries (maxRetries: 0)", { retry: { maxRetries: 0 } }, () => anthropicInit()],
    [
      "whose body cannot be sent again (a stream)",
      {},
      () => ({ ...anthropicInit(), body: streamBody(), duplex: "half" }),
    ],
  ]) {
    test(`a 429 with a hint that ends its own call, ${name}, still pauses the calls behind it`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, retryAfter: 5 }]);
      const pacer = env.make({ concurrency: 1, seed: 3, ...options });
      const a = pacer.fetch(env.url, init());
      const b = pacer.fetch(env.url, init());
      const [ra, rb] = await Promise.all([a, b]);
      assert.deepEqual([ra.status, rb.status], [429, 200], "the 429 goes to its caller; the next call succeeds");
      assert.equal(env.mock.log.length, 2);
      assert.ok(
        gap(env.mock, 0) >= 5000,
        `the next call went ${gap(env.mock, 0)} ms after the 429, inside its 5 s pause`,
      );
      await drained(pacer);
    });
  }

  // After close() nothing more is sent, so the pause it keeps is not observable from here;
  // tests/engine.rs `a_429_after_close_still_pauses_the_limiter` reads it in the engine.

  test("a queued call behind a pause longer than maxRetryAfterMs rejects with RETRY_AFTER_TOO_LONG", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    env.mock.script([{ status: 429, retryAfter: 60 }]);
    const pacer = env.make({ concurrency: 1, retry: { maxRetryAfterMs: 10_000 } });
    const a = pacer.fetch(env.url, anthropicInit());
    const b = outcome(pacer.fetch(env.url, anthropicInit()));
    const ra = await a;
    assert.equal(ra.status, 429, "the call that got the 429 gets it");
    const rb = await b;
    assert.equal(rb.ok, false);
    assert.ok(rb.error instanceof RetryAfterTooLongError);
    assert.ok(rb.error instanceof PacerError);
    assert.equal(rb.error.code, "RETRY_AFTER_TOO_LONG");
    assert.equal(rb.error.hintMs, 60_000);
    assert.match(rb.error.message, /60000 ms/);
    assert.equal(env.mock.log.length, 1, "the queued call was never sent");
    assert.equal(env.clock.elapsed, 0);

    // During the pause: still too long at +30 s; fine at +55 s (5 s left), sent at +60 s.
    await env.clock.advance(30_000);
    await assert.rejects(
      pacer.fetch(env.url, anthropicInit()),
      (e) => e.code === "RETRY_AFTER_TOO_LONG" && e.hintMs === 30_000,
    );
    await env.clock.advance(25_000);
    const c = await pacer.fetch(env.url, anthropicInit());
    assert.equal(c.status, 200);
    assert.equal(env.mock.log.length, 2);
    assert.equal(env.mock.log[1].at - env.mock.log[0].at, 60_000);
    await drained(pacer);
  });
});

describe("waits a learned limit states", () => {
  /**
   * A pacer on `clock` whose every answer is a 200 with `headers(now)` and a usage of 10 input
   * tokens, after `latencyMs`.
   */
  const answering = (clock, headers, latencyMs, options = {}) =>
    new Pacer({
      clock,
      seed: 1,
      ...options,
      fetch: async () => {
        if (latencyMs) await clock.sleep(latencyMs);
        return new Response('{"usage":{"input_tokens":10,"output_tokens":5}}', {
          status: 200,
          headers: { "content-type": "application/json", ...headers(clock.now()) },
        });
      },
    });
  /** A Messages request whose one message is `content`. */
  const post = (content) => anthropicInit({ body: { max_tokens: 5, messages: [{ role: "user", content }] } });

  test("a spent daily window beyond maxRetryAfterMs rejects the next call at once, with the wait to its reset", async () => {
    // IETF `q=1000;w=86400`, none left, the window's end 10 h ahead: one request's refill at a
    // day's rate is 86.4 s, but nothing comes back before the reset. Held 10 h in silence
    // before session 18.
    const clock = new VirtualClock();
    const resetS = 36_000;
    const pacer = answering(clock, (now) => ({
      "ratelimit-policy": '"daily";q=1000;w=86400',
      ratelimit: `"daily";r=0;t=${resetS - Math.round((now - T0) / 1000)}`,
    }));
    const url = "https://gateway.example/v1/messages";
    assert.equal((await pacer.fetch(url, post("hi"))).status, 200);
    await assert.rejects(pacer.fetch(url, post("hi")), (e) => {
      assert.equal(e.code, "RETRY_AFTER_TOO_LONG");
      assert.ok(e.hintMs >= resetS * 1000 && e.hintMs <= (resetS + 2) * 1000, `${e.hintMs}`);
      return true;
    });
    assert.equal(clock.elapsed, 0);
    await drained(pacer);
  });

  test("a 429 that reports a spent limit with its reset and no limit waits for that reset, not the backoff", async () => {
    // `RateLimit-Remaining: 0`, `RateLimit-Reset: 30`, no `RateLimit-Limit` and no
    // `retry-after`: retried after the backoff's second before session 23, a 429 a retry.
    const clock = new VirtualClock();
    const sent = [];
    const pacer = new Pacer({
      clock,
      seed: 1,
      fetch: async () => {
        sent.push(clock.now() - T0);
        const headers = sent.length === 1 ? { "ratelimit-remaining": "0", "ratelimit-reset": "30" } : {};
        return new Response("{}", { status: sent.length === 1 ? 429 : 200, headers });
      },
    });
    const res = await pacer.fetch("https://gateway.example/v1/messages", post("hi"));
    assert.equal(res.status, 200);
    assert.equal(sent.length, 2);
    assert.ok(sent[1] >= 30_000 && sent[1] <= 31_000, `sent again after ${sent[1]} ms`);
    await drained(pacer);
  });

  test("a limit whose window is not a minute says so: limits() and a request too large for it", async () => {
    // Together's limits are per second (`x-tokenlimit-*`: tokens; Groq's requests are per
    // day): shown as 1,000 "per minute" before session 22.
    const clock = new VirtualClock();
    // The caller counts its input (`estimate`): 5,000 tokens for the long prompt.
    const estimate = ({ body }) => ({ input: JSON.stringify(body ?? "").includes("long") ? 5000 : 10, output: 0 });
    const pacer = answering(
      clock,
      () => ({
        "x-tokenlimit-limit": "1000",
        "x-tokenlimit-remaining": "900",
      }),
      0,
      { estimate },
    );
    const url = "https://gateway.example/v1/messages";
    assert.equal((await pacer.fetch(url, post("hi"))).status, 200);
    const [limits] = pacer.limits();
    assert.deepEqual([limits.tokens.limit, limits.tokens.windowMs], [1000, 1000]);
    const big = post("long");
    await assert.rejects(pacer.fetch(url, big), (e) => {
      assert.equal(e.code, "REQUEST_TOO_LARGE");
      assert.equal(e.windowMs, 1000);
      assert.match(e.message, /the limit is 1000 per second/);
      return true;
    });
    await drained(pacer);
  });

  test("the pacer's own estimates never reject a call: reservations in flight and an unvouched input", async () => {
    // Learned ITPM 30,000 with 29,990 left on every answer; two prompts the built-in estimate
    // puts near 20,000 tokens each. By the pacer's copy the second waits 20 s for refill,
    // beyond maxRetryAfterMs 15 s; but the first may settle lower (it does: 10 tokens), and so
    // may the second. It waits for the first's answer, and goes. Rejected at once before
    // session 18.
    const clock = new VirtualClock();
    const pacer = answering(
      clock,
      (now) => ({
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": "29990",
        "anthropic-ratelimit-input-tokens-reset": new Date(now + 100).toISOString(),
      }),
      2_000,
      { retry: { maxRetryAfterMs: 15_000 } },
    );
    const url = "https://api.anthropic.com/v1/messages";
    const big = "x".repeat(60_000);
    const results = await Promise.all(
      ["hi", big, big].map((c) =>
        pacer.fetch(url, post(c)).then(
          async (r) => (await r.text(), `${r.status} at ${clock.elapsed}`),
          (e) => e.code,
        ),
      ),
    );
    assert.deepEqual(results, ["200 at 2000", "200 at 4000", "200 at 6000"]);
    await drained(pacer);
  });
});
