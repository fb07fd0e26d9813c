// A trap in the Wasm module (a panic: a bug) never leaves a call hanging: the pending call and
// every later use reject or throw `INTERNAL`. Its own file, so its own process: the trap
// leaves this instance of the module unusable.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, Pacer, PacerError, classify, parseRateLimitHeaders } from "llm-pacer";

test("a trap rejects the pending call and every later use with INTERNAL", async () => {
  /** @type {(r: Response) => void} */
  let answer = () => {};
  let sent = 0;
  const pacer = new Pacer({
    fetch: () => {
      sent++;
      return new Promise((resolve) => (answer = resolve));
    },
  });
  const other = new Pacer({ fetch: async () => new Response("{}") });
  // One call in flight (its fetch never answers by itself), another pacer idle.
  const inFlight = pacer.fetch("https://api.example.test/v1/messages", { method: "POST", body: "{}" });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(sent, 1);

  const trap = Pacer[Symbol.for("llm-pacer.panicForTests")];
  assert.equal(typeof trap, "function");
  assert.throws(() => trap(), WebAssembly.RuntimeError);

  const internal = (/** @type {any} */ e) =>
    e instanceof PacerError && e.code === "INTERNAL" && /internal error/.test(e.message);
  await assert.rejects(inFlight, internal);
  answer(new Response("{}")); // too late: the call has settled once, with the error
  await assert.rejects(pacer.fetch("https://api.example.test/v1/messages"), internal);
  await assert.rejects(other.fetch("https://api.example.test/v1/messages"), internal);
  assert.throws(() => pacer.stats(), internal);
  assert.throws(() => pacer.limits(), internal);
  assert.throws(() => new Pacer(), internal);
  assert.throws(() => new Backoff(), internal);
  assert.throws(() => parseRateLimitHeaders({ "retry-after": "1" }), internal);
  assert.throws(() => classify(429, {}), internal);
});
