// Time, against the contract (DESIGN.md sections 1 and 3): a server whose `Date` is a day or
// years away from ours, `retry-after` HTTP-dates in the past or far future, reset headers in
// the past, in the year 9999 or garbage, Go durations beyond any sense, and clocks of our own
// that stand still while requests flow or step back. Whatever the headers say: every call
// settles, attempts stay within maxRetries, no sleep is negative or longer than
// maxRetryAfterMs (plus a hint's spread), and nothing spins.
//
// Virtual time (the pacer's `clock` and the mocks' `now` share a VirtualClock); every test is
// also bounded in real time, so a pacer that stalls fails instead of hanging the suite.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startAnthropicMock, startOpenAIMock } from "./mock/index.mjs";
import { anthropicInit, openaiInit, mockEnv, drained, gap, outcome, until, T0, bounded } from "./lib/harness.mjs";

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
/** Server clock offsets from ours. */
const SKEWS = [-10 * YEAR, -DAY, -3 * HOUR, 0, 3 * HOUR, DAY, 10 * YEAR];

const httpDate = (ms) => new Date(ms).toUTCString();
const rfc3339 = (ms) => new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
const label = (skew) =>
  skew === 0
    ? "on time"
    : `${skew > 0 ? "+" : "-"}${Math.abs(skew) >= YEAR ? `${Math.abs(skew) / YEAR} y` : Math.abs(skew) >= DAY ? `${Math.abs(skew) / DAY} d` : `${Math.abs(skew) / HOUR} h`}`;

/** Every sleep the pacer asked of the clock: finite, non-negative, at most `max`. */
function assertSleeps(clock, max, what) {
  for (const s of clock.sleeps) {
    assert.ok(Number.isFinite(s.ms) && s.ms >= 0, `${what}: a sleep of ${s.ms} ms`);
    assert.ok(s.ms <= max, `${what}: a sleep of ${s.ms} ms (bound ${max})`);
  }
}

/** The most any one sleep may last with the default options: maxRetryAfterMs and a hint's spread. */
const MAX_SLEEP = 300_000 + 1_000;
/** How long the pacer waits for an error body before it decides without it (a sleep of its
 * own, cancelled as soon as the body is in). */
const ERROR_BODY_MS = 5_000;

/** The waits the pacer announced (retry events), ms. */
const retryDelays = (events) => events.filter((e) => e.type === "retry").map((e) => e.delayMs);

