// Strict options (issue 14, point 1): an unknown key at any level of any options object is a
// TypeError naming it and the closest known key; `retry.retryOn` takes only error statuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pacer, Backoff, Limiter } from "llm-pacer";
import { simulate } from "llm-pacer/simulate";

/** Asserts `f` throws a TypeError whose message is exactly `message`. */
function throwsExactly(f, message) {
  assert.throws(f, (e) => {
    assert.ok(e instanceof TypeError, `${e}`);
    assert.equal(e.message, message);
    return true;
  });
}

test("a typo at the top level names the key and the closest option", () => {
  throwsExactly(
    () => new Pacer({ concurency: 5 }),
    'llm-pacer: unknown option "concurency"; did you mean "concurrency"?',
  );
  throwsExactly(() => new Pacer({ timeout: 5 }), 'llm-pacer: unknown option "timeout"; did you mean "timeoutMs"?');
  throwsExactly(() => new Pacer({ Debug: true }), 'llm-pacer: unknown option "Debug"; did you mean "debug"?');
  // Nothing near: the known keys are listed instead.
  assert.throws(
    () => new Pacer({ zzzzzzzzzzzz: 1 }),
    /unknown option "zzzzzzzzzzzz"; the options here are "limits", "preset"/,
  );
});

test("an option of retry, limits or budget given at the top level names where it goes", () => {
  // As the SDKs spell it: `new Anthropic({ maxRetries: 0 })`.
  throwsExactly(
    () => new Pacer({ maxRetries: 3 }),
    'llm-pacer: unknown option "maxRetries"; did you mean "retry.maxRetries"?',
  );
  throwsExactly(() => new Pacer({ rpm: 50 }), 'llm-pacer: unknown option "rpm"; did you mean "limits.rpm"?');
  throwsExactly(() => new Pacer({ ratio: 0.5 }), 'llm-pacer: unknown option "ratio"; did you mean "budget.ratio"?');
  // A typo of a top-level option is still that option's.
  throwsExactly(() => new Pacer({ Retry: {} }), 'llm-pacer: unknown option "Retry"; did you mean "retry"?');
});

test("a typo inside limits, retry, budget and limits.models names its full path", () => {
  throwsExactly(
    () => new Pacer({ limits: { RPM: 50 } }),
    'llm-pacer: unknown option "limits.RPM"; did you mean "limits.rpm"?',
  );
  throwsExactly(
    () => new Pacer({ retry: { maxretries: 0 } }),
    'llm-pacer: unknown option "retry.maxretries"; did you mean "retry.maxRetries"?',
  );
  throwsExactly(
    () => new Pacer({ budget: { ration: 0.2 } }),
    'llm-pacer: unknown option "budget.ration"; did you mean "budget.ratio"?',
  );
  throwsExactly(
    () => new Pacer({ limits: { models: { sonnet: { itpn: 1 } } } }),
    'llm-pacer: unknown option "limits.models.sonnet.itpn"; did you mean "limits.models.sonnet.itpm"?',
  );
  assert.throws(
    () => new Pacer({ limits: { models: 5 } }),
    (e) => e instanceof TypeError && /limits\.models/.test(e.message),
  );
});

test("an array where an object of options belongs names the option", () => {
  for (const [options, path] of [
    [[], "options"],
    [{ limits: [] }, "limits"],
    [{ limits: { models: [] } }, "limits.models"],
    [{ limits: { models: { haiku: [] } } }, "limits.models.haiku"],
    [{ retry: [] }, "retry"],
    [{ budget: [] }, "budget"],
  ])
    assert.throws(
      () => new Pacer(options),
      (e) => e instanceof TypeError && e.message.includes(path === "options" ? "options" : `\`${path}\``),
      JSON.stringify(options),
    );
});

test("the options every layer knows are accepted, including debug, limitKey and limits.models", () => {
  const p = new Pacer({
    limits: { rpm: 50, tpm: 1e5, itpm: 3e4, otpm: 8e3, models: { sonnet: { rpm: 10, itpm: 1, otpm: 1, tpm: 1 } } },
    preset: "anthropic:tier-1:sonnet",
    retry: {
      maxRetries: 1,
      initialDelayMs: 1,
      maxDelayMs: 2,
      multiplier: 2,
      jitter: "none",
      maxRetryAfterMs: 5,
      retryOn: [429],
    },
    budget: { ratio: 0.1, maxTokens: 10 },
    concurrency: 2,
    timeoutMs: 1000,
    outputReservation: "none",
    estimate: () => ({ input: 1, output: 1 }),
    fetch: globalThis.fetch,
    clock: { now: () => 0, sleep: async () => {}, extra: "a clock may have other members" },
    seed: 1,
    onEvent: () => {},
    debug: false,
    limitKey: () => "k",
  });
  p.close();
  assert.throws(
    () => new Pacer({ debug: "yes" }),
    (e) => e instanceof TypeError && /`debug` must be a boolean/.test(e.message),
  );
});

