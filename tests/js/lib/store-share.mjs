// Two pacers sharing one limit key through a store, against the loopback Anthropic mock (which
// records over-limit admissions instead of refusing them): the check every store client's
// test makes (store-pacer.test.mjs, store-clients.test.mjs).
import assert from "node:assert/strict";
import { Pacer } from "llm-pacer";
import { startAnthropicMock } from "../mock/index.mjs";
import { anthropicInit } from "./harness.mjs";

/**
 * `perPacer` calls from each of two pacers (one per store in `stores`) at once, with `rpm`
 * configured and metered; more than the bucket holds, so the store must make calls wait. The
 * two together stay within the server's rpm, every call is a 200, the store always answered.
 * @param {[import("llm-pacer").PacerStore, import("llm-pacer").PacerStore]} stores
 * @param {{ rpm: number, perPacer: number }} run
 */
export async function shareOneKey(stores, { rpm, perPacer }) {
  const mock = await startAnthropicMock({ limits: { rpm, itpm: null, otpm: null }, enforce: false });
  try {
    /** @type {import("llm-pacer").PacerEvent[]} */
    const events = [];
    const [a, b] = stores.map((store) => new Pacer({ limits: { rpm }, store, onEvent: (e) => events.push(e) }));
    const calls = [];
    for (let i = 0; i < perPacer; i++) {
      calls.push(a.fetch(`${mock.url}/v1/messages`, anthropicInit()));
      calls.push(b.fetch(`${mock.url}/v1/messages`, anthropicInit()));
    }
    const res = await Promise.all(calls);
    assert.deepEqual([...new Set(res.map((r) => r.status))], [200]);
    await Promise.all(res.map((r) => r.text()));
    assert.deepEqual(mock.violations(), [], "the two pacers together stayed within rpm");
    assert.equal(mock.stats.limited, 0);
    assert.equal(mock.stats.admitted, 2 * perPacer);
    assert.ok(
      events.some((e) => e.type === "wait" && e.reason === "store"),
      "the store made calls wait",
    );
    assert.ok(!events.some((e) => e.type === "warning"), "the store always answered");
  } finally {
    await mock.close();
  }
}