describe("a server clock far from ours", () => {
  for (const skew of SKEWS) {
    test(`retry-after as an HTTP-date 5 s after the server's Date (server ${label(skew)}) waits 5 s`, async (t) => {
      const env = await mockEnv(t, startAnthropicMock);
      const server = env.clock.t + skew;
      env.mock.script([
        { status: 429, headers: { date: httpDate(server), "retry-after": httpDate(server + 5 * SECOND) } },
        "ok",
      ]);
      const pacer = env.make({ seed: 4 });
      const res = await bounded(pacer.fetch(env.url, anthropicInit()), label(skew));
      assert.equal(res.status, 200);
      await res.text();
      assert.equal(env.mock.log.length, 2);
      const waited = gap(env.mock, 0);
      assert.ok(waited >= 5 * SECOND && waited <= 5.5 * SECOND, `waited ${waited}`);
      assertSleeps(env.clock, 5.5 * SECOND + 1, label(skew));
      await drained(pacer);
    });
  }

  test("retry-after as an HTTP-date not after the server's Date is no hint (never back-to-back retries): the backoff applies, at most maxRetries times", async (t) => {
    for (const skew of [-DAY, 0, DAY]) {
      for (const past of [0, SECOND, HOUR, 40 * YEAR]) {
        const env = await mockEnv(t, startAnthropicMock);
        const server = env.clock.t + skew;
        const item = { status: 429, headers: { date: httpDate(server), "retry-after": httpDate(server - past) } };
        env.mock.script(Array(10).fill(item));
        const pacer = env.make({ seed: 1, retry: { maxRetries: 3, jitter: "none" } });
        const res = await bounded(pacer.fetch(env.url, anthropicInit()), `${label(skew)}, ${past} ms ago`);
        assert.equal(res.status, 429, "the last 429 is returned");
        await res.text();
        assert.equal(env.mock.log.length, 4, "maxRetries 3: four attempts in all");
        assert.deepEqual(retryDelays(env.events), [1000, 2000, 4000], "the plain backoff");
        assert.deepEqual([gap(env.mock, 0), gap(env.mock, 1), gap(env.mock, 2)], [1000, 2000, 4000]);
      }
    }
  });

  test("retry-after: 0 (or retry-after-ms: 0) is no hint: the backoff applies, and a retry-after beside a zero retry-after-ms counts", async (t) => {
    for (const [headers, want] of [
      [{ "retry-after": "0" }, 1000],
      [{ "retry-after-ms": "0" }, 1000],
      [{ "retry-after-ms": "0", "retry-after": "3" }, 3000],
    ]) {
      const env = await mockEnv(t, startAnthropicMock);
      env.mock.script([{ status: 429, headers }, "ok"]);
      const pacer = env.make({ seed: 1, retry: { jitter: "none" } });
      const res = await bounded(pacer.fetch(env.url, anthropicInit()), JSON.stringify(headers));
      assert.equal(res.status, 200);
      await res.text();
      const waited = gap(env.mock, 0);
      assert.ok(waited >= want && waited <= want * 1.1, `${JSON.stringify(headers)}: waited ${waited}`);
    }
  });

  test("retry-after in the year 9999 is no hint at all: the backoff applies", async (t) => {
    for (const skew of [-DAY, 0, 10 * YEAR]) {
      const env = await mockEnv(t, startAnthropicMock);
      const item = {
        status: 429,
        headers: { date: httpDate(env.clock.t + skew), "retry-after": "Fri, 31 Dec 9999 23:59:59 GMT" },
      };
      env.mock.script([item, item, "ok"]);
      const pacer = env.make({ seed: 2, retry: { jitter: "none" } });
      const res = await bounded(pacer.fetch(env.url, anthropicInit()), label(skew));
      assert.equal(res.status, 200);
      await res.text();
      assert.deepEqual([gap(env.mock, 0), gap(env.mock, 1)], [1000, 2000], "the plain backoff, 1 s then 2 s");
      assert.deepEqual(retryDelays(env.events), [1000, 2000]);
      assertSleeps(env.clock, ERROR_BODY_MS, label(skew));
    }
  });

  test("retry-after two days ahead of the server's Date: the 429 at once, the queue rejected, nothing slept", async (t) => {
    for (const skew of [-10 * YEAR, -DAY, 0, DAY, 10 * YEAR]) {
      const env = await mockEnv(t, startAnthropicMock);
      const server = env.clock.t + skew;
      env.mock.script([
        { status: 429, headers: { date: httpDate(server), "retry-after": httpDate(server + 2 * DAY) } },
      ]);
      const pacer = env.make({ concurrency: 1 });
      const [first, second] = await bounded(
        Promise.all([outcome(pacer.fetch(env.url, anthropicInit())), outcome(pacer.fetch(env.url, anthropicInit()))]),
        label(skew),
      );
      assert.equal(first.value?.status, 429, label(skew));
      assert.equal(second.ok, false);
      assert.equal(second.error.code, "RETRY_AFTER_TOO_LONG");
      // The key's pause holds a day at most (the first call is told the whole wait).
      assert.ok(Math.abs(second.error.hintMs - DAY) <= 1000, `hintMs ${second.error.hintMs}`);
      assert.equal(env.mock.log.length, 1);
      assert.equal(env.clock.elapsed, 0);
      assertSleeps(env.clock, MAX_SLEEP, label(skew));
    }
  });
});

