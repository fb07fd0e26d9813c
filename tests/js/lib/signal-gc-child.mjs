// Child of contract-lifecycle.test.mjs (run with --expose-gc): the responses of calls whose
// `fetch` option keeps its own abort listener on the signal it is given (as hand-written
// wrappers do) are collected once the caller drops them, a body with no usage in it (text)
// included, which follows the caller's signal after delivery (follow.js). Prints
// `{ responses, collected }`.
import { Pacer } from "llm-pacer";

const listening = (_input, init) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(new Response("plain text")), 1);
    init?.signal?.addEventListener("abort", () => (clearTimeout(t), reject(init.signal.reason)), { once: true });
  });
let collected = 0;
const watch = new FinalizationRegistry(() => collected++);
const pacer = new Pacer({ fetch: listening });
const responses = 400;
for (let b = 0; b < responses / 100; b++)
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      const signal = new AbortController().signal;
      const res = await pacer.fetch("http://localhost/v1/messages", { method: "POST", body: "{}", signal });
      await res.text();
      watch.register(res, 0);
    }),
  );
for (let i = 0; i < 10 && collected < responses; i++) {
  await new Promise((r) => setTimeout(r, 20));
  globalThis.gc();
}
process.stdout.write(JSON.stringify({ responses, collected }));