test("retryOn takes only integer HTTP error statuses (400 to 599)", () => {
  for (const bad of [200, 302, 399, 600, 429.5]) {
    assert.throws(
      () => new Pacer({ retry: { retryOn: [bad] } }),
      (e) => e instanceof RangeError && /retry\.retryOn/.test(e.message),
      `${bad}`,
    );
  }
  new Pacer({ retry: { retryOn: [400, 429, 599] } }).close();
  // The message says which item is wrong, and how.
  assert.throws(
    () => new Pacer({ retry: { retryOn: [429, "503"] } }),
    (e) => e instanceof TypeError && /`retry\.retryOn`.* not a string at \[1\]/.test(e.message),
  );
  assert.throws(
    () => new Pacer({ retry: { retryOn: [429, 200] } }),
    (e) => e instanceof RangeError && /not 200 at \[1\]/.test(e.message),
  );
});

test("the lower-level exports are strict too", () => {
  throwsExactly(() => new Backoff({ maxRetry: 2 }), 'llm-pacer: unknown option "maxRetry"; did you mean "maxRetries"?');
  assert.throws(
    () => new Backoff({ retryOn: [429] }),
    /^TypeError: llm-pacer: unknown option "retryOn"; the options here are "initialDelayMs", .*"seed"$/,
  );
  new Backoff({ seed: 1, maxRetries: 2, jitter: "none" });
  throwsExactly(() => new Limiter({ latency: 0 }), 'llm-pacer: unknown option "latency"; did you mean "latencyMs"?');
  throwsExactly(
    () => new Limiter({ limits: { itmp: 5 } }),
    'llm-pacer: unknown option "limits.itmp"; did you mean "limits.itpm"?',
  );
  new Limiter({ limits: { rpm: 5 }, preset: "anthropic:tier-1:sonnet", outputReservation: 1, latencyMs: 0 });
});

test("simulate() is strict at every level, for an object or its JSON", () => {
  throwsExactly(
    () => simulate({ workload: { request: 200 } }),
    'llm-pacer: unknown option "workload.request"; did you mean "workload.requests"?',
  );
  throwsExactly(
    () => simulate('{"limits":{"rmp":5}}'),
    'llm-pacer: unknown option "limits.rmp"; did you mean "limits.rpm"?',
  );
  throwsExactly(() => simulate({ seeds: 1 }), 'llm-pacer: unknown option "seeds"; did you mean "seed"?');
  // Not an object, nor its JSON: a TypeError saying what the config must be (never the
  // defaults' run).
  for (const config of [[], new Map(), 42, "x", "[1]"])
    assert.throws(
      () => simulate(config),
      (e) => e instanceof TypeError && /simulate\(\)'s config must be an object or its JSON/.test(e.message),
      String(config),
    );
  // A whole tier names several classes; the simulated server meters one.
  assert.throws(
    () => simulate({ preset: "anthropic:tier-1" }),
    (e) => e instanceof RangeError && /one model class's preset/.test(e.message) && /tier-1:sonnet/.test(e.message),
  );
});

test("an unknown preset suggests the closest names", () => {
  const message = (preset) => {
    try {
      new Pacer({ preset });
    } catch (e) {
      assert.ok(e instanceof RangeError);
      return e.message;
    }
    assert.fail(`${preset} was accepted`);
  };
  assert.equal(
    message("antropic:tier-1:sonet"),
    'llm-pacer: option `preset` must be a known preset name (the README lists them); did you mean "anthropic:tier-1:sonnet", "anthropic:tier-2:sonnet", "anthropic:tier-3:sonnet"?',
  );
  assert.match(message("openai:tier1:gpt-4o-mini"), /did you mean "openai:tier-1:gpt-4o-mini", /);
  assert.match(message("ANTHROPIC:START:HAIKU"), /did you mean "anthropic:start:haiku", /);
  // A whole tier mistyped: that tier.
  for (const typo of ["anthropic:tier1", "Anthropic:Tier-1", "anthropic:teir-1", "anthropic:tier-1 "])
    assert.match(message(typo), /did you mean "anthropic:tier-1", /, typo);
  assert.match(message("openai:tier1"), /did you mean "openai:tier-1", /);
});