describe("reset headers in the past, far future, or garbage", () => {
  const resets = (server) => ({
    "an hour ago": rfc3339(server - HOUR),
    "in 1970": "1970-01-01T00:00:00Z",
    "in 20 days": rfc3339(server + 20 * DAY),
    "in 9999": "9999-12-31T23:59:59Z",
    garbage: "soon",
    "a number": "1767225600",
  });

  for (const name of Object.keys(resets(0))) {
    test(`Anthropic resets ${name}, with the server's Date a day either way: 20 calls settle, paced at most by the limit`, async (t) => {
      for (const skew of [-DAY, 0, DAY]) {
        const env = await mockEnv(t, startAnthropicMock, { limits: { rpm: 50, itpm: 1_000_000, otpm: 1_000_000 } });
        const server = env.clock.t + skew;
        const reset = resets(server)[name];
        const headers = { date: httpDate(server) };
        for (const d of ["requests", "input-tokens", "output-tokens", "tokens"])
          headers[`anthropic-ratelimit-${d}-reset`] = reset;
        env.mock.script(Array(20).fill({ headers }));
        const pacer = env.make({ seed: 3, concurrency: 4 });
        const statuses = await bounded(
          Promise.all(
            Array.from({ length: 20 }, async () => {
              const res = await pacer.fetch(env.url, anthropicInit());
              await res.text();
              return res.status;
            }),
          ),
          `${name}, ${label(skew)}`,
        );
        assert.deepEqual(statuses, Array(20).fill(200));
        assert.equal(env.mock.stats.limited, 0, "never over the server's limit");
        // The pacer learns 50 rpm from the headers: at worst it waits for its tokens (1.2 s
        // each), never for a reset it cannot believe.
        assert.ok(env.clock.elapsed <= 20 * 1_201, `${name}, ${label(skew)}: ${env.clock.elapsed} ms`);
        assertSleeps(env.clock, 60_001, `${name}, ${label(skew)}`);
        await drained(pacer);
      }
    });
  }

  test("OpenAI Go-duration resets: huge, negative, overflowing or garbage are ignored", async (t) => {
    for (const reset of [
      "1000000h",
      "2562047h47m16.854775807s",
      "9999999999999999999h",
      "-5s",
      "1e9s",
      "NaN",
      "",
      "6m0s",
    ]) {
      const env = await mockEnv(t, startOpenAIMock, { limits: { rpm: 600, tpm: 1_000_000 } });
      const headers = {
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-reset-tokens": reset,
        "x-ratelimit-remaining-requests": "0",
      };
      env.mock.script(Array(10).fill({ headers }));
      const pacer = env.make({ seed: 5 });
      const statuses = await bounded(
        Promise.all(Array.from({ length: 10 }, async () => (await pacer.fetch(env.url, openaiInit())).status)),
        reset,
      );
      assert.deepEqual(statuses, Array(10).fill(200), reset);
      assertSleeps(env.clock, 60_001, reset);
      assert.ok(env.clock.elapsed <= 10 * 60_001, `${reset}: ${env.clock.elapsed} ms`);
      await drained(pacer);
    }
  });
});

describe("our own clock", () => {
  test("a clock that stands still while requests flow: every call settles, no busy loop", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    // now() never moves (the Workers clock between I/O); a sleep is I/O: time moves by it.
    let t0 = T0;
    let nows = 0;
    let sleeps = 0;
    const clock = {
      now: () => (nows++, t0),
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          sleeps++;
          const timer = setImmediate(() => ((t0 += ms), resolve()));
          signal?.addEventListener("abort", () => (clearImmediate(timer), reject(signal.reason)), { once: true });
        }),
    };
    env.mock.script([{ status: 429, retryAfter: 2 }, 529]);
    const pacer = env.make({ clock, seed: 6, concurrency: 8 });
    const calls = 40;
    const statuses = await bounded(
      Promise.all(
        Array.from({ length: calls }, async () => {
          const res = await pacer.fetch(env.url, anthropicInit());
          await res.text();
          return res.status;
        }),
      ),
      "a frozen clock",
    );
    assert.deepEqual(statuses, Array(calls).fill(200));
    await drained(pacer);
    assert.equal(pacer.stats().retries, 2);
    // A few readings per interaction, a sleep per wait: nothing proportional to real time.
    // (Each sleep moves this clock at once, so the opening probe's answer, real I/O, may come
    // after its key has let 1, 2, 4 and 8 requests out, a few seconds apart: up to 4 sleeps
    // more.)
    assert.ok(nows <= 12 * calls, `${nows} readings of now() for ${calls} calls`);
    assert.ok(sleeps <= 6 + 4, `${sleeps} sleeps`);
  });

  test("a clock that steps back an hour does not turn a 1 s wait into an hour's sleep", async (t) => {
    const env = await mockEnv(t, startAnthropicMock);
    const back = { now: () => env.clock.now() - shift, sleep: env.clock.sleep };
    let shift = 0;
    env.mock.script([{ status: 429, retryAfter: 1 }, { status: 429, retryAfter: 1 }, "ok"]);
    const pacer = env.make({ clock: back, seed: 8 });
    env.clock.hold = true;
    const p = pacer.fetch(env.url, anthropicInit());
    // While the pacer waits out the first 429, our clock steps back an hour (an NTP
    // correction); then time goes on.
    await bounded(
      until(() => env.mock.log.length === 1 && env.clock.pending.size > 0, "the backoff"),
      "the first 429",
    );
    shift = HOUR;
    env.clock.hold = false;
    const [pending] = env.clock.pending;
    await env.clock.advance(pending.until - env.clock.t);
    const res = await bounded(p, "a clock stepping back");
    assert.equal(res.status, 200);
    await res.text();
    assert.ok(
      retryDelays(env.events).every((d) => d <= 1_100),
      `${retryDelays(env.events)}`,
    );
    assertSleeps(env.clock, ERROR_BODY_MS, "after the step back");
    // Two 1 s hints, and at most one more second if the step came during a sleep (time that
    // passed while the clock stepped back is taken as not passed).
    assert.ok(env.clock.elapsed <= 3 * 1_101, `${env.clock.elapsed} ms in all`);
  });
});

