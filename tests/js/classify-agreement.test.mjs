// The pacer and the exported `classify()` decide alike: for each error response, whether the
// pacer retries it or delivers it, why (the event's reason) and, where the server states a
// wait (a header or the body), how long it waits, are what `classify(status, headers, body)`
// says. One rule in the core decides which bodies the pacer reads (`needs_error_body`):
// tests/classify.rs holds that an unread body never changes the decision.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Pacer, classify } from "llm-pacer";

const gemini = (delay) => ({
  error: {
    code: 429,
    status: "RESOURCE_EXHAUSTED",
    message: "Resource has been exhausted",
    details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: delay }],
  },
});

/** [status, headers, body]: each a case where a rule could have been copied wrong. */
const CASES = [
  [429, { "retry-after": "2" }, { type: "error", error: { type: "rate_limit_error", message: "slow down" } }],
  [
    429,
    {},
    { error: { type: "insufficient_quota", code: "insufficient_quota", message: "You exceeded your current quota" } },
  ],
  [
    429,
    {},
    { type: "error", error: { type: "rate_limit_error", details: { error_code: "enforced_spend_limit_reached" } } },
  ],
  [429, {}, gemini("7s")],
  [
    429,
    { "retry-after": "3" },
    {
      error: {
        message:
          "Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 36278. The input or output tokens must be reduced in order to run successfully.",
        type: "tokens",
        code: "rate_limit_exceeded",
      },
    },
  ],
  [
    429,
    {},
    {
      error: {
        message:
          "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.",
        type: "tokens",
        code: "rate_limit_exceeded",
      },
    },
  ],
  [529, {}, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }],
  [500, {}, { type: "error", error: { type: "api_error", message: "Internal server error" } }],
  [503, {}, { error: { message: "Please try again in 1.5s", type: "server_error" } }],
  [503, { "x-should-retry": "false" }, { error: { type: "server_error" } }],
  [400, { "x-should-retry": "true" }, { error: { type: "invalid_request_error", message: "try again" } }],
  [400, { "x-should-retry": "true" }, gemini("3s")],
  [409, { "x-should-retry": "true", "retry-after": "4" }, {}],
  [400, {}, { type: "error", error: { type: "invalid_request_error", message: "bad" } }],
  [402, {}, { error: { code: "insufficient_quota" } }],
  [404, {}, { type: "error", error: { type: "not_found_error" } }],
  [408, {}, {}],
  // Other providers' shapes (the error at the top level, or a string).
  [429, {}, { error: { message: "Credit limit exceeded.", type: "credit_limit", code: "credit_limit" } }],
  [
    429,
    {},
    {
      message: "Tokens per day limit exceeded - too many tokens processed.",
      type: "too_many_tokens_error",
      param: "quota",
      code: "token_quota_exceeded",
    },
  ],
  [
    429,
    { "retry-after": "2" },
    {
      message: "Tokens per minute limit exceeded - too many tokens processed.",
      type: "too_many_tokens_error",
      param: "quota",
      code: "token_quota_exceeded",
    },
  ],
  [
    429,
    {},
    {
      code: "Some resource has been exhausted",
      error: "Your team has either used all available credits or reached its monthly spending limit.",
    },
  ],
  [429, {}, { code: "Some resource has been exhausted", error: "The service is temporarily at capacity." }],
  [429, {}, { error: "Model is overloaded. Please try again in 1.5s.", error_type: "overloaded" }],
  // Mistral once its month's tokens are spent: the headers say it, the body only "rate limited".
  [
    429,
    {
      "x-ratelimit-limit-tokens-month": "1000000000",
      "x-ratelimit-remaining-tokens-month": "0",
      "x-ratelimit-limit-tokens-minute": "500000",
      "x-ratelimit-remaining-tokens-minute": "500000",
    },
    { object: "error", message: "Requests rate limit exceeded", type: "rate_limited", code: "1300" },
  ],
  // A hint of a fraction of a second to the millisecond.
  [429, { "retry-after": "2.007" }, {}],
];

/** Runs one call whose first answer is the case and any later one a 200, in virtual time. */
async function through(status, headers, body) {
  let now = Date.UTC(2026, 0, 1);
  // Virtual time that moves only after the program had a moment (a body read from a clone is
  // bounded by a wait through this clock: one that jumped at once would end it unread).
  const clock = {
    now: () => now,
    sleep: (ms) => new Promise((resolve) => setTimeout(() => resolve(void (now += ms)), 5)),
  };
  const events = [];
  let sent = 0;
  const pacer = new Pacer({
    clock,
    onEvent: (e) => events.push(e),
    fetch: async () =>
      ++sent === 1
        ? new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })
        : new Response("{}", { status: 200, headers: { "content-type": "application/json" } }),
  });
  const res = await pacer.fetch("https://api.example.test/v1/messages", { method: "POST", body: "{}" });
  await res.arrayBuffer();
  const ended = events.find((e) => e.type === "retry" || e.type === "giveup");
  return { sent, status: res.status, ended };
}

for (const [status, headers, body] of CASES) {
  test(`${status} ${JSON.stringify(headers)} ${JSON.stringify(body).slice(0, 60)}: the pacer does what classify() says`, async () => {
    const said = classify(status, headers, body);
    const did = await through(status, headers, body);
    assert.ok(did.ended, "a retry or give-up event");
    if (said.action === "retry") {
      assert.equal(did.sent, 2, "retried once, then the 200");
      assert.equal(did.status, 200);
      assert.equal(did.ended.type, "retry");
    } else {
      assert.equal(did.sent, 1, "not retried");
      assert.equal(did.status, status, "the response itself is delivered");
      assert.equal(did.ended.type, "giveup");
    }
    // The reason too, where the pacer read the body (a retry candidate); a delivered
    // response's body is not read, and could only have named another reason.
    if (said.action === "retry") assert.equal(did.ended.reason, said.reason);
    if (said.retryAfterMs !== undefined) {
      // The wait the server states, plus at most a tenth of it (at most 1 s) of jitter.
      const d = did.ended.delayMs;
      assert.ok(
        d >= said.retryAfterMs && d <= said.retryAfterMs + Math.min(said.retryAfterMs / 10, 1000) + 1,
        `waited ${d} ms, classify() says ${said.retryAfterMs}`,
      );
    }
  });
}

test("the cases cover retries with a stated wait, retries without one, and deliveries", () => {
  const said = CASES.map(([s, h, b]) => classify(s, h, b));
  assert.ok(said.filter((r) => r.action === "retry" && r.retryAfterMs !== undefined).length >= 4);
  assert.ok(said.filter((r) => r.action === "retry" && r.retryAfterMs === undefined).length >= 2);
  assert.ok(said.filter((r) => r.action === "fail").length >= 5);
});