describe("a clock whose sleep or now fails", () => {
  // The pacer waits only through the caller's clock: when its `sleep` throws or rejects, no
  // wait would ever end. The calls that need one reject with the clock's error, at once,
  // rather than hang (timeoutMs included: its deadline is a wait too).
  const failing = [
    [
      "throws",
      (e) => () => {
        throw e;
      },
    ],
    ["rejects", (e) => () => Promise.reject(e)],
  ];
  for (const [how, sleepOf] of failing) {
    test(`sleep ${how}: the waiting call rejects with its error`, async () => {
      const { Pacer } = await import("llm-pacer");
      const broken = new Error("the clock is broken");
      let sent = 0;
      const pacer = new Pacer({
        timeoutMs: 10_000,
        clock: { now: () => T0, sleep: sleepOf(broken) },
        fetch: async () => {
          sent++;
          return new Response("{}", { status: 429, headers: { "retry-after": "1" } });
        },
      });
      const r = await bounded(outcome(pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit())), how);
      assert.equal(r.ok, false);
      assert.equal(r.error, broken, "the clock's own error");
      assert.equal(sent, 1, "no retry without a wait");
      assert.equal(pacer.stats().queued + pacer.stats().inFlight, 0);
      // A call that needs no wait goes through all the same.
      const ok = new Pacer({
        clock: { now: () => T0, sleep: sleepOf(broken) },
        fetch: async () => new Response("{}", { status: 200 }),
      });
      assert.equal((await bounded(ok.fetch("https://example.com/"), "no wait")).status, 200);
    });

    test(`sleep ${how}: a call on the wire is not the waiting one; its answer is delivered`, async () => {
      const { Pacer } = await import("llm-pacer");
      const broken = new Error("the clock is broken");
      let sent = 0;
      const pacer = new Pacer({
        limits: { rpm: 1 },
        clock: { now: () => T0, sleep: sleepOf(broken) },
        fetch: async () => {
          sent++;
          await new Promise((r) => setTimeout(r, 5));
          return Response.json({ usage: { input_tokens: 1, output_tokens: 1 } });
        },
      });
      const url = "https://api.anthropic.com/v1/messages";
      // The first goes at once; the second waits for the minute's request.
      const [first, second] = await bounded(
        Promise.all([outcome(pacer.fetch(url, anthropicInit())), outcome(pacer.fetch(url, anthropicInit()))]),
        how,
      );
      assert.equal(second.error, broken, "the waiting call: the clock's own error");
      assert.equal(first.ok, true, String(first.error));
      assert.equal(first.value.status, 200);
      assert.equal(sent, 1);
    });
  }

  for (const [how, now] of [
    ["returns NaN", () => Number.NaN],
    [
      "throws",
      () => {
        throw new Error("no time");
      },
    ],
  ]) {
    test(`now ${how} when a wait ends: the waiting call rejects, rather than being woken every few ms`, async () => {
      const { Pacer } = await import("llm-pacer");
      let broken = false;
      let sleeps = 0;
      const clock = {
        now: () => (broken ? now() : T0),
        sleep: (ms) => {
          sleeps++;
          broken = true; // the clock fails from the first wait on
          return new Promise((r) => setTimeout(r, Math.min(ms, 5)));
        },
      };
      const pacer = new Pacer({
        clock,
        fetch: async () => new Response("{}", { status: 429, headers: { "retry-after": "1" } }),
      });
      const r = await bounded(outcome(pacer.fetch("https://api.anthropic.com/v1/messages", anthropicInit())), how);
      assert.equal(r.ok, false);
      assert.ok(
        how === "throws" ? /no time/.test(r.error.message) : /clock\.now\(\)/.test(r.error.message),
        String(r.error),
      );
      assert.ok(sleeps <= 2, `${sleeps} sleeps`);
      assert.equal(pacer.stats().queued + pacer.stats().inFlight, 0);
    });
  }
});
